"""One master's story greps end to end in the JSON logs: FTP upload -> enqueue -> transcode.

`jointpool ftp` and `jointpool worker` run as the separate processes production runs, with
`JOINTPOOL_LOG_FORMAT=json`; a real FTP client uploads a master, the real worker transcodes it,
and the upload's id is then found in the FTP node's lines, in the line of the enqueue, in the
job's payload and in the worker's transcode lines. The nodes heartbeat while they run and
remove their rows when stopped.
"""

from __future__ import annotations

import ftplib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, Job, Node
from pool_core.settings import Settings
from tests.fixtures.api import free_loopback_port
from tests.fixtures.ftp import make_account, wait_until
from tests.fixtures.media import MediaFactory


def _environment(settings: Settings, database: Database, tmp_path: Path) -> dict[str, str]:
    low = random.randrange(40000, 60000, 100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(tmp_path),
        JOINTPOOL_DATABASE_URL=database.url,
        JOINTPOOL_S3_ENDPOINT=settings.s3_endpoint,
        JOINTPOOL_S3_ACCESS_KEY=settings.s3_access_key.get_secret_value(),
        JOINTPOOL_S3_SECRET_KEY=settings.s3_secret_key.get_secret_value(),
        JOINTPOOL_S3_BUCKET=settings.s3_bucket,
        JOINTPOOL_FTP_HOST="127.0.0.1",
        JOINTPOOL_FTP_PORT=str(free_loopback_port()),
        JOINTPOOL_FTP_PASSIVE_PORTS=f"{low}-{low + 99}",
        JOINTPOOL_FTP_REQUIRE_TLS="false",
        JOINTPOOL_UPLOAD_SETTLE_SECONDS="0",
        JOINTPOOL_TRANSCODE_TMP_DIR=str(tmp_path / "scratch"),
        JOINTPOOL_JOB_POLL_SECONDS="0.2",
        JOINTPOOL_HEARTBEAT_SECONDS="1",
        JOINTPOOL_LOG_FORMAT="json",
    )
    return env


class ServiceProcess:
    """A `jointpool COMMAND` child whose stderr (the log) goes to a file."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jointpool", command],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def stop(self) -> int:
        """SIGTERM, as an operator's clean stop; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def records(self) -> list[dict[str, Any]]:
        """Every log line, each parsed as JSON (a line that is not JSON fails the test)."""
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    """The children a test starts, stopped at the end whatever happens."""
    children: list[ServiceProcess] = []
    yield children
    for child in children:
        child.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_an_uploaded_master_greps_from_the_ftp_session_to_the_worker_transcode(
    database: Database,
    storage_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
    started: list[ServiceProcess],
) -> None:
    login = make_account(database, "aztv")
    env = _environment(storage_settings, database, tmp_path)
    (tmp_path / "scratch").mkdir()
    ftp = ServiceProcess("ftp", env, tmp_path / "ftp.log")
    worker = ServiceProcess("worker", env, tmp_path / "worker.log")
    started += [ftp, worker]
    port = int(env["JOINTPOOL_FTP_PORT"])
    wait_until(lambda: _accepts(port) or ftp.process.poll() is not None, "the FTP node listens")
    assert ftp.process.poll() is None, ftp.log.read_text()

    def kinds_live() -> set[str]:
        with database.session() as session:
            return {node.kind for node in session.scalars(select(Node))}

    wait_until(lambda: kinds_live() == {"ftp", "worker"}, "both nodes heartbeat", timeout=120)

    client = ftplib.FTP()
    client.connect("127.0.0.1", port, timeout=30)
    client.login(login.username, login.password)
    with media.path("h264_mp4").open("rb") as master:
        client.storbinary("STOR /incoming/story.mp4", master)
    client.quit()

    def transcoded() -> bool:
        with database.session() as session:
            asset = session.scalars(select(Asset)).first()
            return asset is not None and asset.status in (AssetStatus.READY, AssetStatus.FAILED)

    wait_until(transcoded, "the worker transcodes the master", timeout=300)
    with database.session() as session:
        asset = session.scalars(select(Asset)).one()
        assert asset.status is AssetStatus.READY, asset.failure_reason
        asset_id = str(asset.id)
        jobs = [
            job
            for job in session.scalars(select(Job).where(Job.kind == "transcode"))
            if job.payload.get("asset_id") == asset_id
        ]

    # The worker's "ready" line is written just before its job is marked done; stop both
    # nodes cleanly so every line is flushed, and check they took their rows with them.
    assert ftp.stop() == 0 and worker.stop() == 0
    assert kinds_live() == set()

    ftp_lines, worker_lines = ftp.records(), worker.records()
    started_line = next(r for r in ftp_lines if r["message"] == "upload started")
    upload_id = started_line["upload_id"]
    session_id = started_line["session_id"]
    assert started_line["path"] == "/incoming/story.mp4"
    assert {"time", "level", "logger", "message"} <= started_line.keys()

    story = [r for r in ftp_lines + worker_lines if r.get("upload_id") == upload_id]
    messages = [(r["component"], r["logger"], r["message"]) for r in story]
    # The FTP node: the upload's start and end, in the session that made it.
    ftp_story = [r for r in story if r["component"] == "ftp"]
    assert {"upload started", "upload complete"} <= {r["message"] for r in ftp_story}
    assert {r["session_id"] for r in ftp_story} == {session_id}
    # The completion transaction enqueued the transcode, and said so with the upload's id.
    enqueued = [r for r in story if r["logger"] == "pool_core.queue" and r["kind"] == "transcode"]
    assert enqueued, messages
    # The job carries the ids; the worker bound them again while transcoding.
    assert len(jobs) == 1 and jobs[0].payload["trace"]["upload_id"] == upload_id
    assert str(jobs[0].id) in {r["job_id"] for r in enqueued}
    transcode_lines = [
        r for r in story if r["component"] == "worker" and r["logger"].startswith("transcode")
    ]
    assert any(f"asset {asset_id} ready" in r["message"] for r in transcode_lines), messages
    # The session's other lines (the login) carry its id, not the upload's.
    assert any(r.get("session_id") == session_id and "upload_id" not in r for r in ftp_lines), (
        ftp_lines
    )
