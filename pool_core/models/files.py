"""The virtual FTP tree of each organization, and the state of resumable uploads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import (
    Base,
    JSONType,
    StrEnum,
    UTCDateTime,
    bigintpk,
    enum_column,
    optional_timestamp,
    timestamp,
    timestamp_updated,
    utcnow,
    uuidpk,
)


class FileState(StrEnum):
    """Whether a file entry's bytes are all in object storage yet."""

    UPLOADING = "uploading"
    COMPLETE = "complete"


class FileEntry(Base):
    """A file or folder in an organization's virtual tree.

    Folders are rows too; a child points at its parent, so renaming or moving a non-empty
    folder is a one-row update and listing a folder is one indexed query.
    """

    __tablename__ = "file_entries"
    __table_args__ = (
        Index("uq_file_entries_parent_name", "org_id", "parent_id", "name", unique=True),
    )

    id: Mapped[uuidpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_entries.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    is_dir: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    mtime: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    object_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    md5: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[FileState] = enum_column(FileState, default=FileState.COMPLETE)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class PendingUpload(Base):
    """An interrupted or running upload whose S3 multipart upload is still open.

    Everything needed to continue it lives here and in S3, never in an FTP process, so any
    node can resume it after a disconnect or a crash.
    """

    __tablename__ = "pending_uploads"

    id: Mapped[uuidpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The virtual path the client is writing to, normalised (e.g. "/incoming/ep01.mxf").
    path: Mapped[str] = mapped_column(String(4096))
    object_key: Mapped[str] = mapped_column(String(1024))
    # The asset id reserved for a master (its key is `masters/<org>/<asset-id>/<name>`).
    asset_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    s3_upload_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # [{"number": 1, "etag": "...", "size": 8388608}, ...] in order.
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Bytes safely stored: the sum of the parts plus the staged tail.
    committed_size: Mapped[int] = mapped_column(BigInteger, default=0)
    tail_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    tail_size: Mapped[int] = mapped_column(Integer, default=0)
    # Serialised running-hash state (implementation-defined), so resumes keep checksums exact.
    hash_state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Which FTP session holds it right now, and until when (a crashed node's lease expires).
    holder: Mapped[str | None] = mapped_column(String(255), nullable=True)
    held_until: Mapped[optional_timestamp]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]

    __table_args__ = (Index("uq_pending_uploads_org_path", "org_id", "path", unique=True),)


class ReleasedObject(Base):
    """Bytes a deleted or replaced plain file left in storage, until maintenance deletes them.

    Deleting or overwriting a plain file drops its entry at once, but its object stays until
    the nightly sweep (a reader may still be streaming it). The bytes count against the
    organization's quota until then, or `STOR` + `DELE` of plain files in a loop would grow
    storage without limit between two sweeps.
    """

    __tablename__ = "released_objects"

    id: Mapped[bigintpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    released_at: Mapped[timestamp]
