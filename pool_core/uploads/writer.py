"""`UploadWriter`: one client's byte stream into S3, resumable from any node.

Flow of bytes: `write()` appends to a buffer; when the buffer reaches the current part size
the part is handed to this writer's one background thread, which uploads it, hashes it and
records it in the `PendingUpload` row, while `write()` goes on taking bytes from the client.
At most one part is in flight and one is filling, so memory is at most two parts (see
`pool_core.uploads.plan`). A file smaller than one part is stored with a single PUT.

What is durable after each part: the parts list, the upload id and the committed size in
the database. On `interrupt()` the bytes below one part are saved as a staging object
`staging/<upload-id>/tail`, so everything the client sent survives. After a crash the
committed size is the sum of the parts recorded so far; the client resumes from there.

Checksums: MD5 and SHA-256 run while the parts are sent. Their running state is saved with
every recorded part (`pool_core.uploads.hashes`: OpenSSL's fixed-layout context structs), so a
resume on any node continues them exactly. Where that is not available, hashlib's state stays
in a per-process cache keyed by (upload, committed size); a resume elsewhere then cannot
continue it, and since S3 does not let anyone read the parts of an open multipart upload,
such a writer re-reads the whole completed object from S3 once in `finish()`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import delete, update

from pool_core.db import Database
from pool_core.errors import (
    Conflict,
    InvalidInput,
    ObjectNotFound,
    QuotaExceeded,
    StorageError,
)
from pool_core.files.views import FileView
from pool_core.models import PendingUpload, utcnow
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage, UploadedPart
from pool_core.uploads.hashes import (
    HASH_CACHE,
    Hasher,
    HashPair,
    complete_key,
    export_pair,
    new_pair,
)
from pool_core.uploads.lease import let_go, release_holder
from pool_core.uploads.plan import MAX_OBJECT_SIZE, MAX_PARTS, MemoryBudget, part_size
from pool_core.uploads.quota import quota_exceeded

log = logging.getLogger(__name__)

HASH_CHUNK = 8 << 20


def tail_key(upload_id: uuid.UUID) -> str:
    """The staging object that holds an interrupted upload's bytes below one part."""
    return f"staging/{upload_id}/tail"


# Shared by all writers of the process; each writer waits for its part's two hashes before
# the next part, so the order of updates per writer is kept.
_HASH_POOL = ThreadPoolExecutor(
    max_workers=max(4, 2 * (os.cpu_count() or 2)), thread_name_prefix="hash"
)


def _update(hasher: Hasher, data: bytes | bytearray, skip: int) -> None:
    with memoryview(data) as view:
        hasher.update(view[skip:])


def _as_bytes(data: bytearray) -> bytes:
    # The storage only reads the body (boto3 takes any bytes-like object); handing over the
    # bytearray saves copying every part. Nothing writes to it once handed over.
    return cast(bytes, data)


@dataclass(frozen=True)
class Finished:
    """An upload whose bytes are all stored, handed to the publisher (`uploads.service`)."""

    pending_id: uuid.UUID
    holder: str
    org_id: int
    user_id: int | None
    path: str
    object_key: str | None  # None for an empty file
    size: int
    md5: str
    sha256: str
    asset_id: uuid.UUID | None
    content: bytes | None  # the whole file when it was small enough to keep in memory


# Makes the file visible (entry, asset, jobs, events) in one commit and describes it.
Publish = Callable[[Finished], FileView]


class UploadWriter:
    """One client's byte stream into one virtual path.

    Obtain it from `open_upload`. Call `write()` for each chunk, then exactly one of
    `finish()`, `interrupt()` or `abort()`; later calls of those three are no-ops (`finish`
    after the end raises `Conflict`). Not thread-safe: one FTP session drives it.
    """

    def __init__(
        self,
        *,
        db: Database,
        storage: ObjectStorage,
        settings: Settings,
        budget: MemoryBudget,
        pending_id: uuid.UUID,
        org_id: int,
        user_id: int | None,
        path: str,
        object_key: str,
        asset_id: uuid.UUID | None,
        holder: str,
        offset: int,
        s3_upload_id: str | None,
        parts: list[UploadedPart],
        tail: bytes,
        hashes: HashPair | None,
        size_limit: int | None,
        publish: Publish,
    ) -> None:
        self.db = db
        self.storage = storage
        self.settings = settings
        self.pending_id = pending_id
        self.org_id = org_id
        self.user_id = user_id
        self.path = path
        self.object_key = object_key
        self.asset_id = asset_id
        self.holder = holder
        self.offset = offset
        self.size = offset
        self._budget = budget
        self._upload_id = s3_upload_id
        self._parts = list(parts)
        self._initial_parts = len(parts)
        self._next_number = len(parts) + 1
        # The part being filled: a preallocated buffer of the part's size, filled in place.
        self._buffer: bytearray | None = None
        self._filled = 0
        self._reserved = 0
        # Bytes at the start of the buffer already counted in the hashes (a resumed tail).
        self._buffer_hashed = len(tail) if hashes is not None else 0
        self._hashes = hashes
        self._size_limit = size_limit
        self._publish_with = publish
        self._in_flight: deque[Future[None]] = deque()
        self._max_in_flight = max(1, settings.upload_parts_in_flight)
        self._executor: ThreadPoolExecutor | None = None
        self._take_buffer()
        if tail:
            self._buffer[: len(tail)] = tail  # type: ignore[index]
            self._filled = len(tail)
        self._closed = False
        self._lease = timedelta(seconds=settings.upload_lease_seconds)
        self._renew_every = settings.upload_lease_seconds / 3
        self._renewed_at = time.monotonic()

    @property
    def _part_base(self) -> int:
        return self.settings.upload_part_size

    def _take_buffer(self) -> None:
        # Waits while the process's uploads hold the whole budget: TCP then slows the client.
        size = part_size(self._next_number, self._part_base)
        self._buffer, self._reserved = self._budget.take_buffer(size)
        self._filled = 0

    def _pending_view(self) -> memoryview:
        """The received bytes not yet in a part (use in a `with`: it pins the buffer)."""
        if self._buffer is None:
            return memoryview(b"")
        return memoryview(self._buffer)[: self._filled]

    @property
    def committed(self) -> int:
        """Bytes recorded as safely stored so far (parts only; the tail counts once staged)."""
        return sum(p.size for p in self._parts)

    # --- the stream -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Take the next bytes; raises `QuotaExceeded`, `StorageUnavailable`, `Conflict`."""
        if self._closed:
            raise Conflict(f"the upload to {self.path} has already ended")
        self._check_background()
        if self._size_limit is not None and self.size + len(data) > self._size_limit:
            self.abort()
            raise quota_exceeded(self.path)
        if self.size + len(data) > MAX_OBJECT_SIZE:
            self.abort()
            raise InvalidInput("files larger than 5 TiB cannot be stored")
        with memoryview(data) as view:
            start, end = 0, len(view)
            while start < end:
                if self._buffer is None:
                    self._take_buffer()
                buffer = cast(bytearray, self._buffer)
                count = min(end - start, len(buffer) - self._filled)
                # In place: no intermediate bytes object, no growing and re-copying.
                buffer[self._filled : self._filled + count] = view[start : start + count]
                self._filled += count
                self.size += count
                start += count
                if self._filled == len(buffer):
                    self._send_full_part()
        try:
            self._renew_lease()
        except Conflict:
            self._closed = True
            self._release_resources()
            raise

    def _send_full_part(self) -> None:
        # The full buffer itself goes to the uploader (no copy); the next write takes a new one.
        data, reserved = cast(bytearray, self._buffer), self._reserved
        self._buffer, self._filled, self._reserved = None, 0, 0
        skip = min(self._buffer_hashed, len(data))
        self._buffer_hashed -= skip
        try:
            self._wait_for_room()
            if self._next_number > MAX_PARTS:
                self.abort()
                raise InvalidInput("files larger than 5 TiB cannot be stored")
            if self._upload_id is None:
                # Once, here: the parts in flight all need it.
                self._upload_id = self.storage.create_multipart(self.object_key)
        except BaseException as exc:
            self._budget.give_buffer(data, reserved)
            if not self._closed:
                self._fail(exc)
            raise
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._max_in_flight, thread_name_prefix="upload"
            )
        number = self._next_number
        self._next_number += 1
        previous = self._in_flight[-1] if self._in_flight else None
        self._in_flight.append(
            self._executor.submit(self._upload_part, number, data, skip, reserved, previous)
        )

    def _upload_part(
        self,
        number: int,
        data: bytearray,
        skip: int,
        reserved: int,
        previous: Future[None] | None,
    ) -> None:
        # Runs on one of the writer's upload threads; up to `upload_parts_in_flight` parts are
        # sent at once. Each part is then hashed and recorded strictly in order, after the part
        # before it: MD5 and SHA-256 run on the shared hashing pool (hashlib releases the GIL)
        # while later parts are still being sent, and the hashes always describe exactly the
        # parts recorded in the database.
        try:
            # Never send into an upload another writer has taken over.
            self._renew_lease()
            assert self._upload_id is not None
            try:
                part = self.storage.upload_part(
                    self.object_key, self._upload_id, number, _as_bytes(data)
                )
            except ObjectNotFound as exc:
                raise InvalidInput(
                    f"the stored part of {self.path} is gone (aborted by maintenance?); "
                    "upload the file again from the start"
                ) from exc
            if previous is not None:
                try:
                    previous.result()
                except BaseException as exc:
                    # Not recorded: a resume sends this part again (same number, replaced).
                    raise _EarlierPartFailed() from exc
            self._hash_in_order(data, skip)
            self._parts.append(part)
            self._record_progress()
            if self._hashes is not None:
                HASH_CACHE.put(self.pending_id, self.committed, *self._hashes)
        finally:
            self._budget.give_buffer(data, reserved)

    def _hash_in_order(self, data: bytearray, skip: int) -> None:
        if self._hashes is None:
            return
        saved = (self._hashes[0].copy(), self._hashes[1].copy())
        hashing = [_HASH_POOL.submit(_update, h, data, skip) for h in self._hashes]
        try:
            for future in hashing:
                future.result()
        except BaseException:
            # The hashes must match the committed bytes: put back the state before this part.
            for future in hashing:
                with contextlib.suppress(BaseException):
                    future.result()
            self._hashes = saved
            raise

    def _record_progress(self) -> None:
        with self.db.session() as session:
            result = session.execute(
                update(PendingUpload)
                .where(PendingUpload.id == self.pending_id, PendingUpload.holder == self.holder)
                .values(
                    s3_upload_id=self._upload_id,
                    parts=[
                        {"number": p.number, "etag": p.etag, "size": p.size} for p in self._parts
                    ],
                    committed_size=self.committed,
                    # The old tail (if resumed) is inside the parts now.
                    tail_key=None,
                    tail_size=0,
                    hash_state=(export_pair(self._hashes, self.committed) if self._hashes else {}),
                    held_until=utcnow() + self._lease,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"the upload to {self.path} was taken over by another session")
        self._renewed_at = time.monotonic()

    def _renew_lease(self, *, force: bool = False) -> None:
        """Extend the lease; `Conflict` if another writer has taken the upload over."""
        if not force and time.monotonic() - self._renewed_at < self._renew_every:
            return
        with self.db.session() as session:
            result = session.execute(
                update(PendingUpload)
                .where(PendingUpload.id == self.pending_id, PendingUpload.holder == self.holder)
                .values(held_until=utcnow() + self._lease)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"the upload to {self.path} was taken over by another session")
        self._renewed_at = time.monotonic()

    def _wait_for_room(self) -> None:
        while len(self._in_flight) >= self._max_in_flight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future = self._in_flight.popleft()
        try:
            future.result()
        except BaseException as exc:
            # Later parts depend on this one and fail with it; let them end first.
            self._drain()
            self._fail(_first_cause(exc))
            raise _first_cause(exc) from None

    def _drain(self) -> None:
        while self._in_flight:
            with contextlib.suppress(BaseException):
                self._in_flight.popleft().result()

    def _wait_in_flight(self) -> None:
        while self._in_flight:
            self._wait_oldest()

    def _check_background(self) -> None:
        if self._in_flight and self._in_flight[0].done():
            self._wait_oldest()

    def _fail(self, exc: BaseException) -> None:
        # The parts recorded so far stay resumable; bytes after them are lost to us and the
        # client re-sends them after SIZE + REST.
        log.warning("upload %s failed, kept resumable: %s", self.path, exc)
        self._closed = True
        if isinstance(exc, InvalidInput):
            self._discard()
        else:
            self._release_row(staged_tail=None)
        self._release_resources()

    # --- endings ----------------------------------------------------------------------

    def finish(self) -> FileView:
        """Store the last bytes and publish the file (entry, asset, job, event in one commit)."""
        if self._closed:
            raise Conflict(f"the upload to {self.path} has already ended")
        self._wait_in_flight()
        try:
            self._renew_lease(force=True)
        except Conflict:
            self._closed = True
            self._release_resources()
            raise
        content: bytes | None = None
        try:
            if self._upload_id is None and not self._parts:
                with self._pending_view() as view:
                    content = bytes(view)
                if content:
                    self.storage.put(self.object_key, content)
            else:
                if self._filled or not self._parts:
                    last = self._last_part()
                    if self._upload_id is None:
                        self._upload_id = self.storage.create_multipart(self.object_key)
                    self._parts.append(
                        self.storage.upload_part(
                            self.object_key, self._upload_id, self._next_number, last
                        )
                    )
                upload_id = self._upload_id
                assert upload_id is not None  # set by create_multipart above at the latest
                self.storage.complete_multipart(self.object_key, upload_id, self._parts)
        except ObjectNotFound as exc:
            error = InvalidInput(
                f"the stored parts of {self.path} are gone (aborted by maintenance?); "
                "upload the file again from the start"
            )
            self._fail(error)
            raise error from exc
        except BaseException as exc:
            self._fail(exc)
            raise
        md5, sha256 = self._final_hashes()
        try:
            published = self._publish(md5, sha256, content)
        except QuotaExceeded:
            self._closed = True
            self._discard()
            with contextlib.suppress(StorageError):
                self.storage.delete(self.object_key)
            self._release_resources()
            raise
        except BaseException:
            # The object is complete but unpublished; the client retries the upload.
            self._closed = True
            self._release_holder_only()
            self._release_resources()
            raise
        self._closed = True
        HASH_CACHE.forget(self.pending_id)
        if self._hashes is not None:
            # Whole-file state, for a continuation of this file in this process (REST/APPE
            # at its size), which then need not re-read it from S3.
            HASH_CACHE.put(complete_key(self.object_key), self.size, *self._hashes)
        self._release_resources()
        with contextlib.suppress(StorageError):
            self.storage.delete(tail_key(self.pending_id))
        return published

    def _last_part(self) -> bytes:
        # The filled bytes, without copying: the buffer is cut to them (and not reused).
        buffer = cast(bytearray, self._buffer)
        del buffer[self._filled :]
        return _as_bytes(buffer)

    def _final_hashes(self) -> tuple[str, str]:
        if self._hashes is not None:
            with self._pending_view() as view:
                self._hashes[0].update(view[self._buffer_hashed :])
                self._hashes[1].update(view[self._buffer_hashed :])
            return self._hashes[0].hexdigest(), self._hashes[1].hexdigest()
        # Resumed on another node: re-read the finished object once (see module docstring).
        md5, sha = new_pair()
        if self.size:
            for chunk in self.storage.open_stream(self.object_key, chunk_size=HASH_CHUNK):
                md5.update(chunk)
                sha.update(chunk)
        return md5.hexdigest(), sha.hexdigest()

    def _publish(self, md5: str, sha256: str, content: bytes | None) -> FileView:
        view = self._publish_with(
            Finished(
                pending_id=self.pending_id,
                holder=self.holder,
                org_id=self.org_id,
                user_id=self.user_id,
                path=self.path,
                object_key=self.object_key if self.size else None,
                size=self.size,
                md5=md5,
                sha256=sha256,
                asset_id=self.asset_id,
                content=content,
            )
        )
        self.path = view.path  # a rename while uploading moved it
        return view

    def interrupt(self) -> None:
        """Keep what was received resumable and release the upload (connection dropped)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._wait_in_flight()
        except BaseException:
            return  # _fail has recorded what is durable and released the row.
        staged: int | None = 0
        if self._filled:
            try:
                with self._pending_view() as view:
                    self.storage.put(tail_key(self.pending_id), bytes(view))
                staged = self._filled
            except StorageError as exc:
                log.warning("could not stage the tail of %s: %s", self.path, exc)
                staged = None
        if staged and self._hashes is not None:
            with self._pending_view() as view:
                self._hashes[0].update(view[self._buffer_hashed :])
                self._hashes[1].update(view[self._buffer_hashed :])
        try:
            self._release_row(staged_tail=staged)
        finally:
            self._release_resources()

    def _release_row(self, *, staged_tail: int | None) -> None:
        """Record what is durable and let the upload go; `staged_tail` None = not staged."""
        values: dict[str, Any] = {"holder": None, "held_until": None, "updated_at": utcnow()}
        if staged_tail is not None or len(self._parts) != self._initial_parts:
            # New parts (or a new tail): the row's old tail, if any, is inside them now.
            values.update(
                s3_upload_id=self._upload_id,
                parts=[{"number": p.number, "etag": p.etag, "size": p.size} for p in self._parts],
                committed_size=self.committed + (staged_tail or 0),
                tail_key=tail_key(self.pending_id) if staged_tail else None,
                tail_size=staged_tail or 0,
            )
        # Otherwise nothing new is durable and the row (old tail included) stays as it was.
        committed = values.get("committed_size", self.offset)
        # The hashes cover the parts, plus the buffer when it was staged.
        consistent = self._hashes is not None and (
            staged_tail is not None
            or (self._buffer_hashed == 0 and len(self._parts) != self._initial_parts)
        )
        if consistent and "committed_size" in values:
            assert self._hashes is not None
            values["hash_state"] = export_pair(self._hashes, committed)
        with contextlib.suppress(Exception), self.db.session() as session:
            mine = (PendingUpload.id == self.pending_id, PendingUpload.holder == self.holder)
            if committed == 0:
                # Nothing to resume: do not leave an empty pending file in the listing.
                session.execute(delete(PendingUpload).where(*mine))
                return
            session.execute(
                update(PendingUpload)
                .where(*mine)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if self._hashes is not None and consistent:
            HASH_CACHE.put(self.pending_id, committed, *self._hashes)

    def _release_holder_only(self) -> None:
        let_go(self.db, self.pending_id, self.holder)

    def abort(self) -> None:
        """Throw the upload away: no entry, no pending state, S3 parts freed."""
        if self._closed:
            return
        self._closed = True
        self._drain()
        self._discard()
        self._release_resources()

    def _discard(self) -> None:
        HASH_CACHE.forget(self.pending_id)
        owned = False
        with contextlib.suppress(Exception), self.db.session() as session:
            result = session.execute(
                delete(PendingUpload).where(
                    PendingUpload.id == self.pending_id, PendingUpload.holder == self.holder
                )
            )
            owned = result.rowcount == 1  # type: ignore[attr-defined]
        if not owned:
            # Another writer took the upload over: its S3 state is not ours to free.
            return
        # Best effort: what is left behind is swept by maintenance.
        with contextlib.suppress(StorageError):
            if self._upload_id is not None:
                self.storage.abort_multipart(self.object_key, self._upload_id)
        with contextlib.suppress(StorageError):
            self.storage.delete(tail_key(self.pending_id))

    def _release_resources(self) -> None:
        buffer, self._buffer, self._filled = self._buffer, None, 0
        if buffer is not None:
            self._budget.give_buffer(buffer, self._reserved)
        else:
            self._budget.release(self._reserved)
        self._reserved = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        release_holder(self.holder)

    def __del__(self) -> None:
        # A writer dropped without an ending must not keep its budget reservation.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self._budget.release(self._reserved)
                release_holder(self.holder)


class _EarlierPartFailed(Exception):
    """A part was sent but not recorded because a part before it failed."""


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, _EarlierPartFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc
