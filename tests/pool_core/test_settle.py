"""The settle window delays what announces a master, never its screening (issue 12)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, ChangeEvent, Job, JobStatus
from pool_core.queue import JobRunner
from pool_core.services.uploads import open_upload
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.settle import SETTLE_JOB
from pool_core.uploads.settle import build_handlers as settle_handlers
from tests.fixtures.media import MediaFactory
from tests.pool_core.test_files import make_org
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
    org = make_org(database, "aztv")
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
