"""How far a pending master has got: the size its metadata sidecar declares, when one came first.

A delivery may send the sidecar (`ep01.json`, `ep01.mxf.json`, EBUCore, a CSV manifest row)
before the master. When that sidecar declares the master's `size`, an operator watching the
upload can be told a percentage, not only the bytes received so far. The same sidecar is the
one the ingest links when the master completes (the most specific name, then by extension).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.errors import StorageError
from pool_core.files.tree import get_entry
from pool_core.models import FileEntry
from pool_core.names import split_path
from pool_core.services.ingest import (
    METADATA_SIDECAR_EXTENSIONS,
    extension,
    is_master,
    sidecar_kind,
    stem,
)
from pool_core.sidecars import parse_sidecar
from pool_core.sidecars.decoding import MAX_SIDECAR_BYTES, SidecarError
from pool_core.storage.base import ObjectStorage


def declared_size(
    session: Session, storage: ObjectStorage, *, org_id: int, path: str
) -> int | None:
    """The size the master at `path` will have, as its already stored sidecar says, or None."""
    folder_path, name = split_path(path)
    if not is_master(name):
        return None
    folder = get_entry(session, org_id=org_id, path=folder_path)
    if folder is None or not folder.is_dir:
        return None
    sidecar = _metadata_sidecar(session, org_id, folder, name)
    if sidecar is None or sidecar.object_key is None:
        return None
    try:
        data = storage.get(sidecar.object_key, start=0, end=MAX_SIDECAR_BYTES)
        return parse_sidecar(sidecar.name, data, master_filename=name).size
    except (StorageError, SidecarError):
        return None  # an unreadable sidecar is reported by the catalog once the master lands


def _metadata_sidecar(
    session: Session, org_id: int, folder: FileEntry, master: str
) -> FileEntry | None:
    candidates = [
        entry
        for entry in session.scalars(
            select(FileEntry).where(
                FileEntry.org_id == org_id,
                FileEntry.parent_id == folder.id,
                FileEntry.is_dir.is_(False),
            )
        )
        if sidecar_kind(entry.name) == "metadata" and stem(entry.name) in (master, stem(master))
    ]
    # The most specific sidecar wins (`ep01.mxf.json` over `ep01.json`), then by extension.
    candidates.sort(
        key=lambda e: (
            stem(e.name) != master,
            METADATA_SIDECAR_EXTENSIONS.index(extension(e.name)),
        )
    )
    return candidates[0] if candidates else None
