"""Streaming, resumable uploads into S3 (ARCHITECTURE decisions 2 and 3).

`open_upload` returns an `UploadWriter`; the FTP adapter feeds it with `write()` and ends it
with exactly one of `finish()`, `interrupt()` (connection dropped: keep it resumable) or
`abort()`. Any call after the end is a no-op, so the adapter can call `interrupt()` in a
`finally` without thinking.

State lives in `PendingUpload` rows and S3, never only in the process, so another FTP node
sharing the database and S3 can resume.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.services.files import FileView
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage


class UploadWriter:
    """One client's byte stream into one virtual path."""

    path: str
    # REST offset this writer started at (0 for a new upload).
    offset: int
    # Bytes received so far, counting from the start of the file (offset included).
    size: int

    def write(self, data: bytes) -> None:
        """Take the next bytes; raises `QuotaExceeded`, `StorageUnavailable`, `Conflict`."""
        raise NotImplementedError

    def finish(self) -> FileView:
        """Store the last bytes and publish the file (entry, asset, job, event in one commit)."""
        raise NotImplementedError

    def interrupt(self) -> None:
        """Keep what was received resumable and release the upload (connection dropped)."""
        raise NotImplementedError

    def abort(self) -> None:
        """Throw the upload away: no entry, no pending state, S3 parts freed."""
        raise NotImplementedError


def open_upload(
    db: Database,
    storage: ObjectStorage,
    settings: Settings,
    *,
    org_id: int,
    user_id: int | None,
    path: str,
    offset: int = 0,
) -> UploadWriter:
    """Start (offset 0) or resume (offset == committed size) an upload to `path`."""
    raise NotImplementedError


def committed_size(session: Session, *, org_id: int, path: str) -> int | None:
    """Bytes a pending upload at `path` has safely stored, or None if there is none."""
    raise NotImplementedError
