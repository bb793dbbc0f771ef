"""Streaming, resumable uploads into real SeaweedFS, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pool_core.db import Database
from pool_core.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    QuotaExceeded,
    StorageUnavailable,
)
from pool_core.files import tree
from pool_core.models import Asset, AssetStatus, ChangeEvent, FileState, Job, PendingUpload, utcnow
from pool_core.seaweed import EmbeddedSeaweed
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads import hashes
from pool_core.uploads.hashes import HASH_CACHE
from pool_core.uploads.lease import HOST
from pool_core.uploads.plan import MAX_OBJECT_SIZE, MemoryBudget, max_stream_size, part_size
from pool_core.uploads.service import UploadWriter, committed_size, open_upload
from tests.fixtures.orgs import new_org

PART = 6 << 20  # the smallest part size the settings allow
CHUNK = 64 * 1024


@pytest.fixture
def settings(storage_settings: Settings) -> Settings:
    """Small parts so a few dozen MiB make several parts."""
    return storage_settings.model_copy(
        update={"upload_part_size": PART, "upload_memory_budget": 64 << 20}
    )


@pytest.fixture
def org(database: Database) -> int:
    return new_org(database, "aztv")


def payload(size: int, seed: int = 1) -> bytes:
    # Cheap, non-repeating bytes (a repeating pattern could hide misplaced parts).
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def feed(writer: UploadWriter, data: bytes) -> None:
    for i in range(0, len(data), CHUNK):
        writer.write(data[i : i + CHUNK])
        # Memory stays bounded: less than one part waits in the buffer, a few are in flight.
        assert writer._filled < part_size(writer._next_number, PART)
        assert len(writer._in_flight) <= writer._max_in_flight


def second_node(database: Database, storage: S3Storage) -> tuple[Database, S3Storage]:
    """New Database and S3Storage objects on the same DB and bucket, no shared process state."""
    HASH_CACHE.clear()
    node_db = Database(database.url)
    node_storage = S3Storage(
        endpoint=storage.endpoint,
        access_key=storage.client._request_signer._credentials.access_key,
        secret_key=storage.client._request_signer._credentials.secret_key,
        bucket=storage.bucket,
    )
    return node_db, node_storage


@pytest.fixture
def other_node(database: Database, storage: S3Storage) -> Iterator[tuple[Database, S3Storage]]:
    node_db, node_storage = second_node(database, storage)
    yield node_db, node_storage
    node_db.dispose()


def test_part_plan_reaches_5_tib_within_10000_parts() -> None:
    assert max_stream_size(Settings().upload_part_size) >= MAX_OBJECT_SIZE
    assert max_stream_size(PART) >= MAX_OBJECT_SIZE
    assert part_size(1, 8 << 20) == 8 << 20
    assert part_size(1001, 8 << 20) == 16 << 20
    assert part_size(10_000, 8 << 20) <= 5 << 30


def test_multi_part_stream_is_byte_identical_and_published_in_one_go(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    data = payload(3 * PART + 12345)
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/ep01.mxf"
    )
    feed(writer, data)
    # Parts went up while the "client" was still sending (recorded as each one lands).
    assert writer._next_number == 4
    writer._wait_in_flight()
    with database.session() as session:
        assert committed_size(session, org_id=org, path="/incoming/ep01.mxf") == 3 * PART
        pending_view = tree.stat(session, org_id=org, path="/incoming/ep01.mxf")
        assert pending_view.state is FileState.UPLOADING
    view = writer.finish()
    assert view.size == len(data) and view.state is FileState.COMPLETE
    assert view.md5 == hashlib.md5(data).hexdigest()
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    with database.session() as session:
        asset = session.scalars(select(Asset)).one()
        assert asset.id == view.asset_id and asset.status is AssetStatus.RECEIVED
        assert asset.version == 1 and asset.sha256 == view.sha256
        assert asset.object_key == f"masters/{org}/{asset.id}/ep01.mxf"
        job = session.scalars(select(Job)).one()
        assert job.kind == "transcode" and job.payload == {"asset_id": str(asset.id)}
        event = session.scalars(select(ChangeEvent).where(ChangeEvent.kind == "asset.received"))
        assert event.one().subject_id == str(asset.id)
        assert session.scalars(select(PendingUpload)).all() == []
        assert committed_size(session, org_id=org, path="/incoming/ep01.mxf") is None
    stored = storage.get(asset.object_key)
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()
    assert storage.list_multipart_uploads() == []
    assert list(storage.list("staging/")) == []


def test_small_file_is_one_put_and_zero_byte_file_has_no_asset(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/notes.txt"
    )
    writer.write(b"hello ")
    writer.write(b"world")
    view = writer.finish()
    assert view.size == 11 and view.asset_id is None
    assert view.md5 == hashlib.md5(b"hello world").hexdigest()
    empty = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/empty.mxf"
    ).finish()
    assert empty.size == 0 and empty.asset_id is None
    assert empty.sha256 == hashlib.sha256(b"").hexdigest()
    with database.session() as session:
        assert session.scalars(select(Asset)).all() == []
        assert session.scalars(select(Job)).all() == []
        names = [v.name for v in tree.list_dir(session, org_id=org, path="/incoming")]
        assert names == ["empty.mxf", "notes.txt"]
        entry = tree.get_entry(session, org_id=org, path="/incoming/notes.txt")
        assert entry is not None and entry.object_key is not None
    assert storage.get(entry.object_key) == b"hello world"
    assert storage.list_multipart_uploads() == []


def test_interrupt_then_resume_on_another_node_is_identical(
    database: Database,
    storage: S3Storage,
    settings: Settings,
    org: int,
    other_node: tuple[Database, S3Storage],
) -> None:
    data = payload(3 * PART + 777_777, seed=2)
    cut = 2 * PART + 500_000  # two parts and a tail below one part
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/doc.mov"
    )
    feed(writer, data[:cut])
    writer.interrupt()
    HASH_CACHE.clear()  # the other node shares nothing in memory
    with database.session() as session:
        assert committed_size(session, org_id=org, path="/incoming/doc.mov") == cut
        listed = tree.list_dir(session, org_id=org, path="/incoming")
        assert [(v.name, v.size, v.state) for v in listed] == [
            ("doc.mov", cut, FileState.UPLOADING)
        ]
    assert [o.key for o in storage.list("staging/")] == [f"staging/{writer.pending_id}/tail"]
    if hashes.available():
        with database.session() as session:
            state = session.scalars(select(PendingUpload)).one().hash_state
        assert state["size"] == cut and state["format"] == hashes.STATE_FORMAT

    node_db, node_storage = other_node
    with node_db.session() as session:
        size = committed_size(session, org_id=org, path="/incoming/doc.mov")
    assert size == cut
    resumed = open_upload(
        node_db, node_storage, settings, org_id=org, user_id=None, path="/incoming/doc.mov",
        offset=cut,
    )  # fmt: skip
    feed(resumed, data[cut:])
    view = resumed.finish()
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    assert view.md5 == hashlib.md5(data).hexdigest()
    with database.session() as session:
        asset = session.scalars(select(Asset)).one()
    assert hashlib.sha256(storage.get(asset.object_key)).digest() == hashlib.sha256(data).digest()
    assert list(storage.list("staging/")) == []


def test_resume_in_the_same_process_twice_keeps_hashes(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    data = payload(2 * PART + 300_000, seed=3)
    offset = 0
    for cut in (PART // 2, PART + 100, len(data)):
        writer = open_upload(
            database, storage, settings, org_id=org, user_id=None, path="/incoming/a.wav",
            offset=offset,
        )  # fmt: skip
        feed(writer, data[offset:cut])
        if cut < len(data):
            writer.interrupt()
            offset = cut
        else:
            view = writer.finish()
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    assert view.md5 == hashlib.md5(data).hexdigest()


def test_crashed_writer_resumes_from_recorded_parts(
    database: Database,
    storage: S3Storage,
    settings: Settings,
    org: int,
    other_node: tuple[Database, S3Storage],
) -> None:
    data = payload(3 * PART + 5, seed=4)
    crashed = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/k.mxf"
    )
    feed(crashed, data[: 2 * PART + 1000])
    crashed._wait_in_flight()  # its last part reached S3 before the "kill -9"
    HASH_CACHE.clear()
    node_db, node_storage = other_node
    with node_db.write_session() as session:
        # A crashed node: its lease runs out (no interrupt, the tail in memory is lost).
        session.execute(update(PendingUpload).values(held_until=utcnow() - timedelta(seconds=1)))
    with node_db.session() as session:
        size = committed_size(session, org_id=org, path="/incoming/k.mxf")
    assert size == 2 * PART
    resumed = open_upload(
        node_db, node_storage, settings, org_id=org, user_id=None, path="/incoming/k.mxf",
        offset=size,
    )  # fmt: skip
    feed(resumed, data[size:])
    assert resumed.finish().sha256 == hashlib.sha256(data).hexdigest()
    # The crashed writer lost its lease and cannot publish over it.
    with pytest.raises(Conflict):
        crashed.finish()


def test_wrong_rest_offsets_and_concurrent_writers_refused(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    path = "/incoming/ep02.mxf"
    with pytest.raises(InvalidInput, match="no interrupted upload"):
        open_upload(database, storage, settings, org_id=org, user_id=None, path=path, offset=10)
    writer = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    writer.write(b"x" * 1000)
    with pytest.raises(Conflict, match="another session"):
        open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    writer.interrupt()
    for wrong in (999, 1001, 5000):
        with pytest.raises(InvalidInput, match="resume at 1000"):
            open_upload(
                database, storage, settings, org_id=org, user_id=None, path=path, offset=wrong
            )
    with pytest.raises(InvalidInput):
        open_upload(database, storage, settings, org_id=org, user_id=None, path=path, offset=-1)
    with pytest.raises(PermissionDenied):
        open_upload(database, storage, settings, org_id=org, user_id=None, path="/licensed/x")
    with pytest.raises(InvalidInput):
        open_upload(
            database, storage, settings, org_id=org, user_id=None, path="/incoming/nodir/x.mxf"
        )
    # Offset 0 restarts, discarding the interrupted upload.
    fresh = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    fresh.write(b"new")
    assert fresh.finish().size == 3
    finished = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    finished.abort()
    # A complete file continues only at its exact size (REST/APPE after a clean end).
    with pytest.raises(InvalidInput, match="complete with 3 bytes, so continue at 3"):
        open_upload(database, storage, settings, org_id=org, user_id=None, path=path, offset=2)
    # As on another node (no hash state of the finished file here): finish() re-reads it.
    HASH_CACHE.clear()
    more = open_upload(database, storage, settings, org_id=org, user_id=None, path=path, offset=3)
    more.write(b"er")
    view = more.finish()
    assert view.size == 5 and view.sha256 == hashlib.sha256(b"newer").hexdigest()
    assert view.md5 == hashlib.md5(b"newer").hexdigest()
    assert list(storage.list("staging/")) == []


def test_held_upload_cannot_be_deleted_or_renamed(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/busy.mxf"
    )
    writer.write(b"abc")
    with database.session() as session:
        with pytest.raises(Conflict):
            tree.delete_file(session, org_id=org, path="/incoming/busy.mxf")
        with pytest.raises(Conflict):
            tree.rename(session, org_id=org, source="/incoming/busy.mxf", target="/incoming/b.mxf")
    writer.interrupt()
    with database.session() as session:
        tree.delete_file(session, org_id=org, path="/incoming/busy.mxf")
        assert tree.list_dir(session, org_id=org, path="/incoming") == []


def test_upload_inside_renamed_folder_finishes_at_new_place(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    with database.session() as session:
        tree.make_dir(session, org_id=org, path="/incoming/s1")
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/s1/e.mov"
    )
    writer.write(b"12345")
    with database.session() as session:
        tree.rename(session, org_id=org, source="/incoming/s1", target="/incoming/S01")
    view = writer.finish()
    assert view.path == "/incoming/S01/e.mov" and view.size == 5


def test_quota_exceeded_discards_the_upload(
    database: Database, storage: S3Storage, settings: Settings
) -> None:
    org = new_org(database, "trt", quota_bytes=PART + 100)
    ok = open_upload(database, storage, settings, org_id=org, user_id=None, path="/incoming/a.mp4")
    ok.write(b"x" * 100)
    ok.finish()
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/big.mxf"
    )
    with pytest.raises(QuotaExceeded, match="quota"):
        feed(writer, payload(2 * PART))
    writer.interrupt()  # what the adapter does on the way out: a no-op now
    with database.session() as session:
        assert [v.name for v in tree.list_dir(session, org_id=org, path="/incoming")] == ["a.mp4"]
        assert session.scalars(select(PendingUpload)).all() == []
    assert storage.list_multipart_uploads() == []


def _dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_storage_failure_keeps_upload_resumable(
    database: Database, storage: S3Storage, settings: Settings, org: int, seaweed: EmbeddedSeaweed
) -> None:
    data = payload(3 * PART + 4242, seed=5)
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/f.mxf"
    )
    feed(writer, data[: PART + 10])
    writer._wait_in_flight()
    # From here on S3 is unreachable for this writer.
    writer.storage = S3Storage(
        endpoint=_dead_endpoint(),
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
        bucket=storage.bucket,
        max_attempts=1,
        connect_timeout=1,
    )
    with pytest.raises(StorageUnavailable):
        feed(writer, data[PART + 10 :])
        writer.finish()
    writer.interrupt()  # no-op after the failure
    with database.session() as session:
        size = committed_size(session, org_id=org, path="/incoming/f.mxf")
        assert tree.stat(session, org_id=org, path="/incoming/f.mxf").state is (FileState.UPLOADING)
        assert session.scalars(select(Asset)).all() == []
    assert size == PART
    resumed = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/f.mxf", offset=size
    )
    feed(resumed, data[size:])
    assert resumed.finish().sha256 == hashlib.sha256(data).hexdigest()


def test_overwrite_makes_a_new_asset_version(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    for content in (b"first", b"second"):
        writer = open_upload(
            database, storage, settings, org_id=org, user_id=None, path="/incoming/x.mxf"
        )
        writer.write(content)
        view = writer.finish()
    with database.session() as session:
        assets = session.scalars(select(Asset).order_by(Asset.version)).all()
        assert [a.version for a in assets] == [1, 2]
        assert view.asset_id == assets[1].id and view.size == 6
        assert storage.get(assets[0].object_key) == b"first"
        assert len(session.scalars(select(Job)).all()) == 2


def test_two_orgs_uploads_are_isolated(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    other = new_org(database, "kyrgyz")
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/same.mxf"
    )
    writer.write(os.urandom(100))
    writer.interrupt()
    with database.session() as session:
        assert committed_size(session, org_id=other, path="/incoming/same.mxf") is None
        assert tree.list_dir(session, org_id=other, path="/incoming") == []
    # The other org writes the same path independently.
    theirs = open_upload(
        database, storage, settings, org_id=other, user_id=None, path="/incoming/same.mxf"
    )
    theirs.write(b"k")
    assert theirs.finish().size == 1
    with pytest.raises(InvalidInput):
        open_upload(
            database, storage, settings, org_id=other, user_id=None, path="/incoming/same.mxf",
            offset=100,
        )  # fmt: skip


def test_memory_budget_waits_for_room_and_never_blocks_a_lone_part() -> None:
    budget = MemoryBudget(10)
    assert budget.acquire(6) == 6
    # Larger than the whole budget: capped, and it waits only while others hold memory.
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(budget.acquire(50)))
    waiter.start()
    waiter.join(timeout=0.2)
    assert got == [] and waiter.is_alive()
    budget.release(6)
    waiter.join()
    assert got == [10] and budget.used == 10
    budget.release(10)
    assert MemoryBudget(0).acquire(1 << 30) == 0  # 0 = unlimited, nothing reserved


def test_upload_held_by_a_dead_process_is_taken_over_at_once(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/dead.mxf"
    )
    writer.write(b"abc")
    writer.interrupt()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with database.write_session() as session:
        session.execute(
            update(PendingUpload).values(
                holder=f"{HOST}:{child.pid}:gone", held_until=utcnow() + timedelta(hours=1)
            )
        )
    resumed = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/dead.mxf", offset=3
    )
    resumed.write(b"def")
    assert resumed.finish().md5 == hashlib.md5(b"abcdef").hexdigest()


def test_concurrent_uploads_all_land_byte_identical(
    database: Database, storage: S3Storage, settings: Settings, org: int
) -> None:
    sizes = [PART + 1, 2 * PART + 3, 100, 0, PART - 1, 3 * PART]
    data = [payload(size, seed=10 + i) for i, size in enumerate(sizes)]
    errors: list[BaseException] = []

    def upload(i: int) -> None:
        try:
            writer = open_upload(
                database, storage, settings, org_id=org, user_id=None, path=f"/incoming/c{i}.mxf"
            )
            feed(writer, data[i])
            writer.finish()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(sizes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        for i, content in enumerate(data):
            view = tree.stat(session, org_id=org, path=f"/incoming/c{i}.mxf")
            assert view.size == len(content)
            assert view.sha256 == hashlib.sha256(content).hexdigest()
            entry = tree.get_entry(session, org_id=org, path=f"/incoming/c{i}.mxf")
            assert entry is not None
            if content:
                assert storage.get(entry.object_key or "") == content


def test_resume_without_saved_hash_state_re_reads_the_object(
    database: Database,
    storage: S3Storage,
    settings: Settings,
    org: int,
    other_node: tuple[Database, S3Storage],
) -> None:
    data = payload(2 * PART + 999, seed=7)
    cut = PART + 12_345
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/r.mxf"
    )
    feed(writer, data[:cut])
    writer.interrupt()
    node_db, node_storage = other_node
    with node_db.write_session() as session:
        # As if written by a node without serialisable hashing.
        session.execute(update(PendingUpload).values(hash_state={}))
    HASH_CACHE.clear()  # and this is another process
    resumed = open_upload(
        node_db, node_storage, settings, org_id=org, user_id=None, path="/incoming/r.mxf",
        offset=cut,
    )  # fmt: skip
    assert resumed._hashes is None
    feed(resumed, data[cut:])
    view = resumed.finish()
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    assert view.md5 == hashlib.md5(data).hexdigest()


@pytest.mark.skipif(not hashes.available(), reason="libcrypto low-level hashing unavailable")
def test_serialisable_hashes_continue_exactly() -> None:
    data = payload(3_000_001, seed=8)
    md5, sha = hashes.new_pair()
    md5.update(data[:1_000_000])
    sha.update(bytearray(data[:1_000_000]))
    state = hashes.export_pair((md5, sha), 1_000_000)
    restored = hashes.import_pair(state, 1_000_000)
    assert restored is not None
    with memoryview(bytearray(data)) as view:
        restored[0].update(view[1_000_000:])
        restored[1].update(view[1_000_000:])
    assert restored[0].hexdigest() == hashlib.md5(data).hexdigest()
    assert restored[1].hexdigest() == hashlib.sha256(data).hexdigest()
    assert hashes.import_pair(state, 999) is None  # a state for another size is useless
    assert hashes.import_pair({**state, "format": "other"}, 1_000_000) is None
