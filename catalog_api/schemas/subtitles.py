"""Subtitle tracks of an asset."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pool_core.models import Asset, SubtitleTrack
from pool_core.search.cues import CuePage
from pool_core.services.subtitles import track_findings


class SubtitleFindingOut(BaseModel):
    """One QC finding of a track."""

    code: str = Field(
        description="encoding (a legacy code page was converted), reading (the reader "
        "reported damage), overlap, after_end (cues after the programme), frame_rate "
        "(timed for another frame rate than the master's)."
    )
    message: str


class SubtitleTrackOut(BaseModel):
    """One language's subtitles of a master: the file as delivered and its WebVTT."""

    language: str = Field(description="BCP 47 tag, e.g. kk-Cyrl.")
    format: str = Field(description="How the original was read: srt, vtt, ttml, stl or scc.")
    source: str = Field(description="ftp (a file next to the master) or api.")
    original_name: str
    original_size: int
    original_sha256: str
    vtt_size: int
    vtt_sha256: str
    encoding: str = Field(description="The original's text encoding; WebVTT is always UTF-8.")
    frame_rate: float | None = Field(description="Frames per second the original declares.")
    cue_count: int
    first_cue_start: float
    last_cue_end: float
    findings: list[SubtitleFindingOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_track(cls, track: SubtitleTrack, asset: Asset) -> SubtitleTrackOut:
        """The API view of a track, with its findings against the master as probed now."""
        values: dict[str, Any] = {
            name: getattr(track, name) for name in cls.model_fields if name != "findings"
        }
        return cls(**values, findings=track_findings(track, asset))


class CueHitOut(BaseModel):
    """A cue that matched: which asset, title and language, and when."""

    asset_id: uuid.UUID
    title_id: uuid.UUID | None
    language: str
    start: float = Field(description="Seconds into the programme.")
    end: float
    timecode: str = Field(
        description="SMPTE timecode at the master's frame rate (HH:MM:SS;FF drop-frame at "
        "29.97 and 59.94)."
    )
    text: str
    screen_url: str = Field(description="The web UI's player, opened at this cue.")


class CueSearchOut(BaseModel):
    """Matching cues (asset, then time order) and the hit count per subtitle language."""

    hits: list[CueHitOut]
    languages: dict[str, int] = Field(description="Hits per language: the facet.")

    @classmethod
    def from_page(cls, page: CuePage) -> CueSearchOut:
        """The API view of a page of cue hits."""
        return cls(
            hits=[
                CueHitOut(
                    **vars(hit), screen_url=f"/assets/{hit.asset_id}/screen?t={hit.start:.3f}"
                )
                for hit in page.hits
            ],
            languages=page.languages,
        )
