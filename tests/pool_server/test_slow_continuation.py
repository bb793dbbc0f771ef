"""A continuation slower than the settle window still replaces the short master (issue 12).

A short master completes cleanly; its continuation (APPE at its size) starts inside the
window but its sender pauses past it, as a multi-GB master over a slow link does. The real
job runner's settle job must not announce the short version meanwhile: it looks again one
window later, and the whole file ends as the one asset version, announced once.
"""

from __future__ import annotations

import hashlib
import io
import threading

from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, ChangeEvent, Job, JobStatus
from pool_core.queue import JobRunner
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.settle import SETTLE_JOB
from pool_core.uploads.settle import build_handlers as settle_handlers
from pool_core.uploads.status import list_unfinished
from tests.fixtures.ftp import (
    connect_tls,
    ftp_test_settings,
    make_account,
    start_ftp_server,
    wait_until,
)

MIB = 1 << 20
WINDOW = 1.5


def _settle_jobs(db: Database) -> list[JobStatus]:
    with db.session() as session:
        return list(session.scalars(select(Job.status).where(Job.kind == SETTLE_JOB)))


def _received(db: Database) -> list[dict[str, object]]:
    with db.session() as session:
        return [
            e.data
            for e in session.scalars(
                select(ChangeEvent).where(ChangeEvent.kind == "asset.received")
            )
        ]


def test_a_continuation_slower_than_the_window_replaces_the_short_master(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    account = make_account(database, "ortk", country="KZ")
    settings = ftp_test_settings(
        storage_settings, upload_part_size=5 * MIB, upload_settle_seconds=WINDOW
    )
    data = hashlib.shake_256(b"slow continuation").digest(10 * MIB + 123)
    cut = 6 * MIB + 5  # one whole part (copied inside S3) plus a tail
    path = "/incoming/slow.mxf"
    runner = JobRunner(
        database,
        handlers=settle_handlers(database, recheck_seconds=WINDOW),
        concurrency=1,
        lease_seconds=60,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    worker = threading.Thread(target=runner.run_forever, daemon=True)
    worker.start()
    try:
        with start_ftp_server(settings, database, storage) as ftp:
            first = connect_tls(ftp, account)
            assert first.storbinary(f"STOR {path}", io.BytesIO(data[:cut])).startswith("226")
            first.quit()
            slow = connect_tls(ftp, account)
            slow.voidcmd("TYPE I")
            conn = slow.transfercmd(f"APPE {path}")
            conn.sendall(data[cut : cut + MIB])
            # The sender pauses: the window ends, the settle job runs, finds the continuation
            # pending and queues itself again instead of announcing the short master.
            wait_until(
                lambda: (
                    sorted(s.value for s in _settle_jobs(database))[:2]
                    == [JobStatus.QUEUED.value, JobStatus.SUCCEEDED.value]
                ),
                "the settle job to run once and queue its re-check",
                timeout=90,
                interval=0.05,
            )
            assert _received(database) == []
            with database.session() as session:
                states = {u.state: u.path for u in list_unfinished(session, org_id=account.org_id)}
            assert states == {"settling": path, "pending": path}
            conn.sendall(data[cut + MIB :])
            conn.unwrap().close()
            assert slow.voidresp().startswith("226")
            assert slow.sendcmd(f"XSHA256 {path}")[4:].lower() == hashlib.sha256(data).hexdigest()
            slow.quit()
        wait_until(
            lambda: _received(database),
            "the whole master to be announced",
            timeout=90,
            interval=0.05,
        )
        wait_until(
            lambda: all(s is JobStatus.SUCCEEDED for s in _settle_jobs(database)),
            "every settle job to end",
            timeout=90,
            interval=0.05,
        )
    finally:
        runner.stop()
        worker.join(timeout=60)
    digest = hashlib.sha256(data).hexdigest()
    with database.session() as session:
        assets = session.scalars(select(Asset).where(Asset.source_path == path)).all()
        assert [(a.size, a.sha256, a.version) for a in assets] == [(len(data), digest, 1)]
        final = str(assets[0].id)
    received = _received(database)
    assert [(e["sha256"], e["size"], e["version"]) for e in received] == [(digest, len(data), 1)]
    with database.session() as session:
        subjects = session.scalars(
            select(ChangeEvent.subject_id).where(ChangeEvent.subject_type == "asset")
        ).all()
    assert set(subjects) == {final}
