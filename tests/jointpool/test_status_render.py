"""The text screen of `jointpool status` and its `--json` twin, through the command line."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from jointpool.cli import main
from jointpool.status import duration, size
from pool_core import migrate
from pool_core.db import Database
from pool_core.models import JobStatus, Node, PendingUpload, utcnow
from pool_core.queue import enqueue
from tests.fixtures.orgs import make_org


def test_durations_and_sizes_read_like_a_person_writes_them() -> None:
    assert [duration(s) for s in (0, 59, 60, 3599, 3600 + 5 * 60, 2 * 86400 + 4 * 3600)] == [
        "0 s",
        "59 s",
        "1 min",
        "59 min",
        "1 h 05 min",
        "2 d 04 h",
    ]
    assert [size(n) for n in (0, 1023, 1536, 3 * 1024**3, 5 * 1024**5)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "3.0 GiB",
        "5120.0 TiB",
    ]


def test_status_command_prints_one_screen_and_the_same_data_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOINTPOOL_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    monkeypatch.setenv("JOINTPOOL_DATABASE_URL", url)
    migrate.upgrade(url)
    db = Database(url)
    now = utcnow()
    with db.write_session() as session:
        az = make_org(session, "aztv", quota_bytes=4 * 1024**3)
        session.add(
            Node(
                kind="ftp",
                hostname="pool-1",
                pid=12,
                version="9.9",
                started_at=now - timedelta(hours=5),
                last_seen_at=now,
                address="0.0.0.0:2121",
            )
        )
        session.add(
            Node(
                kind="worker",
                hostname="pool-2",
                pid=13,
                version="9.9",
                started_at=now - timedelta(days=2),
                last_seen_at=now - timedelta(minutes=3),
            )
        )
        enqueue(session, kind="transcode", payload={}, run_after=now - timedelta(minutes=4))
        failed = enqueue(session, kind="transcode", payload={})
        failed.status, failed.finished_at, failed.attempts = JobStatus.FAILED, now, 5
        failed.last_error = "ffmpeg exited 1: Invalid data found\nframe 12 ..."
        session.add(
            PendingUpload(
                org_id=az.id,
                path="/incoming/big.mxf",
                object_key="k",
                committed_size=3 * 1024**3,
                created_at=now - timedelta(days=4),
                updated_at=now - timedelta(days=4),
            )
        )
    db.dispose()

    assert main(["status"]) == 0
    screen = capsys.readouterr().out
    assert "Nodes: 1 live, 1 stale" in screen
    # (Minutes, not seconds: a slow machine does not change these lines.)
    assert re.search(
        r"ftp    pool-1 pid 12 0.0.0.0:2121  version 9.9  up 5 h \d\d min  live", screen
    )
    assert re.search(r"worker pool-2 pid 13  version 9.9  STALE, last seen \d+ min ago", screen)
    assert "Queue: 1 queued, 0 running" in screen
    assert re.search(r"oldest waiting: transcode job \S+, waiting \d+ min", screen)
    assert "Failures in the last 24 h: 1 (transcode 1)" in screen
    assert "after 5 attempt(s): ffmpeg exited 1: Invalid data found" in screen
    assert "frame 12" not in screen  # one line per failure
    assert "aztv          3.0 GiB of 4.0 GiB (75.0 %)" in screen
    assert "Unfinished uploads: 1 (1 stale)" in screen
    assert "aztv:/incoming/big.mxf 3.0 GiB (pending, idle 4 d 00 h, STALE)" in screen, screen
    assert "Licenses expiring within 7 days: 0" in screen

    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(n["kind"], n["live"]) for n in data["nodes"]] == [("ftp", True), ("worker", False)]
    assert data["failures_24h"] == 1 and data["queue"][0]["queued"] == 1
    assert data["storage"][0]["used_fraction"] == 0.75
    assert data["uploads"][0]["stale"] is True
