"""Masters received from broadcasters and the renditions made from them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pool_core.models.base import (
    Base,
    JSONType,
    StrEnum,
    UTCDateTime,
    enum_column,
    intpk,
    optional_timestamp,
    timestamp,
    timestamp_updated,
    uuidpk,
)

if TYPE_CHECKING:
    from pool_core.models.subtitles import SubtitleTrack


class AssetStatus(StrEnum):
    """Where a master is in its life: received → processing → ready | failed."""

    RECEIVED = "received"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class QcVerdict(StrEnum):
    """The technical QC outcome of a master."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Asset(Base):
    """One version of a master file, kept untouched under an immutable object key."""

    __tablename__ = "assets"

    id: Mapped[uuidpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    # The virtual path it arrived at, for people; the object key is what never changes.
    source_path: Mapped[str] = mapped_column(String(4096), default="")
    object_key: Mapped[str] = mapped_column(String(1024), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[AssetStatus] = enum_column(AssetStatus, default=AssetStatus.RECEIVED)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    technical: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    qc: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    qc_verdict: Mapped[QcVerdict | None] = enum_column(QcVerdict, nullable=True)
    # Sidecar delivered with the master (.json/.xml/.csv), parsed by the catalog.
    sidecar_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # Problems found at ingest that do not stop processing (e.g. a .md5 sidecar mismatch).
    ingest_warnings: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # When the last file entry of the master went away (deleted, or replaced by a newer
    # version); its bytes still count against the quota until the nightly job purges them.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    # When its master and renditions were deleted from storage (the row stays as history).
    purged_at: Mapped[optional_timestamp]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="asset", cascade="all, delete-orphan"
    )
    # Read-only here: tracks are written by `pool_core.services.subtitles`.
    subtitle_tracks: Mapped[list[SubtitleTrack]] = relationship(
        order_by="SubtitleTrack.language", viewonly=True
    )


class Rendition(Base):
    """A derived file: proxy, poster, thumbnail, storyboard sprite or its WebVTT index."""

    __tablename__ = "renditions"

    id: Mapped[intpk]
    asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    object_key: Mapped[str] = mapped_column(String(1024), unique=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[timestamp]

    asset: Mapped[Asset] = relationship(back_populates="renditions")
