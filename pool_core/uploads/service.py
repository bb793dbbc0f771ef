"""Streaming, resumable uploads into S3 (ARCHITECTURE decisions 2 and 3).

`open_upload` returns an `UploadWriter`; the FTP adapter feeds it with `write()` and ends it
with exactly one of `finish()`, `interrupt()` (connection dropped: keep it resumable) or
`abort()`. `interrupt()` and `abort()` after the end are no-ops, so the adapter can call
`interrupt()` in a `finally` without thinking.

State lives in `PendingUpload` rows and S3, never only in the process, so another FTP node
sharing the database and S3 can resume. How the bytes flow, what is durable when, and how the
checksums stay exact across nodes: see `pool_core.uploads.writer` and `pool_core.uploads.plan`.

Errors the adapter maps: `InvalidInput` (bad name, REST offset that cannot be honoured),
`PermissionDenied` (outside /incoming), `NotFound` (parent folder missing), `Conflict`
(another session is writing that path; a folder is in the way), `QuotaExceeded` (the upload
is discarded), `StorageUnavailable` (the upload stays resumable from `committed_size`).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.errors import (
    Conflict,
    InvalidInput,
    ObjectNotFound,
    PermissionDenied,
    StorageError,
)
from pool_core.files.tree import get_entry, get_pending, plain_object_key, stat
from pool_core.files.views import FileView, is_writable_path
from pool_core.models import PendingUpload, utcnow
from pool_core.names import INCOMING_ROOT, resolve_path, split_path
from pool_core.services.ingest import complete_upload, is_master, master_object_key
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage, UploadedPart
from pool_core.uploads.hashes import HASH_CACHE, HashPair, complete_key, import_pair, new_pair
from pool_core.uploads.lease import is_held, let_go, new_holder, release_holder
from pool_core.uploads.plan import budget_for, part_size
from pool_core.uploads.quota import quota_exceeded, room_left
from pool_core.uploads.settle import DELETE_AFTER_COMMIT, delete_after_commit
from pool_core.uploads.writer import (
    Finished,
    UploadWriter,
    tail_key,
)

__all__ = ["FileView", "UploadWriter", "committed_size", "open_upload"]

# Key in a pending upload's `hash_state` marking the continuation of a complete file:
# {"key": <object key of the complete file>, "size": <its size>}. It lives there because a
# continuation has no hash state of its own until its first part (the JSON column fits).
CONTINUES = "continues"


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
    """Start (offset 0) or resume (offset == committed size) an upload to `path`.

    Offset 0 starts afresh, discarding an interrupted upload at that path (a file already
    complete there is replaced when the new one finishes, as a new asset version). A
    positive offset must equal the pending upload's committed size (what SIZE answers);
    anything else is refused with `InvalidInput` saying which offset would work.
    """
    path = resolve_path("/", path)
    if path == INCOMING_ROOT or not is_writable_path(path):
        raise PermissionDenied(f"{path} is read-only; upload into /incoming")
    if offset < 0:
        raise InvalidInput("the REST offset must not be negative")
    holder = new_holder()
    try:
        with db.write_session() as session:  # reads, then writes
            pending, stale, size_limit = _claim(
                session, settings, org_id=org_id, user_id=user_id, path=path, offset=offset,
                holder=holder,
            )  # fmt: skip
            snapshot = _Snapshot(pending)
    except BaseException:
        release_holder(holder)
        raise
    if stale is not None:
        _cleanup_storage(storage, *stale)
    try:
        tail = _load_tail(storage, snapshot)
        continues = snapshot.hash_state.get(CONTINUES) or {}
        # The complete file's object, when this continuation has nothing of its own yet.
        source_key: str | None = None
        if continues and not snapshot.parts and not tail and snapshot.committed_size == 0:
            source_key = str(continues["key"])
            snapshot.s3_upload_id, snapshot.parts, tail = _copy_complete(
                storage, settings, snapshot.object_key, source_key, offset
            )
    except BaseException:
        let_go(db, snapshot.id, holder)
        release_holder(holder)
        raise
    hashes = _running_hashes(snapshot, offset, source_key)
    try:
        return UploadWriter(
            db=db,
            storage=storage,
            settings=settings,
            budget=budget_for(settings, org_id),
            pending_id=snapshot.id,
            org_id=org_id,
            user_id=user_id,
            path=path,
            object_key=snapshot.object_key,
            asset_id=snapshot.asset_id,
            holder=holder,
            offset=offset,
            s3_upload_id=snapshot.s3_upload_id,
            parts=snapshot.parts,
            tail=tail,
            hashes=hashes,
            size_limit=size_limit,
            publish=functools.partial(_publish, db, storage, settings),
        )
    except BaseException:
        # No room in the memory budget in time (Busy): the upload stays resumable, unheld.
        let_go(db, snapshot.id, holder)
        release_holder(holder)
        raise


def _running_hashes(snapshot: _Snapshot, offset: int, source_key: str | None) -> HashPair | None:
    """The MD5 and SHA-256 of the bytes before `offset` (None: `finish()` re-reads them)."""
    if offset == 0:
        return new_pair()
    # The saved state continues exactly on any node; failing that, this process's cache;
    # failing both, `finish()` re-reads the object once.
    hashes = import_pair(snapshot.hash_state, offset) or HASH_CACHE.take(snapshot.id, offset)
    if hashes is None and source_key is not None:
        # The finished file's state, if it completed in this process; else `finish()`
        # re-reads the whole object once.
        hashes = HASH_CACHE.take(complete_key(source_key), offset)
    return hashes


class _Snapshot:
    """The pending row's values, read inside the claiming transaction."""

    def __init__(self, row: PendingUpload) -> None:
        self.id = row.id
        self.object_key = row.object_key
        self.asset_id = row.asset_id
        self.s3_upload_id = row.s3_upload_id
        self.parts = [
            UploadedPart(int(p["number"]), str(p["etag"]), int(p["size"])) for p in row.parts
        ]
        self.tail_key = row.tail_key
        self.tail_size = row.tail_size
        self.committed_size = row.committed_size
        self.hash_state = dict(row.hash_state or {})


def _claim(
    session: Session,
    settings: Settings,
    *,
    org_id: int,
    user_id: int | None,
    path: str,
    offset: int,
    holder: str,
) -> tuple[PendingUpload, tuple[str, str | None, uuid.UUID] | None, int | None]:
    parent_path, name = split_path(path)
    parent = get_entry(session, org_id=org_id, path=parent_path)
    if parent is None:
        raise InvalidInput(f"folder {parent_path} does not exist")
    if not parent.is_dir:
        raise InvalidInput(f"{parent_path} is a file, not a folder")
    entry = get_entry(session, org_id=org_id, path=path)
    if entry is not None and entry.is_dir:
        raise Conflict(f"{path} is a folder")
    pending = get_pending(session, org_id=org_id, path=path)
    now = utcnow()
    held_until = now + timedelta(seconds=settings.upload_lease_seconds)
    stale: tuple[str, str | None, uuid.UUID] | None = None
    if pending is not None and is_held(pending, now):
        raise Conflict(f"{path} is being uploaded by another session right now; try again later")
    if offset == 0:
        if pending is not None:
            stale = (pending.object_key, pending.s3_upload_id, pending.id)
            session.delete(pending)
            session.flush()
        pending = _new_pending(
            session, org_id=org_id, path=path, name=name, user_id=user_id, holder=holder,
            held_until=held_until, continues=None,
        )  # fmt: skip
    else:
        if pending is not None and pending.committed_size == 0 and entry is not None:
            # A continuation that died before anything of it was recorded: start it anew.
            stale = (pending.object_key, pending.s3_upload_id, pending.id)
            session.delete(pending)
            session.flush()
            pending = None
        if pending is None:
            if entry is None:
                raise InvalidInput(
                    f"there is no interrupted upload of {path} to resume; start at 0"
                )
            if offset != entry.size or entry.object_key is None:
                raise InvalidInput(
                    f"cannot resume {path} at byte {offset}: the file is complete with "
                    f"{entry.size} bytes, so continue at {entry.size} (see SIZE) or start at 0"
                )
            pending = _new_pending(
                session, org_id=org_id, path=path, name=name, user_id=user_id, holder=holder,
                held_until=held_until, continues=(entry.object_key, entry.size),
            )  # fmt: skip
            return pending, stale, _size_limit(session, org_id, pending)
        if offset != pending.committed_size:
            raise InvalidInput(
                f"cannot resume {path} at byte {offset}: {pending.committed_size} bytes are "
                f"stored, so resume at {pending.committed_size} (see SIZE) or start at 0"
            )
        _take_over(session, pending, holder=holder, held_until=held_until, user_id=user_id)
    return pending, stale, _size_limit(session, org_id, pending)


def _take_over(
    session: Session,
    pending: PendingUpload,
    *,
    holder: str,
    held_until: datetime,
    user_id: int | None,
) -> None:
    """Claim a pending upload for a new writer, unless another session claimed it first."""
    # Holder names are unique per writer: if it is unchanged, nobody claimed it meanwhile.
    same_holder = (
        PendingUpload.holder.is_(None)
        if pending.holder is None
        else PendingUpload.holder == pending.holder
    )
    claimed = session.execute(
        update(PendingUpload)
        .where(
            PendingUpload.id == pending.id,
            PendingUpload.committed_size == pending.committed_size,
            same_holder,
        )
        .values(holder=holder, held_until=held_until, owner_user_id=user_id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"{pending.path} is being uploaded by another session right now")
    session.refresh(pending)


def _new_pending(
    session: Session,
    *,
    org_id: int,
    path: str,
    name: str,
    user_id: int | None,
    holder: str,
    held_until: datetime,
    continues: tuple[str, int] | None,
) -> PendingUpload:
    """Add a pending upload with a new object key (and asset id for a master).

    `continues` (object key, size) marks the continuation of a complete file: `open_upload`
    then builds its first bytes from that object on the S3 side (see `_copy_complete`).
    """
    asset_id = uuid.uuid4() if is_master(name) else None
    key = (
        master_object_key(org_id, asset_id, name)
        if asset_id is not None
        else plain_object_key(org_id, name)
    )
    pending = PendingUpload(
        id=uuid.uuid4(),
        org_id=org_id,
        path=path,
        object_key=key,
        asset_id=asset_id,
        parts=[],
        committed_size=0,
        tail_size=0,
        hash_state={CONTINUES: {"key": continues[0], "size": continues[1]}} if continues else {},
        owner_user_id=user_id,
        holder=holder,
        held_until=held_until,
    )
    try:
        with session.begin_nested():
            session.add(pending)
    except IntegrityError as exc:
        raise Conflict(f"{path} is being uploaded by another session right now") from exc
    return pending


def _cleanup_storage(
    storage: ObjectStorage, key: str, upload_id: str | None, pending_id: uuid.UUID
) -> None:
    # Leftovers of a discarded upload; if storage is down, maintenance sweeps them later.
    HASH_CACHE.forget(pending_id)
    with contextlib.suppress(StorageError):
        if upload_id is not None:
            storage.abort_multipart(key, upload_id)
    with contextlib.suppress(StorageError):
        storage.delete(tail_key(pending_id))


def _copy_complete(
    storage: ObjectStorage, settings: Settings, key: str, source_key: str, size: int
) -> tuple[str | None, list[UploadedPart], bytes]:
    """The first `size` bytes of a continuation, taken from the complete file's object.

    Whole parts of the part plan are copied inside S3 (UploadPartCopy: no byte goes through
    this process or the client's link again); the rest, below one part, is read back as the
    writer's tail, exactly as a resumed upload's staged tail is. Why copy rather than keep
    the finished upload's parts around: S3 cannot reopen a completed multipart upload, and
    a copy needs no extra state or clean-up for files that are never continued.
    """
    parts: list[UploadedPart] = []
    upload_id: str | None = None
    start = 0
    try:
        while size - start >= part_size(len(parts) + 1, settings.upload_part_size):
            end = start + part_size(len(parts) + 1, settings.upload_part_size)
            if upload_id is None:
                upload_id = storage.create_multipart(key)
            parts.append(
                storage.upload_part_copy(key, upload_id, len(parts) + 1, source_key, start, end - 1)
            )
            start = end
        tail = storage.get(source_key, start=start, end=size - 1) if start < size else b""
    except ObjectNotFound as exc:
        raise InvalidInput(
            "the stored file to continue is gone; upload it again from the start"
        ) from exc
    except BaseException:
        if upload_id is not None:
            with contextlib.suppress(StorageError):
                storage.abort_multipart(key, upload_id)
        raise
    if len(tail) != size - start:
        raise InvalidInput("the stored file to continue is shorter than its entry; start at 0")
    return upload_id, parts, tail


def _load_tail(storage: ObjectStorage, snapshot: _Snapshot) -> bytes:
    if not snapshot.tail_size:
        return b""
    try:
        data = storage.get(snapshot.tail_key or tail_key(snapshot.id))
    except ObjectNotFound:
        data = b""
    if len(data) != snapshot.tail_size:
        raise InvalidInput(
            "the last bytes stored for this upload are missing; upload the file again from "
            "the start"
        )
    return data


def committed_size(session: Session, *, org_id: int, path: str) -> int | None:
    """Bytes a pending upload at `path` has safely stored, or None if there is none."""
    pending = get_pending(session, org_id=org_id, path=resolve_path("/", path))
    if pending is None:
        return None
    if pending.committed_size == 0 and CONTINUES in (pending.hash_state or {}):
        return None  # a continuation with nothing recorded yet: the complete file counts
    return pending.committed_size


def _size_limit(session: Session, org_id: int, pending: PendingUpload) -> int | None:
    room = room_left(session, org_id=org_id, path=pending.path, pending_id=pending.id)
    return None if room is None else max(0, room)


def _publish(db: Database, storage: ObjectStorage, settings: Settings, done: Finished) -> FileView:
    """Turn a finished upload into a file (and a master's asset) in one commit.

    The pending row must still be this writer's: a session that took the upload over owns it.
    """
    with db.write_session() as session:  # reads, then writes
        row = session.get(PendingUpload, done.pending_id)
        if row is None or row.holder != done.holder:
            raise Conflict(f"the upload to {done.path} was taken over by another session")
        path = row.path
        room = room_left(session, org_id=done.org_id, path=path, pending_id=done.pending_id)
        if room is not None and done.size > room:
            raise quota_exceeded(path)
        session.execute(delete(PendingUpload).where(PendingUpload.id == done.pending_id))
        complete_upload(
            session,
            storage,
            org_id=done.org_id,
            user_id=done.user_id,
            path=path,
            object_key=done.object_key,
            size=done.size,
            md5=done.md5,
            sha256=done.sha256,
            asset_id=done.asset_id,
            content=done.content,
            settle_seconds=settings.upload_settle_seconds,
        )
        session.flush()
        view = stat(session, org_id=done.org_id, path=path)
        superseded = list(session.info.pop(DELETE_AFTER_COMMIT, []))
    delete_after_commit(storage, superseded)
    return view
