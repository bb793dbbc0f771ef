"""What a client may know about a file or folder of the virtual tree (`FileView`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pool_core.models import FileEntry, FileState, PendingUpload
from pool_core.names import INCOMING_ROOT, split_path

ROOT_NAMES = ("incoming", "licensed")
_EPOCH_MTIME = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class FileView:
    """What a client may know about one file or folder."""

    path: str
    name: str
    is_dir: bool
    size: int
    mtime: datetime
    md5: str | None
    sha256: str | None
    state: FileState
    # Whether the caller may change it (or, for a folder, create things inside it).
    writable: bool
    asset_id: uuid.UUID | None
    # RFC 3659 `unique` fact: stable, opaque, no spaces or `;` (the kind letter plus an id).
    unique: str


def is_writable_path(path: str) -> bool:
    """Whether a normalised path lies in the organization's read-write area."""
    return path == INCOMING_ROOT or path.startswith(INCOMING_ROOT + "/")


def entry_view(entry: FileEntry, path: str) -> FileView:
    return FileView(
        path=path,
        name=entry.name,
        is_dir=entry.is_dir,
        size=0 if entry.is_dir else entry.size,
        mtime=entry.mtime,
        md5=entry.md5,
        sha256=entry.sha256,
        state=entry.state,
        writable=is_writable_path(path),
        asset_id=entry.asset_id,
        unique=f"e{entry.id.hex}",
    )


def pending_view(pending: PendingUpload) -> FileView:
    return FileView(
        path=pending.path,
        name=split_path(pending.path)[1],
        is_dir=False,
        size=pending.committed_size,
        mtime=pending.updated_at,
        md5=None,
        sha256=None,
        state=FileState.UPLOADING,
        writable=True,
        asset_id=None,
        unique=f"p{pending.id.hex}",
    )


def root_view() -> FileView:
    return FileView(
        path="/",
        name="/",
        is_dir=True,
        size=0,
        mtime=_EPOCH_MTIME,
        md5=None,
        sha256=None,
        state=FileState.COMPLETE,
        writable=False,
        asset_id=None,
        unique="root",
    )
