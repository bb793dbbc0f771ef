"""Schemas of `GET /v1/uploads`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pool_core.uploads.status import UploadStatus


class UploadOut(BaseModel):
    """An upload that is not done yet."""

    path: str
    state: str = Field(
        description="`pending`: interrupted or running, resumable with SIZE + REST/APPE; "
        "`settling`: complete, waiting for its settle window before the catalog sees it."
    )
    size: int = Field(description="Bytes stored so far (pending) or the file's size (settling).")
    started_at: datetime
    updated_at: datetime
    age_seconds: float = Field(description="Seconds since the last bytes were stored.")
    active: bool = Field(description="A session is writing it right now.")
    settles_at: datetime | None
    declared_size: int | None = Field(
        None,
        description="The size the master will have, when a metadata sidecar that arrived "
        "first declares it (so `size / declared_size` is the progress); else null.",
    )

    @classmethod
    def from_status(cls, item: UploadStatus, *, declared_size: int | None = None) -> UploadOut:
        """Build from the service's record."""
        return cls(
            path=item.path,
            state=item.state,
            size=item.size,
            started_at=item.started_at,
            updated_at=item.updated_at,
            age_seconds=round(item.age_seconds, 1),
            active=item.active,
            declared_size=declared_size,
            settles_at=item.settles_at,
        )


class UploadsOut(BaseModel):
    """Your organization's pending and settling uploads, oldest first."""

    items: list[UploadOut]
