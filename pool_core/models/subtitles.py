"""Subtitle and caption tracks of a master: the file as delivered and its WebVTT rendition."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    DDL,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import (
    Base,
    JSONType,
    bigintpk,
    bytesize,
    intpk,
    timestamp,
    timestamp_updated,
)


class SubtitleTrack(Base):
    """One language's subtitles of one master; a new file for the language replaces it.

    Both files live under immutable keys named by the original's SHA-256, so a replaced
    track's bytes are released (`ReleasedObject`) rather than overwritten under a reader.
    """

    __tablename__ = "subtitle_tracks"
    __table_args__ = (UniqueConstraint("asset_id", "language"),)

    id: Mapped[intpk]
    asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # BCP 47 in canonical case: `kk-Cyrl`, `tr`, `uz-Latn`.
    language: Mapped[str] = mapped_column(String(35))
    # srt | vtt | ttml | stl | scc: how the original was read.
    format: Mapped[str] = mapped_column(String(8))
    # ftp (a file next to the master) or api (PUT by the owner).
    source: Mapped[str] = mapped_column(String(8))
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    original_name: Mapped[str] = mapped_column(String(255))
    original_key: Mapped[str] = mapped_column(String(1024))
    original_size: Mapped[bytesize]
    original_sha256: Mapped[str] = mapped_column(String(64))
    vtt_key: Mapped[str] = mapped_column(String(1024))
    vtt_size: Mapped[bytesize]
    vtt_sha256: Mapped[str] = mapped_column(String(64))
    # How the original's text was encoded (legacy code pages are converted to UTF-8).
    encoding: Mapped[str] = mapped_column(String(64), default="UTF-8")
    # Frames per second the original declares (EBU STL, TTML, SCC), checked against the master.
    frame_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    cue_count: Mapped[int] = mapped_column(Integer, default=0)
    first_cue_start: Mapped[float] = mapped_column(Float, default=0.0)
    last_cue_end: Mapped[float] = mapped_column(Float, default=0.0)
    # What reading the file found (overlaps, a guessed code page, damaged blocks):
    # [{"code": ..., "message": ...}]. Checks against the master are made when read.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class SubtitleCue(Base):
    """One cue of a track, its text folded for search (`pool_core.search.cues`).

    `terms` holds only space-separated `[a-z0-9]+` terms from `pool_core.search.normalize`,
    like the titles' search documents, so SQLite's FTS5 table (`subtitle_cues_fts`, rowid =
    id) and PostgreSQL's GIN index over its tsvector match the same words.
    """

    __tablename__ = "subtitle_cues"
    __table_args__ = (
        Index("ix_subtitle_cues_asset_start", "asset_id", "start"),
        Index(
            "ix_subtitle_cues_terms_fts",
            func.array_to_tsvector(func.string_to_array(text("terms"), text("' '"))),
            postgresql_using="gin",
            # Without GIN's pending list: every search would scan its up to 4 MB of unmerged
            # entries until a vacuum (7 ms instead of 0.1 ms per lookup after a bulk load).
            postgresql_with={"fastupdate": "off"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[bigintpk]
    track_id: Mapped[int] = mapped_column(
        ForeignKey("subtitle_tracks.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(35))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text)


SQLITE_CUES_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS subtitle_cues_fts USING fts5("
    "terms, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = 'none')"
)
event.listen(
    SubtitleCue.__table__,
    "after_create",
    DDL(SQLITE_CUES_FTS_DDL).execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
)
event.listen(
    SubtitleCue.__table__,
    "before_drop",
    DDL("DROP TABLE IF EXISTS subtitle_cues_fts").execute_if(  # type: ignore[no-untyped-call]
        dialect="sqlite"
    ),
)
