"""The settle window delays what announces a master, never its screening (issue 12)."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, ChangeEvent, Job, JobStatus, utcnow
from pool_core.queue import JobRunner
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.declared import reject
from pool_core.uploads.service import open_upload
from pool_core.uploads.settle import SETTLE_JOB, settle
from pool_core.uploads.settle import build_handlers as settle_handlers
from pool_core.uploads.status import list_unfinished
from tests.fixtures.media import MediaFactory
from tests.fixtures.orgs import new_org
from transcode.worker import build_handlers as transcode_handlers

# Long enough for the 2 s, 640x360 master to be transcoded on a loaded 2-core machine.
WINDOW = 12.0


@pytest.fixture
def settings(storage_settings: Settings) -> Settings:
    """A short settle window, so the test sees both sides of it."""
    return storage_settings.model_copy(update={"upload_settle_seconds": WINDOW})


def _state(db: Database, path: str) -> tuple[AssetStatus | None, int, list[str]]:
    with db.session() as session:
        asset = session.scalar(select(Asset).where(Asset.source_path == path))
        if asset is None:
            return None, 0, []
        kinds = list(
            session.scalars(select(ChangeEvent.kind).where(ChangeEvent.subject_id == str(asset.id)))
        )
        return asset.status, len(asset.renditions), kinds


def test_transcode_starts_at_once_and_the_master_is_announced_when_it_settles(
    database: Database, storage: S3Storage, settings: Settings, media: MediaFactory
) -> None:
    org = new_org(database, "aztv")
    path = "/incoming/ep01.mp4"
    writer = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    writer.write(media.path("h264_mp4").read_bytes())
    writer.finish()
    completed = time.monotonic()
    with database.session() as session:
        queued = {j.kind: j.run_after for j in session.scalars(select(Job))}
    assert set(queued) == {"transcode", SETTLE_JOB}
    assert queued[SETTLE_JOB] > queued["transcode"]
    runner = JobRunner(
        database,
        handlers={**transcode_handlers(settings, database, storage), **settle_handlers(database)},
        concurrency=1,
        lease_seconds=120,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    worker = threading.Thread(target=runner.run_forever, daemon=True)
    worker.start()
    try:
        deadline = completed + 180
        ready_at = announced_at = None
        while announced_at is None and time.monotonic() < deadline:
            status, renditions, kinds = _state(database, path)
            if status is AssetStatus.READY and renditions and ready_at is None:
                ready_at = time.monotonic()
                # Screenable before it is announced: the window did not hold the transcode.
                assert "asset.received" not in kinds
            if "asset.received" in kinds:
                announced_at = time.monotonic()
            time.sleep(0.05)
    finally:
        runner.stop()
        worker.join(timeout=60)
    assert announced_at is not None, "the settle job never announced the master"
    assert announced_at - completed >= WINDOW - 0.5
    _, _, kinds = _state(database, path)
    assert kinds.count("asset.received") == 1
    with database.session() as session:
        settle_jobs = session.scalars(select(Job).where(Job.kind == SETTLE_JOB)).all()
        assert [j.status for j in settle_jobs] == [JobStatus.SUCCEEDED]
    # Screenable while the window was still open: the window did not hold the transcode.
    assert ready_at is not None and ready_at < announced_at


def _completed_master(
    database: Database, storage: S3Storage, settings: Settings, path: str, data: bytes
) -> uuid.UUID:
    org = new_org(database, "ktrk")
    writer = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    writer.write(data)
    writer.finish()
    with database.session() as session:
        asset_id = session.scalar(select(Asset.id).where(Asset.source_path == path))
    assert asset_id is not None
    return asset_id


def _received_events(database: Database, asset_id: uuid.UUID) -> list[dict[str, object]]:
    with database.session() as session:
        return [
            e.data
            for e in session.scalars(
                select(ChangeEvent).where(
                    ChangeEvent.kind == "asset.received", ChangeEvent.subject_id == str(asset_id)
                )
            )
        ]


def test_settle_twice_announces_once(
    database: Database, storage: S3Storage, settings: Settings
) -> None:
    data = b"master bytes " * 1000
    asset_id = _completed_master(database, storage, settings, "/incoming/twice.mxf", data)
    # The runner reruns a job whose handler committed but whose completion was not recorded.
    with database.write_session() as session:
        assert settle(session, asset_id=asset_id)
    with database.write_session() as session:
        assert not settle(session, asset_id=asset_id)
    events = _received_events(database, asset_id)
    assert [e["sha256"] for e in events] == [hashlib.sha256(data).hexdigest()]


def test_a_rejected_master_is_never_announced(
    database: Database, storage: S3Storage, settings: Settings
) -> None:
    asset_id = _completed_master(database, storage, settings, "/incoming/bad.mxf", b"x" * 999)
    with database.write_session() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        reject(session, asset, "incomplete: got 999 of 5000 bytes")
    with database.write_session() as session:
        assert not settle(session, asset_id=asset_id)
    assert _received_events(database, asset_id) == []


def test_settle_waits_while_a_continuation_is_pending(
    database: Database, storage: S3Storage, settings: Settings
) -> None:
    data = b"first half " * 1000
    path = "/incoming/cont.mxf"
    asset_id = _completed_master(database, storage, settings, path, data)
    with database.session() as session:
        org = session.get(Asset, asset_id).org_id  # type: ignore[union-attr]
    continuation = open_upload(
        database, storage, settings, org_id=org, user_id=None, path=path, offset=len(data)
    )
    try:
        before = utcnow()
        with database.write_session() as session:
            assert not settle(session, asset_id=asset_id, recheck_seconds=300)
        assert _received_events(database, asset_id) == []
        with database.session() as session:
            queued = session.scalars(
                select(Job).where(Job.kind == SETTLE_JOB, Job.status == JobStatus.QUEUED)
            ).all()
            # The original job (not run here, due after WINDOW) and the re-check in 300 s.
            later = [j.run_after for j in queued if j.run_after >= before + timedelta(seconds=299)]
            assert len(queued) == 2 and len(later) == 1
            assert [u.state for u in list_unfinished(session, org_id=org)] == [
                "settling",
                "pending",
            ]
        # Later re-checks back off, up to an hour (an abandoned continuation stays pending
        # until maintenance aborts it).
        with database.write_session() as session:
            assert not settle(session, asset_id=asset_id, recheck_seconds=300, rechecks=5)
        with database.session() as session:
            newest = session.scalars(
                select(Job).where(Job.kind == SETTLE_JOB).order_by(Job.run_after.desc())
            ).first()
            assert newest is not None and newest.payload["rechecks"] == 6
            assert before + timedelta(seconds=3590) <= newest.run_after
            assert newest.run_after <= utcnow() + timedelta(seconds=3600)
    finally:
        continuation.abort()
    # Given up (nothing pending any more): the short master settles as it is.
    with database.write_session() as session:
        assert settle(session, asset_id=asset_id)
    assert len(_received_events(database, asset_id)) == 1
