"""Workers as separate processes sharing the database and S3: no duplicate work, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, ChangeEvent, Job, JobStatus, Rendition
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import load_asset, make_asset
from transcode.worker import build_runner

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], T | None], seconds: float, *, every: float = 0.05) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {seconds} s")


class Workers:
    """Starts worker processes with the test's settings and always stops them."""

    def __init__(
        self, settings: Settings, db_url: str, tmp_path: Path, *, lease_seconds: float = 3
    ) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "JOINTPOOL_DATABASE_URL": db_url,
            "JOINTPOOL_S3_ENDPOINT": settings.s3_endpoint,
            "JOINTPOOL_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
            "JOINTPOOL_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
            "JOINTPOOL_S3_BUCKET": settings.s3_bucket,
            "JOINTPOOL_DATA_DIR": str(tmp_path),
            "JOINTPOOL_TRANSCODE_TMP_DIR": str(settings.transcode_tmp_dir),
            "JOINTPOOL_WORKER_CONCURRENCY": "1",
            "JOINTPOOL_JOB_LEASE_SECONDS": str(lease_seconds),
            "JOINTPOOL_JOB_POLL_SECONDS": "0.2",
            "JOINTPOOL_JOB_BACKOFF_SECONDS": "0.5",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        ready = self.tmp_path / f"ready-{uuid.uuid4().hex}"
        log = open(self.tmp_path / f"{ready.name}.log", "wb")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.transcode.worker_process", str(ready)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        wait_for(lambda: ready.exists() or process.poll() is not None, 60)
        assert process.poll() is None, (self.tmp_path / f"{ready.name}.log").read_text()
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers_for(tc_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def make(db: Database, *, lease_seconds: float = 3) -> Workers:
        workers = Workers(tc_settings, db.url, tmp_path, lease_seconds=lease_seconds)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        workers.stop_all()


def ffmpeg_children(pid: int) -> list[int]:
    """Pids of ffmpeg processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if tail.split()[1] == str(pid) and "ffmpeg" in head.split("(", 1)[1]:
            found.append(int(stat.parent.name))
    return found


def test_two_workers_on_postgresql_share_twenty_assets_without_duplicates(
    pg_database: Database,
    storage: S3Storage,
    media: MediaFactory,
    workers_for: Callable[..., Workers],
) -> None:
    # A long lease: two ffmpeg processes fill both cores, and a renewal late by more than
    # two thirds of a short lease would let the idle worker take the job (a second attempt).
    workers = workers_for(pg_database, lease_seconds=15)
    workers.start()
    workers.start()
    master = media.path("h264_stereo_mp4")
    ids = {make_asset(pg_database, storage, master, enqueue=True) for _ in range(20)}

    def all_done() -> bool:
        with pg_database.session() as session:
            open_jobs = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            )
        return open_jobs == 0

    wait_for(all_done, 240, every=0.5)

    with pg_database.session() as session:
        jobs = list(session.scalars(select(Job)))
        statuses = {asset.status for asset in session.scalars(select(Asset))}
        ready_events = list(
            session.scalars(select(ChangeEvent.subject_id).where(ChangeEvent.kind == "asset.ready"))
        )
        proxies = list(session.scalars(select(Rendition.asset_id).where(Rendition.kind == "proxy")))
    assert {job.status for job in jobs} == {JobStatus.SUCCEEDED}
    assert [job.attempts for job in jobs] == [1] * 20, "a job ran twice"
    assert len({job.locked_by for job in jobs}) == 2, "both workers should have taken jobs"
    assert statuses == {AssetStatus.READY}
    assert sorted(ready_events) == sorted(ids), "one asset.ready per asset, none twice"
    assert sorted(str(asset_id) for asset_id in proxies) == sorted(ids)


def test_kill_9_mid_transcode_another_worker_finishes_with_one_set_of_renditions(
    database: Database,
    storage: S3Storage,
    media: MediaFactory,
    workers_for: Callable[[Database], Workers],
) -> None:
    workers = workers_for(database)
    victim = workers.start()
    asset_id = make_asset(database, storage, media.path("xdcam_mxf"), enqueue=True)

    ffmpeg_pids = wait_for(lambda: ffmpeg_children(victim.pid), 60, every=0.02)
    assert load_asset(database, asset_id).status is AssetStatus.PROCESSING
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    # ffmpeg dies with its worker instead of running on as an orphan.
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in ffmpeg_pids), 10)

    workers.start()

    def finished() -> Job | None:
        with database.session() as session:
            job = session.scalars(select(Job)).one()
        return job if job.status is JobStatus.SUCCEEDED else None

    job = wait_for(finished, 120, every=0.2)
    assert job.attempts == 2
    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY
    keys = sorted(r.object_key for r in asset.renditions)
    assert len(keys) == len(set(keys))
    assert sorted(info.key for info in storage.list(f"renditions/{asset_id}/")) == keys
    with database.session() as session:
        kinds = list(
            session.scalars(select(ChangeEvent.kind).where(ChangeEvent.subject_id == asset_id))
        )
    assert kinds == ["asset.ready"]


def test_runner_fails_a_broken_master_at_once_and_keeps_going(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = make_asset(database, storage, media.path("not_media.mxf"), enqueue=True)
    good = make_asset(database, storage, media.path("h264_stereo_mp4"), enqueue=True)
    runner = build_runner(tc_settings, database, storage, poll_interval=0.1, backoff_seconds=0.1)

    caplog.set_level("INFO")
    assert runner.run_until_idle() == 2

    # The console gets one line per master, at INFO for the ready one, WARNING for the failure.
    about_good = [r for r in caplog.records if good in r.getMessage() and r.levelname == "INFO"]
    assert [r.getMessage().split(",")[0] for r in about_good] == [f"transcode: asset {good} ready"]
    about_broken = [r for r in caplog.records if broken in r.getMessage()]
    assert [r.levelname for r in about_broken if r.levelno >= 30] == ["WARNING"]

    with database.session() as session:
        jobs = {job.payload["asset_id"]: job for job in session.scalars(select(Job))}
    assert jobs[broken].status is JobStatus.FAILED and jobs[broken].attempts == 1
    assert "not a media file ffmpeg can read" in (jobs[broken].last_error or "")
    assert jobs[good].status is JobStatus.SUCCEEDED
    assert load_asset(database, broken).status is AssetStatus.FAILED
    assert load_asset(database, good).status is AssetStatus.READY
