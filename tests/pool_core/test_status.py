"""`pool_core.status` and node heartbeats on a seeded database (SQLite and PostgreSQL)."""
# An Azerbaijani title (with the dotless i) is test data.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import (
    Asset,
    Job,
    JobStatus,
    License,
    LicenseStatus,
    LicenseType,
    Node,
    PendingUpload,
    Title,
    TitleKind,
    utcnow,
)
from pool_core.nodes import Heartbeat, heartbeating, pool_version
from pool_core.queue import enqueue
from pool_core.status import collect
from pool_core.uploads.quota import used_bytes
from tests.fixtures.ftp import wait_until
from tests.fixtures.orgs import make_org

HEARTBEAT = 10.0


def _status(database: Database, *, stale_upload_hours: float = 24.0) -> dict:  # type: ignore[type-arg]
    with database.session() as session:
        return collect(
            session, heartbeat_seconds=HEARTBEAT, stale_upload_hours=stale_upload_hours
        ).as_dict()


def test_heartbeat_registers_refreshes_and_deletes_its_row(database: Database) -> None:
    with heartbeating(database, kind="ftp", interval=3600, address="127.0.0.1:2100") as beat:
        with database.session() as session:
            node = session.get(Node, beat.node_id)
            assert node is not None
            assert (node.kind, node.pid, node.address) == ("ftp", os.getpid(), "127.0.0.1:2100")
            assert node.version == pool_version()
            first_seen = node.last_seen_at
        # Someone deleted the row (a cleanup, a restore): the next beat puts it back.
        with database.write_session() as session:
            session.delete(session.get(Node, beat.node_id))
        beat.beat()
        with database.session() as session:
            node = session.get(Node, beat.node_id)
            assert node is not None and node.last_seen_at >= first_seen
            assert node.started_at == beat.started_at
    with database.session() as session:
        assert session.scalars(select(Node)).all() == []


def test_heartbeat_thread_beats_every_interval(database: Database) -> None:
    beat = Heartbeat(database, kind="worker", interval=0.05)
    beat.start()
    try:
        with database.session() as session:
            first = session.get(Node, beat.node_id)
            assert first is not None
            registered = first.last_seen_at

        def moved() -> bool:
            with database.session() as session:
                node = session.get(Node, beat.node_id)
                return node is not None and node.last_seen_at > registered

        wait_until(moved, "a second heartbeat", timeout=30)
    finally:
        beat.stop()
    with database.session() as session:
        assert session.get(Node, beat.node_id) is None


def test_status_shows_live_and_stale_nodes_with_uptime(database: Database) -> None:
    now = utcnow()
    with database.write_session() as session:
        for kind, age in (("ftp", 5), ("api", 25), ("worker", 31)):
            session.add(
                Node(
                    kind=kind,
                    hostname="pool-1",
                    pid=100,
                    version="1.2.3",
                    started_at=now - timedelta(hours=2),
                    last_seen_at=now - timedelta(seconds=age),
                )
            )
    nodes = {node["kind"]: node for node in _status(database)["nodes"]}
    # Three heartbeats (30 s) is the limit: 25 s is a slow node, 31 s a gone one.
    assert nodes["ftp"]["live"] and nodes["api"]["live"]
    assert not nodes["worker"]["live"]
    assert 7200 <= nodes["ftp"]["uptime_seconds"] < 3 * 3600
    assert nodes["ftp"]["version"] == "1.2.3" and nodes["ftp"]["hostname"] == "pool-1"


def test_status_counts_the_queue_the_oldest_waiting_job_and_recent_failures(
    database: Database,
) -> None:
    now = utcnow()
    with database.session() as session:
        old = enqueue(session, kind="transcode", payload={}, run_after=now - timedelta(minutes=9))
        enqueue(session, kind="transcode", payload={}, run_after=now - timedelta(minutes=1))
        # Scheduled for later: queued, but not waiting behind anything.
        enqueue(session, kind="nightly", payload={}, run_after=now + timedelta(hours=5))
        running = enqueue(session, kind="webhook", payload={})
        running.status = JobStatus.RUNNING
        for hours_ago, kind in ((1, "transcode"), (3, "transcode"), (30, "webhook")):
            failed = enqueue(session, kind=kind, payload={})
            failed.status = JobStatus.FAILED
            failed.finished_at = now - timedelta(hours=hours_ago)
            failed.attempts = 5
            failed.last_error = f"ffmpeg exited 1\nsecond line {hours_ago}"
        old_id = str(old.id)
    status = _status(database)
    assert {line["kind"]: (line["queued"], line["running"]) for line in status["queue"]} == {
        "nightly": (1, 0),
        "transcode": (2, 0),
        "webhook": (0, 1),
    }
    oldest = status["oldest_waiting"]
    assert oldest["id"] == old_id and oldest["kind"] == "transcode"
    assert oldest["waiting_seconds"] >= 540
    # The 30-hour-old failure is outside the window.
    assert status["failures_24h"] == 2 and status["failures_by_kind"] == {"transcode": 2}
    assert [f["reason"] for f in status["recent_failures"]] == ["ffmpeg exited 1"] * 2


def test_status_storage_against_quota_uses_the_quota_rule(database: Database) -> None:
    with database.write_session() as session:
        az = make_org(session, "aztv", quota_bytes=1000)
        make_org(session, "kz", country="KZ")
        session.add(
            Asset(
                org_id=az.id,
                source_path="/incoming/ep1.mxf",
                filename="ep1.mxf",
                object_key="masters/aztv/x/ep1.mxf",
                size=600,
            )
        )
        session.add(
            PendingUpload(
                org_id=az.id, path="/incoming/ep2.mxf", object_key="k", committed_size=300
            )
        )
        session.flush()
        expected = used_bytes(session, org_id=az.id)
    storage = {line["org"]: line for line in _status(database)["storage"]}
    assert expected == 900
    assert storage["aztv"]["used_bytes"] == 900 and storage["aztv"]["quota_bytes"] == 1000
    assert storage["aztv"]["used_fraction"] == 0.9
    assert storage["kz"]["quota_bytes"] is None and storage["kz"]["used_fraction"] is None


def test_status_lists_pending_and_stale_uploads(database: Database) -> None:
    now = utcnow()
    with database.write_session() as session:
        az = make_org(session, "aztv")
        session.add(PendingUpload(org_id=az.id, path="/incoming/fresh.mxf", object_key="a"))
        session.add(
            PendingUpload(
                org_id=az.id,
                path="/incoming/forgotten.mxf",
                object_key="b",
                committed_size=42,
                created_at=now - timedelta(days=3),
                updated_at=now - timedelta(days=3),
            )
        )
    uploads = {u["path"]: u for u in _status(database, stale_upload_hours=24)["uploads"]}
    assert set(uploads) == {"/incoming/fresh.mxf", "/incoming/forgotten.mxf"}
    assert not uploads["/incoming/fresh.mxf"]["stale"]
    assert uploads["/incoming/forgotten.mxf"]["stale"]
    assert uploads["/incoming/forgotten.mxf"]["org"] == "aztv"
    assert uploads["/incoming/forgotten.mxf"]["size"] == 42


def test_status_lists_licenses_expiring_this_week_only(database: Database) -> None:
    now = utcnow()
    with database.write_session() as session:
        az = make_org(session, "aztv")
        kz = make_org(session, "kz", country="KZ")
        title = Title(org_id=az.id, kind=TitleKind.SERIAL, original_title="Qız qalası")
        session.add(title)
        session.flush()
        for days, state in ((2, LicenseStatus.ACTIVE), (6, LicenseStatus.ACTIVE),
                            (10, LicenseStatus.ACTIVE), (3, LicenseStatus.REVOKED),
                            (-1, LicenseStatus.ACTIVE)):  # fmt: skip
            session.add(
                License(
                    title_id=title.id,
                    licensor_org_id=az.id,
                    licensee_org_id=kz.id,
                    starts_at=now - timedelta(days=30),
                    ends_at=now + timedelta(days=days),
                    license_type=LicenseType.FREE_EXCHANGE,
                    status=state,
                )
            )
    expiring = _status(database)["expiring_licenses"]
    assert [(item["title"], item["licensor"], item["licensee"]) for item in expiring] == [
        ("Qız qalası", "aztv", "kz")
    ] * 2
    assert expiring[0]["ends_at"] < expiring[1]["ends_at"]


def test_status_json_is_serialisable(database: Database) -> None:
    with database.session() as session:
        enqueue(session, kind="transcode", payload={"asset_id": str(uuid.uuid4())})
    with heartbeating(database, kind="api", interval=3600):
        text = json.dumps(_status(database))
    assert '"kind": "api"' in text


def test_enqueue_outside_any_request_keeps_the_payload_as_given(database: Database) -> None:
    with database.session() as session:
        job = enqueue(session, kind="transcode", payload={"asset_id": "a"})
        job_id = job.id
    with database.session() as session:
        stored = session.get(Job, job_id)
        assert stored is not None and stored.payload == {"asset_id": "a"}
