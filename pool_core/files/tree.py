"""The virtual FTP tree of each organization: stat, list, folders, rename, delete.

Org-scoped: every function takes `org_id` and only ever touches that organization's rows.
Paths are virtual paths; each function normalises them again with `resolve_path`, so a
hostile path is refused even if a caller forgot. The tree:

    /                 virtual, read-only
    /incoming         the organization's uploads, read-write
    /licensed         read-only (filled by licensing; empty until it exists)

A pending (interrupted or running) upload is not a file entry; it shows in `stat` and
`list_dir` as a file with state `uploading` and its committed size, so `SIZE` + `REST` work.

Deleting a file removes its entry only. A master's object belongs to its asset (catalog
history, renditions, licences) and stays; the object of a plain file, and the S3 leftovers
of a discarded pending upload, are left for `jointpool maintenance`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pool_core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.files import licensed
from pool_core.files.views import (
    ROOT_NAMES,
    FileView,
    entry_view,
    is_writable_path,
    pending_view,
    root_view,
)
from pool_core.models import Asset, FileEntry, FileState, PendingUpload, ReleasedObject, utcnow
from pool_core.names import INCOMING_ROOT, LICENSED_ROOT, path_components, resolve_path, split_path
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.lease import is_held

# Root folder ids are derived from (org, name), so two nodes creating them at once collide
# on the primary key instead of making two `/incoming` (NULL parents escape the unique index).
_ROOT_NAMESPACE = uuid.UUID("6f1d3c52-8a43-4c5e-9a1e-3b0f2a7c9d10")


def root_id(org_id: int, name: str) -> uuid.UUID:
    """The fixed id of an organization's root folder."""
    return uuid.uuid5(_ROOT_NAMESPACE, f"{org_id}/{name}")


def plain_object_key(org_id: int, name: str) -> str:
    """A fresh immutable key for a file that is not a master (sidecars, reports, others)."""
    return f"files/{org_id}/{uuid.uuid4()}/{name}"


def _normalise(path: str) -> str:
    return resolve_path("/", path)


def _check_writable(path: str) -> None:
    if path == INCOMING_ROOT:
        raise PermissionDenied("/incoming itself cannot be changed")
    if not is_writable_path(path):
        raise PermissionDenied(f"{path} is read-only; upload into /incoming")


def ensure_roots(session: Session, *, org_id: int) -> None:
    """Create `/incoming` and `/licensed` for an organization if missing."""
    for name in ROOT_NAMES:
        rid = root_id(org_id, name)
        if session.get(FileEntry, rid) is not None:
            continue
        try:
            with session.begin_nested():
                session.add(
                    FileEntry(id=rid, org_id=org_id, parent_id=None, name=name, is_dir=True)
                )
        except IntegrityError:
            # Another session created it first: exactly what we wanted.
            continue


def get_entry(session: Session, *, org_id: int, path: str) -> FileEntry | None:
    """The entry at a normalised path, or None (`/` has no entry)."""
    names = path_components(path)
    if not names or names[0] not in ROOT_NAMES:
        return None
    entry = session.get(FileEntry, root_id(org_id, names[0]))
    if entry is None or entry.org_id != org_id:
        return None
    for name in names[1:]:
        if not entry.is_dir:
            return None
        entry = session.scalar(
            select(FileEntry).where(
                FileEntry.org_id == org_id, FileEntry.parent_id == entry.id, FileEntry.name == name
            )
        )
        if entry is None:
            return None
    return entry


def get_pending(session: Session, *, org_id: int, path: str) -> PendingUpload | None:
    """The pending upload at a normalised path, or None."""
    return session.scalar(
        select(PendingUpload).where(PendingUpload.org_id == org_id, PendingUpload.path == path)
    )


def _require_folder(session: Session, org_id: int, path: str) -> FileEntry:
    entry = get_entry(session, org_id=org_id, path=path)
    if entry is None:
        raise NotFound(f"folder {path} does not exist")
    if not entry.is_dir:
        raise InvalidInput(f"{path} is a file, not a folder")
    return entry


def _below_licensed(path: str) -> bool:
    return path.startswith(LICENSED_ROOT + "/")


def stat(session: Session, *, org_id: int, path: str) -> FileView:
    """Describe a file, folder or pending upload; `NotFound` if there is none."""
    path = _normalise(path)
    if path == "/":
        return root_view()
    if _below_licensed(path):
        # Built from the current entitlements, so a revocation hides the file at once.
        view: FileView = licensed.licensed_stat(session, org_id=org_id, path=path)
        return view
    entry = get_entry(session, org_id=org_id, path=path)
    if entry is not None:
        return entry_view(entry, path)
    pending = get_pending(session, org_id=org_id, path=path)
    if pending is not None:
        return pending_view(pending)
    raise NotFound(f"{path} does not exist")


def _pending_children(session: Session, org_id: int, path: str) -> Sequence[PendingUpload]:
    prefix = path.rstrip("/") + "/"
    # substr instead of LIKE: no escaping of `%`/`_` in user-chosen names.
    rows = session.scalars(
        select(PendingUpload).where(
            PendingUpload.org_id == org_id,
            func.substr(PendingUpload.path, 1, len(prefix)) == prefix,
        )
    )
    return [p for p in rows if "/" not in p.path[len(prefix) :]]


def list_dir(session: Session, *, org_id: int, path: str) -> list[FileView]:
    """List a folder's children by name (one indexed query, no storage call)."""
    path = _normalise(path)
    if path == "/":
        roots = session.scalars(
            select(FileEntry).where(FileEntry.org_id == org_id, FileEntry.parent_id.is_(None))
        )
        return sorted((entry_view(r, "/" + r.name) for r in roots), key=lambda v: v.name)
    if path == LICENSED_ROOT or _below_licensed(path):
        return list(licensed.licensed_list_dir(session, org_id=org_id, path=path))
    folder = _require_folder(session, org_id, path)
    children = session.scalars(
        select(FileEntry).where(FileEntry.org_id == org_id, FileEntry.parent_id == folder.id)
    )
    base = path.rstrip("/") + "/"
    views = {c.name: entry_view(c, base + c.name) for c in children}
    if is_writable_path(path):
        for pending in _pending_children(session, org_id, path):
            view = pending_view(pending)
            # A complete file being overwritten shows as the complete file.
            views.setdefault(view.name, view)
    return sorted(views.values(), key=lambda v: v.name)


def make_dir(session: Session, *, org_id: int, path: str) -> FileView:
    """Create a folder under /incoming; its parent must exist."""
    path = _normalise(path)
    _check_writable(path)
    parent_path, name = split_path(path)
    parent = _require_folder(session, org_id, parent_path)
    if get_entry(session, org_id=org_id, path=path) is not None:
        raise AlreadyExists(f"{path} already exists")
    if get_pending(session, org_id=org_id, path=path) is not None:
        raise AlreadyExists(f"{path} is a file being uploaded")
    entry = FileEntry(org_id=org_id, parent_id=parent.id, name=name, is_dir=True)
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError as exc:
        raise AlreadyExists(f"{path} already exists") from exc
    return entry_view(entry, path)


def _has_children(session: Session, org_id: int, folder: FileEntry, path: str) -> bool:
    child = session.scalar(
        select(FileEntry.id)
        .where(FileEntry.org_id == org_id, FileEntry.parent_id == folder.id)
        .limit(1)
    )
    return child is not None or bool(_pending_children(session, org_id, path))


def remove_dir(session: Session, *, org_id: int, path: str) -> None:
    """Remove an empty folder; `Conflict` if it is not empty."""
    path = _normalise(path)
    _check_writable(path)
    folder = _require_folder(session, org_id, path)
    if _has_children(session, org_id, folder, path):
        raise Conflict(f"folder {path} is not empty")
    session.delete(folder)
    session.flush()


def delete_file(session: Session, *, org_id: int, path: str) -> None:
    """Remove a file entry (and any interrupted upload at its path) from the tree."""
    path = _normalise(path)
    _check_writable(path)
    entry = get_entry(session, org_id=org_id, path=path)
    pending = get_pending(session, org_id=org_id, path=path)
    if entry is not None and entry.is_dir:
        raise InvalidInput(f"{path} is a folder; remove it with RMD")
    if pending is not None and is_held(pending):
        raise Conflict(f"{path} is being uploaded right now; it cannot be deleted")
    if entry is None and pending is None:
        raise NotFound(f"{path} does not exist")
    if entry is not None:
        _release_plain_object(session, entry)
        session.delete(entry)
    if pending is not None:
        # Its multipart upload and staging tail are freed by maintenance (orphan sweep); until
        # then its stored bytes stay in the quota, or ABOR + DELE in a loop would grow storage.
        session.add(
            ReleasedObject(
                org_id=pending.org_id, object_key=pending.object_key, size=pending.committed_size
            )
        )
        session.delete(pending)
    session.flush()
    if entry is not None:
        _retire_if_unshown(session, entry.asset_id)


def rename(session: Session, *, org_id: int, source: str, target: str) -> FileView:
    """Move or rename a file or (non-empty) folder in one update."""
    source, target = _normalise(source), _normalise(target)
    _check_writable(source)
    _check_writable(target)
    if target == source:
        raise InvalidInput("source and target are the same")
    if target.startswith(source + "/"):
        raise InvalidInput(f"cannot move folder {source} into itself")
    entry = get_entry(session, org_id=org_id, path=source)
    pending = get_pending(session, org_id=org_id, path=source)
    if entry is None and pending is None:
        raise NotFound(f"{source} does not exist")
    target_parent_path, target_name = split_path(target)
    target_parent = _require_folder(session, org_id, target_parent_path)
    if get_entry(session, org_id=org_id, path=target) is not None or (
        get_pending(session, org_id=org_id, path=target) is not None
    ):
        raise AlreadyExists(f"{target} already exists")
    if pending is not None:
        if is_held(pending):
            raise Conflict(f"{source} is being uploaded right now; rename it when done")
        pending.path = target
    if entry is not None:
        # One UPDATE of one row: children follow through parent_id.
        entry.parent_id = target_parent.id
        entry.name = target_name
        entry.mtime = utcnow()
        if entry.is_dir:
            _move_pending_prefix(session, org_id, source, target)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"{target} already exists") from exc
    return stat(session, org_id=org_id, path=target)


def _move_pending_prefix(session: Session, org_id: int, source: str, target: str) -> None:
    # Pending uploads are addressed by path, so uploads inside a moved folder move too; a
    # running writer re-reads its row by id and finishes at the new place.
    prefix = source + "/"
    session.execute(
        update(PendingUpload)
        .where(
            PendingUpload.org_id == org_id,
            func.substr(PendingUpload.path, 1, len(prefix)) == prefix,
        )
        .values(path=target + "/" + func.substr(PendingUpload.path, len(prefix) + 1))
        .execution_options(synchronize_session=False)
    )


def set_mtime(session: Session, *, org_id: int, path: str, mtime: datetime) -> FileView:
    """Set a file's or folder's modification time (MFMT)."""
    path = _normalise(path)
    _check_writable(path)
    entry = get_entry(session, org_id=org_id, path=path)
    if entry is None:
        raise NotFound(f"{path} does not exist")
    if mtime.tzinfo is None:
        raise InvalidInput("modification time must be timezone-aware (UTC)")
    entry.mtime = mtime
    session.flush()
    return entry_view(entry, path)


def put_file_entry(
    session: Session,
    *,
    org_id: int,
    path: str,
    size: int,
    object_key: str | None,
    md5: str | None,
    sha256: str | None,
    asset_id: uuid.UUID | None,
) -> FileEntry:
    """Add the complete entry for a file at `path`, replacing a file already there."""
    parent_path, name = split_path(path)
    parent = _require_folder(session, org_id, parent_path)
    entry = get_entry(session, org_id=org_id, path=path)
    if entry is not None and entry.is_dir:
        raise Conflict(f"{path} is a folder")
    if entry is None:
        entry = FileEntry(org_id=org_id, parent_id=parent.id, name=name, is_dir=False)
        session.add(entry)
    replaced = entry.asset_id
    if entry.object_key != object_key:
        _release_plain_object(session, entry)
    entry.size = size
    entry.object_key = object_key
    entry.md5 = md5
    entry.sha256 = sha256
    entry.asset_id = asset_id
    entry.state = FileState.COMPLETE
    entry.mtime = utcnow()
    session.flush()
    if replaced != asset_id:
        _retire_if_unshown(session, replaced)
    return entry


def _release_plain_object(session: Session, entry: FileEntry) -> None:
    """Count the object of a plain file whose entry goes away until maintenance deletes it.

    A master's object belongs to its asset (retired, kept, then purged); a plain file's is
    deleted by the nightly sweep. Until then its bytes are still stored, so they stay in the
    organization's quota (see `ReleasedObject`).
    """
    if entry.is_dir or entry.asset_id is not None or not entry.object_key:
        return
    session.add(ReleasedObject(org_id=entry.org_id, object_key=entry.object_key, size=entry.size))


def _retire_if_unshown(session: Session, asset_id: uuid.UUID | None) -> None:
    """Start the retention clock of a master that no file entry shows any more.

    Its bytes stay (catalog history, licensees of the title) and count against the quota
    until the nightly maintenance purges them after `deleted_retention_days`.
    """
    if asset_id is None:
        return
    shown = session.scalar(select(FileEntry.id).where(FileEntry.asset_id == asset_id).limit(1))
    if shown is not None:
        return
    asset = session.get(Asset, asset_id)
    if asset is not None and asset.retired_at is None:
        asset.retired_at = utcnow()
        session.flush()


def _ensure_folders(session: Session, org_id: int, path: str) -> None:
    names = path_components(path)
    for depth in range(2, len(names) + 1):
        folder = "/" + "/".join(names[:depth])
        entry = get_entry(session, org_id=org_id, path=folder)
        if entry is None:
            make_dir(session, org_id=org_id, path=folder)
        elif not entry.is_dir:
            raise Conflict(f"{folder} is a file, not a folder")


def write_small_file(
    session: Session,
    storage: ObjectStorage,
    *,
    org_id: int,
    path: str,
    data: bytes,
    content_type: str = "text/plain; charset=utf-8",
) -> FileView:
    """Store a small file (e.g. `<name>.errors.txt`) in one PUT and add or replace its entry.

    Missing parent folders under /incoming are created. The file is plain: no asset.
    """
    path = _normalise(path)
    _check_writable(path)
    parent_path, name = split_path(path)
    ensure_roots(session, org_id=org_id)
    _ensure_folders(session, org_id, parent_path)
    existing = get_entry(session, org_id=org_id, path=path)
    if existing is not None and existing.is_dir:
        raise Conflict(f"{path} is a folder")
    key = plain_object_key(org_id, name)
    # Before the entry: a rolled-back transaction leaves an orphan object, never an entry
    # without bytes.
    storage.put(key, data, content_type=content_type)
    entry = put_file_entry(
        session,
        org_id=org_id,
        path=path,
        size=len(data),
        object_key=key,
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        asset_id=None,
    )
    return entry_view(entry, path)
