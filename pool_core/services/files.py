"""The virtual FTP tree of each organization: stat, list, folders, rename, delete.

Org-scoped: every function takes `org_id` and only ever touches that organization's rows.
Paths are normalised absolute virtual paths (`pool_core.names.resolve_path`). The tree:

    /                 virtual, read-only
    /incoming         the organization's uploads, read-write
    /licensed         read-only (filled by licensing; empty until it exists)

A pending (interrupted or running) upload is not a file entry; it shows in `stat` and
`list_dir` as a file with state `uploading` and its committed size, so `SIZE` + `REST` work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pool_core.models import FileState
from pool_core.storage.base import ObjectStorage

INCOMING = "/incoming"
LICENSED = "/licensed"


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


def ensure_roots(session: Session, *, org_id: int) -> None:
    """Create `/incoming` and `/licensed` for an organization if missing."""
    raise NotImplementedError


def stat(session: Session, *, org_id: int, path: str) -> FileView:
    """Describe a file, folder or pending upload; `NotFound` if there is none."""
    raise NotImplementedError


def list_dir(session: Session, *, org_id: int, path: str) -> list[FileView]:
    """List a folder's children by name (one indexed query, no storage call)."""
    raise NotImplementedError


def make_dir(session: Session, *, org_id: int, path: str) -> FileView:
    """Create a folder under /incoming; its parent must exist."""
    raise NotImplementedError


def remove_dir(session: Session, *, org_id: int, path: str) -> None:
    """Remove an empty folder; `Conflict` if it is not empty."""
    raise NotImplementedError


def delete_file(session: Session, *, org_id: int, path: str) -> None:
    """Remove a file entry from the tree."""
    raise NotImplementedError


def rename(session: Session, *, org_id: int, source: str, target: str) -> FileView:
    """Move or rename a file or (non-empty) folder in one update."""
    raise NotImplementedError


def set_mtime(session: Session, *, org_id: int, path: str, mtime: datetime) -> FileView:
    """Set a file's or folder's modification time (MFMT)."""
    raise NotImplementedError


def write_small_file(
    session: Session,
    storage: ObjectStorage,
    *,
    org_id: int,
    path: str,
    data: bytes,
    content_type: str = "text/plain; charset=utf-8",
) -> FileView:
    """Store a small file (e.g. `<name>.errors.txt`) in one PUT and add or replace its entry."""
    raise NotImplementedError
