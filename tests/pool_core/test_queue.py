"""The durable job queue on SQLite and PostgreSQL: claiming, leases, retries, runners.

Multi-process tests start `tests/pool_core/queue_claimer.py` as real processes sharing one
database; nothing about the queue is faked. Waits are polls with generous bounds; the only
time assertions are "not claimed before run_after".
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select, update

from pool_core import queue
from pool_core.db import Database
from pool_core.errors import (
    Conflict,
    InvalidInput,
    JobError,
    StorageUnavailable,
    TransientJobError,
)
from pool_core.models import Base, Job, JobStatus, Organization, utcnow
from pool_core.settings import Settings
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, wait_until

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], seconds: float, *, every: float = 0.05) -> T:
    """Poll until probe returns something truthy, failing the test after a generous bound."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"nothing happened within {seconds}s")
        time.sleep(every)


def load(db: Database, job_id: uuid.UUID) -> Job:
    with db.session() as session:
        job = queue.get(session, job_id=job_id)
        assert job is not None
        return job


def expire_lease(db: Database, job_id: uuid.UUID) -> None:
    """Make a running job look abandoned, as if its runner died a while ago."""
    with db.write_session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def make_due(db: Database, job_id: uuid.UUID) -> None:
    """Skip a retry's wait (the wait itself is checked where it is set)."""
    with db.write_session() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(run_after=utcnow() - timedelta(seconds=1))
        )


def _enqueue(db: Database, kind: str = "noop", **kwargs: object) -> uuid.UUID:
    with db.session() as session:
        payload = kwargs.pop("payload", {})
        job = queue.enqueue(session, kind=kind, payload=payload, **kwargs)  # type: ignore[arg-type]
        return job.id


# --- enqueue ---------------------------------------------------------------------------------


def test_enqueue_is_part_of_the_callers_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        queue.enqueue(session, kind="transcode", payload={"asset": "a"})
        raise RuntimeError("the caller's unit of work fails after enqueueing")
    with database.session() as session:
        assert queue.list_jobs(session) == []

    with database.session() as session:
        job = queue.enqueue(session, kind="transcode", payload={"asset": "b"}, priority=3)
        assert job.id is not None  # flushed: the caller can reference it in the same unit
    with database.session() as session:
        [stored] = queue.list_jobs(session)
        assert (stored.kind, stored.payload, stored.status) == (
            "transcode",
            {"asset": "b"},
            JobStatus.QUEUED,
        )
        assert (stored.attempts, stored.max_attempts, stored.priority) == (0, 5, 3)


def test_enqueue_refuses_bad_input(database: Database) -> None:
    with database.session() as session:
        with pytest.raises(InvalidInput, match="JSON"):
            queue.enqueue(session, kind="x", payload={"when": object()})
        with pytest.raises(InvalidInput, match="timezone"):
            queue.enqueue(session, kind="x", payload={}, run_after=utcnow().replace(tzinfo=None))
        with pytest.raises(InvalidInput, match="max_attempts"):
            queue.enqueue(session, kind="x", payload={}, max_attempts=0)
        with pytest.raises(InvalidInput, match="kind"):
            queue.enqueue(session, kind="", payload={})


# --- claiming --------------------------------------------------------------------------------


def test_scheduled_job_is_not_claimed_before_run_after(database: Database) -> None:
    run_after = utcnow() + timedelta(seconds=5)
    job_id = _enqueue(database, run_after=run_after)

    asked_at = utcnow()
    early = queue.claim(database, worker_id="w1", lease_seconds=30)
    # (A machine stalled past run_after may rightly hand it out: only an early claim is wrong.)
    assert early is None or asked_at >= run_after
    claimed = early or wait_for(lambda: queue.claim(database, worker_id="w1", lease_seconds=30), 30)
    assert utcnow() >= run_after
    assert claimed.id == job_id
    assert (claimed.status, claimed.locked_by, claimed.attempts) == (JobStatus.RUNNING, "w1", 1)
    assert claimed.lease_expires_at is not None and claimed.lease_expires_at > utcnow()


def test_claim_takes_higher_priority_first_and_filters_kinds(database: Database) -> None:
    low = _enqueue(database, kind="a", priority=0)
    high = _enqueue(database, kind="a", priority=10)
    other = _enqueue(database, kind="b", priority=99)

    first = queue.claim(database, worker_id="w", kinds=["a"], lease_seconds=30)
    second = queue.claim(database, worker_id="w", kinds=["a"], lease_seconds=30)
    assert first is not None and second is not None
    assert (first.id, second.id) == (high, low)
    assert queue.claim(database, worker_id="w", kinds=["a"], lease_seconds=30) is None
    assert queue.claim(database, worker_id="w", kinds=[], lease_seconds=30) is None
    third = queue.claim(database, worker_id="w", lease_seconds=30)
    assert third is not None and third.id == other


def test_complete_marks_succeeded(database: Database) -> None:
    job_id = _enqueue(database)
    job = queue.claim(database, worker_id="w", lease_seconds=30)
    assert job is not None
    assert queue.renew(database, job_id=job_id, worker_id="w", lease_seconds=30)
    assert queue.complete(database, job_id=job_id, worker_id="w")
    done = load(database, job_id)
    assert done.status == JobStatus.SUCCEEDED and done.finished_at is not None
    assert queue.claim(database, worker_id="w", lease_seconds=30) is None


# --- leases ----------------------------------------------------------------------------------


def test_runner_that_lost_its_lease_cannot_complete_or_fail(database: Database) -> None:
    job_id = _enqueue(database)
    assert queue.claim(database, worker_id="old", lease_seconds=30) is not None
    expire_lease(database, job_id)

    taken = queue.claim(database, worker_id="new", lease_seconds=30)
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    assert "lease of old expired" in (taken.last_error or "")

    assert not queue.renew(database, job_id=job_id, worker_id="old", lease_seconds=30)
    assert not queue.complete(database, job_id=job_id, worker_id="old")
    assert not queue.fail(
        database, job_id=job_id, worker_id="old", error="late", retry=False, backoff_seconds=1
    )
    assert not queue.release(database, job_id=job_id, worker_id="old")
    still = load(database, job_id)
    assert (still.status, still.locked_by, still.attempts) == (JobStatus.RUNNING, "new", 2)

    assert queue.complete(database, job_id=job_id, worker_id="new", attempt=2)
    assert load(database, job_id).status == JobStatus.SUCCEEDED


def test_attempt_fences_a_runners_own_stale_claim(database: Database) -> None:
    job_id = _enqueue(database)
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    expire_lease(database, job_id)
    again = queue.claim(database, worker_id="w", lease_seconds=30)
    assert again is not None and again.attempts == 2

    # The first execution, still on the same worker id, must not settle the second.
    assert not queue.renew(database, job_id=job_id, worker_id="w", lease_seconds=30, attempt=1)
    assert not queue.complete(database, job_id=job_id, worker_id="w", attempt=1)
    assert queue.complete(database, job_id=job_id, worker_id="w", attempt=2)


def test_expired_lease_on_last_attempt_fails_instead_of_running_again(
    database: Database,
) -> None:
    job_id = _enqueue(database, max_attempts=2)
    for worker in ("w1", "w2"):
        assert queue.claim(database, worker_id=worker, lease_seconds=30) is not None
        expire_lease(database, job_id)

    assert queue.claim(database, worker_id="w3", lease_seconds=30) is None
    failed = load(database, job_id)
    assert failed.status == JobStatus.FAILED and failed.finished_at is not None
    assert failed.lease_expirations == 2
    assert failed.last_error is not None
    assert failed.last_error.startswith("lease expired 2 times (last held by w2)")


def test_release_returns_the_job_without_counting_the_attempt(database: Database) -> None:
    job_id = _enqueue(database)
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    assert queue.release(database, job_id=job_id, worker_id="w")
    back = load(database, job_id)
    assert (back.status, back.attempts, back.locked_by) == (JobStatus.QUEUED, 0, None)
    again = queue.claim(database, worker_id="w2", lease_seconds=30)
    assert again is not None and again.attempts == 1


# --- failures and retries --------------------------------------------------------------------


def test_retry_delay_grows_exponentially_then_the_job_fails_with_the_reason(
    database: Database,
) -> None:
    job_id = _enqueue(database, max_attempts=4)
    backoff = 10.0
    delays = []
    for attempt in (1, 2, 3):
        job = queue.claim(database, worker_id="w", lease_seconds=30)
        assert job is not None and job.attempts == attempt
        before = utcnow()
        assert queue.fail(
            database,
            job_id=job_id,
            worker_id="w",
            error="storage timed out",
            retry=True,
            backoff_seconds=backoff,
        )
        after = utcnow()
        waiting = load(database, job_id)
        assert waiting.status == JobStatus.QUEUED and waiting.locked_by is None
        assert waiting.last_error == f"attempt {attempt} of 4: storage timed out"
        expected = backoff * 2 ** (attempt - 1)
        # run_after = now + delay, where `now` lies between before and after and the delay
        # is expected ± 20 % jitter: so run_after - after <= delay <= run_after - before.
        assert waiting.run_after - after <= timedelta(seconds=expected * 1.2)
        assert waiting.run_after - before >= timedelta(seconds=expected * 0.8)
        assert queue.claim(database, worker_id="w", lease_seconds=30) is None
        delays.append((waiting.run_after - after).total_seconds())
        make_due(database, job_id)
    assert delays[0] < delays[1] < delays[2]

    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    queue.fail(
        database,
        job_id=job_id,
        worker_id="w",
        error="storage timed out",
        retry=True,
        backoff_seconds=backoff,
    )
    failed = load(database, job_id)
    assert failed.status == JobStatus.FAILED and failed.finished_at is not None
    assert failed.last_error == "gave up after 4 of 4 attempts: storage timed out"
    assert queue.claim(database, worker_id="w", lease_seconds=30) is None


def test_backoff_delay_is_capped_and_jittered() -> None:
    assert queue.backoff_delay(attempts=1, backoff_seconds=5, rand=lambda: 0.5) == 5
    assert queue.backoff_delay(attempts=3, backoff_seconds=5, rand=lambda: 0.5) == 20
    assert queue.backoff_delay(attempts=3, backoff_seconds=5, rand=lambda: 0.0) == 16
    assert queue.backoff_delay(attempts=3, backoff_seconds=5, rand=lambda: 1.0) == 24
    assert queue.backoff_delay(attempts=40, backoff_seconds=5, max_seconds=600) == 600


def test_fail_without_retry_fails_at_once(database: Database) -> None:
    job_id = _enqueue(database)
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    queue.fail(
        database,
        job_id=job_id,
        worker_id="w",
        error="master is not a video file",
        retry=False,
        backoff_seconds=1,
    )
    failed = load(database, job_id)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert failed.last_error == "master is not a video file"


def test_a_presigned_urls_signature_never_lands_in_a_jobs_error(database: Database) -> None:
    job_id = _enqueue(database)
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    url = (
        "http://127.0.0.1:1/b/masters/1/x.mxf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=KEY%2F20260101&X-Amz-Signature=0123abcd"
    )
    queue.fail(
        database,
        job_id=job_id,
        worker_id="w",
        error=f"Error opening input file {url}. | next line",
        retry=False,
        backoff_seconds=1,
    )
    error = load(database, job_id).last_error or ""
    assert "X-Amz-" not in error and "0123abcd" not in error
    assert error.endswith("| next line")


def test_retry_failed_requeues_with_fresh_attempts(database: Database) -> None:
    job_id = _enqueue(database, max_attempts=1)
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    queue.fail(database, job_id=job_id, worker_id="w", error="boom", retry=True, backoff_seconds=1)
    with database.session() as session:
        [failed] = queue.list_jobs(session, status=JobStatus.FAILED, kind="noop")
        assert failed.id == job_id
        requeued = queue.retry_failed(session, job_id=job_id)
        assert (requeued.status, requeued.attempts) == (JobStatus.QUEUED, 0)
    with database.session() as session, pytest.raises(Conflict):
        queue.retry_failed(session, job_id=job_id)
    job = queue.claim(database, worker_id="w", lease_seconds=30)
    assert job is not None and job.id == job_id and job.attempts == 1


def test_counts_and_purge_of_old_succeeded_jobs(database: Database) -> None:
    done_id = _enqueue(database)
    waiting_id = _enqueue(database, run_after=utcnow() + timedelta(hours=1))
    assert queue.claim(database, worker_id="w", lease_seconds=30) is not None
    queue.complete(database, job_id=done_id, worker_id="w")
    with database.write_session() as session:
        counts = queue.count_by_status(session)
        assert counts[JobStatus.SUCCEEDED] == 1 and counts[JobStatus.QUEUED] == 1
        assert counts[JobStatus.FAILED] == 0
        assert queue.purge_finished(session, older_than=timedelta(hours=1)) == 0
        session.execute(
            update(Job).where(Job.id == done_id).values(finished_at=utcnow() - timedelta(days=2))
        )
        assert queue.purge_finished(session, older_than=timedelta(days=1)) == 1
    with database.session() as session:
        assert [job.id for job in queue.list_jobs(session)] == [waiting_id]


def test_get_returns_none_for_unknown_job(database: Database) -> None:
    with database.session() as session:
        assert queue.get(session, job_id=uuid.uuid4()) is None


# --- the runner, in process ------------------------------------------------------------------


def _runner(
    db: Database, handlers: Mapping[str, queue.Handler], **kwargs: object
) -> queue.JobRunner:
    options: dict[str, object] = {
        "concurrency": 2,
        "lease_seconds": 30,
        "backoff_seconds": 0.01,
        "poll_interval": 0.02,
    }
    options.update(kwargs)
    return queue.JobRunner(db, handlers=handlers, **options)  # type: ignore[arg-type]


def _drain(runner: queue.JobRunner, db: Database, job_ids: list[uuid.UUID]) -> list[Job]:
    """Run until every job is settled (retries included), bounded."""

    def settled() -> list[Job] | None:
        runner.run_until_idle()
        jobs = [load(db, job_id) for job_id in job_ids]
        if all(job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) for job in jobs):
            return jobs
        return None

    return wait_for(settled, 60)


def test_runner_settles_each_job_by_what_its_handler_raised(database: Database) -> None:
    ran: list[tuple[str, int]] = []

    def ok(ctx: queue.JobContext) -> None:
        ran.append((ctx.payload["name"], ctx.attempt))

    def transient(ctx: queue.JobContext) -> None:
        raise TransientJobError("storage timed out")

    def storage(ctx: queue.JobContext) -> None:
        raise StorageUnavailable("503 slow down")

    def broken(ctx: queue.JobContext) -> None:
        raise JobError("master is not a video file")

    def bug(ctx: queue.JobContext) -> None:
        ran.append(("bug", ctx.attempt))
        _ = ctx.payload["missing"]

    handlers = {
        "ok": ok,
        "transient": transient,
        "storage": storage,
        "broken": broken,
        "bug": bug,
    }
    ids = {
        kind: _enqueue(database, kind=kind, payload={"name": kind}, max_attempts=2)
        for kind in handlers
    }
    jobs = dict(
        zip(ids, _drain(_runner(database, handlers), database, list(ids.values())), strict=True)
    )

    assert (jobs["ok"].status, jobs["ok"].attempts) == (JobStatus.SUCCEEDED, 1)
    assert jobs["transient"].status == JobStatus.FAILED and jobs["transient"].attempts == 2
    assert jobs["transient"].last_error == (
        "gave up after 2 of 2 attempts: pool_core.errors.TransientJobError: storage timed out"
    )
    assert jobs["storage"].status == JobStatus.FAILED and jobs["storage"].attempts == 2
    assert "StorageUnavailable: 503 slow down" in (jobs["storage"].last_error or "")
    assert (jobs["broken"].status, jobs["broken"].attempts) == (JobStatus.FAILED, 1)
    assert jobs["broken"].last_error == "master is not a video file"
    assert jobs["bug"].status == JobStatus.FAILED and jobs["bug"].attempts == 2
    assert "unexpected KeyError: 'missing' (at test_queue.py:" in (jobs["bug"].last_error or "")
    assert sorted(ran) == [("bug", 1), ("bug", 2), ("ok", 1)]


def test_unknown_kind_fails_with_a_reason_when_claimed(database: Database) -> None:
    job_id = _enqueue(database, kind="mystery")
    runner = _runner(database, {"ok": lambda ctx: None})
    runner.run_until_idle()
    assert load(database, job_id).status == JobStatus.QUEUED  # not this worker's kind

    greedy = _runner(database, {"ok": lambda ctx: None}, claim_unknown_kinds=True)
    [job] = _drain(greedy, database, [job_id])
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.last_error == "no handler for job kind 'mystery' (this worker handles: ok)"


def test_lease_renewal_keeps_a_long_job_from_being_stolen(database: Database) -> None:
    job_id = _enqueue(database, kind="long")
    runs: list[int] = []
    started = threading.Event()

    def long(ctx: queue.JobContext) -> None:
        runs.append(ctx.attempt)
        started.set()
        # Over twice the lease: only renewals keep it ours.
        assert not ctx.lease_lost.wait(9.0)

    # Renewed every lease/3: a 4 s lease survives a renewal stalled by ~2.6 s on a loaded
    # machine. One slot, so the holder cannot reclaim its own lapsed job either.
    runner = _runner(database, {"long": long}, lease_seconds=4, worker_id="holder", concurrency=1)
    thread = threading.Thread(target=runner.run_until_idle)
    thread.start()
    try:
        assert started.wait(30)
        stolen = []
        while thread.is_alive():
            job = queue.claim(database, worker_id="thief", lease_seconds=30)
            if job is not None:
                stolen.append(job.id)
            time.sleep(0.1)
    finally:
        thread.join(60)
    assert stolen == []
    done = load(database, job_id)
    assert (done.status, done.attempts, done.locked_by) == (JobStatus.SUCCEEDED, 1, "holder")
    assert runs == [1]


def test_runner_whose_job_was_taken_over_is_told_and_its_result_discarded(
    database: Database,
) -> None:
    job_id = _enqueue(database, kind="slow")
    started, told = threading.Event(), threading.Event()

    def slow(ctx: queue.JobContext) -> None:
        started.set()
        if ctx.lease_lost.wait(60):
            told.set()
        # Returning normally would mark it succeeded, were the result not discarded.

    # One slot: under load the 1 s lease can lapse before a renewal, and a second slot of the
    # same runner would then claim the job itself, making the thief's claim attempt 3.
    runner = _runner(database, {"slow": slow}, lease_seconds=1, worker_id="stale", concurrency=1)
    thread = threading.Thread(target=runner.run_until_idle)
    thread.start()
    try:
        assert started.wait(30)

        def take_over() -> Job | None:
            # As if the stale runner had hung: its renewals may win a few races first.
            expire_lease(database, job_id)
            return queue.claim(database, worker_id="thief", lease_seconds=60)

        wait_for(take_over, 30)
        assert told.wait(30)
    finally:
        thread.join(60)
    job = load(database, job_id)
    assert (job.status, job.locked_by, job.attempts) == (JobStatus.RUNNING, "thief", 2)
    assert queue.complete(database, job_id=job_id, worker_id="thief", attempt=2)


def test_stop_releases_jobs_that_do_not_finish_in_the_grace_period(database: Database) -> None:
    quick_id = _enqueue(database, kind="quick", priority=1)
    stuck_id = _enqueue(database, kind="stuck")
    both_started = threading.Barrier(3)
    contexts: list[queue.JobContext] = []

    def quick(ctx: queue.JobContext) -> None:
        both_started.wait(30)

    def stuck(ctx: queue.JobContext) -> None:
        contexts.append(ctx)
        both_started.wait(30)
        ctx.lease_lost.wait(60)  # a well-behaved handler stops when told

    # The grace is long enough for `quick` to finish on a loaded machine; `stuck` never will.
    runner = _runner(database, {"quick": quick, "stuck": stuck}, shutdown_grace_seconds=5)
    thread = threading.Thread(target=runner.run_forever)
    thread.start()
    both_started.wait(30)
    runner.stop()
    thread.join(60)
    assert not thread.is_alive()

    assert load(database, quick_id).status == JobStatus.SUCCEEDED
    released = load(database, stuck_id)
    assert (released.status, released.attempts, released.locked_by) == (JobStatus.QUEUED, 0, None)
    assert contexts[0].lease_lost.is_set()


def test_from_settings_takes_the_worker_settings(database: Database) -> None:
    overrides = {
        "worker_concurrency": 3,
        "job_lease_seconds": 42,
        "job_backoff_seconds": 1.5,
        "job_max_attempts": 9,
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    runner = queue.JobRunner.from_settings(database, settings, {"ok": lambda ctx: None})
    assert (runner.concurrency, runner.lease_seconds, runner.backoff_seconds) == (3, 42, 1.5)
    with database.session() as session:
        job = queue.enqueue(session, kind="ok", payload={}, settings=settings)
        assert job.max_attempts == 9


# --- many processes --------------------------------------------------------------------------

CLAIMER = Path(__file__).with_name("queue_claimer.py")


def _spawn(db: Database, out: Path, *args: str) -> subprocess.Popen[bytes]:
    # stderr goes to a file: a pipe nobody reads could fill up and stall the worker.
    with open(f"{out}.stderr", "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, str(CLAIMER), "--url", db.url, "--out", str(out), *args],
            stderr=stderr,
        )


def _finish(process: subprocess.Popen[bytes], out: Path, seconds: float = 240) -> None:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"claimer did not finish in {seconds}s: {_tail(out)}")
    assert process.returncode == 0, _tail(out)


def _tail(out: Path) -> str:
    return Path(f"{out}.stderr").read_text(errors="replace")[-2000:]


def _records(path: Path) -> list[tuple[str, str, int, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        event, job_id, attempt, at = line.split()
        rows.append((event, job_id, int(attempt), float(at)))
    return rows


def _drain_with_processes(db: Database, tmp_path: Path, *, processes: int, jobs: int) -> None:
    with db.session() as session:
        for n in range(jobs):
            queue.enqueue(session, kind="record", payload={"n": n})
    go = tmp_path / "go"
    outs = [tmp_path / f"claimer-{i}.log" for i in range(processes)]
    children = [_spawn(db, out, "--go", str(go), "--concurrency", "2") for out in outs]
    try:
        # Start them together so they really compete for the same rows.
        wait_for(lambda: all(Path(f"{out}.ready").exists() for out in outs), 120)
        go.touch()
    finally:
        for child, out in zip(children, outs, strict=True):
            _finish(child, out)

    per_process = [_records(out) for out in outs]
    starts = [job_id for rows in per_process for (event, job_id, _, _) in rows if event == "start"]
    dones = [job_id for rows in per_process for (event, job_id, _, _) in rows if event == "done"]
    assert len(dones) == jobs and len(set(dones)) == jobs  # every job ran, none twice
    assert sorted(starts) == sorted(dones)
    assert sum(1 for rows in per_process if rows) >= 2  # they did compete
    with db.session() as session:
        stored = queue.list_jobs(session, limit=jobs + 1)
        assert {str(job.id) for job in stored} == set(dones)
        assert all(job.status == JobStatus.SUCCEEDED and job.attempts == 1 for job in stored)


def test_four_processes_drain_a_thousand_jobs_exactly_once(
    pg_database: Database, tmp_path: Path
) -> None:
    _drain_with_processes(pg_database, tmp_path, processes=4, jobs=1000)


def test_two_processes_drain_jobs_exactly_once_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'pool.db'}")
    Base.metadata.create_all(db.engine)
    try:
        _drain_with_processes(db, tmp_path, processes=2, jobs=200)
    finally:
        db.dispose()


def test_job_of_a_killed_worker_is_taken_over_after_its_lease_expires(
    database: Database, tmp_path: Path
) -> None:
    job_id = _enqueue(database, kind="record")
    doomed_out, heir_out = tmp_path / "doomed.log", tmp_path / "heir.log"
    # One slot: were the kill late, a second slot could reclaim the lapsed job itself.
    doomed = _spawn(
        database, doomed_out, "--lease", "1", "--concurrency", "1", "--job-seconds", "600"
    )
    try:
        wait_for(lambda: _records(doomed_out), 120)
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait(60)
    orphan = load(database, job_id)
    assert orphan.status == JobStatus.RUNNING
    assert orphan.lease_expires_at is not None

    heir = _spawn(database, heir_out, "--lease", "2", "--job-seconds", "0.2", "--min-jobs", "1")
    _finish(heir, heir_out)

    assert [(e, j, a) for (e, j, a, _) in _records(doomed_out)] == [("start", str(job_id), 1)]
    heir_rows = _records(heir_out)
    assert [(e, j, a) for (e, j, a, _) in heir_rows] == [
        ("start", str(job_id), 2),
        ("done", str(job_id), 2),
    ]
    # Not taken over before the dead worker's lease ran out.
    assert heir_rows[0][3] >= orphan.lease_expires_at.timestamp()
    done = load(database, job_id)
    assert (done.status, done.attempts, done.lease_expirations) == (JobStatus.SUCCEEDED, 2, 1)
    assert done.locked_by == Path(f"{heir_out}.ready").read_text()


# --- fairness between organizations ------------------------------------------------------


def test_one_members_many_masters_do_not_hold_back_anothers_one(
    database: Database, ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # Through the real ingest path: each STOR of a master queues its transcode.
    crowd, single = ftp_accounts["aztv"], ftp_accounts["trt"]
    with connect_plain(ftp_server, crowd) as client:
        for number in range(12):
            client.storbinary(f"STOR /incoming/crowd_{number:02d}.mxf", io.BytesIO(b"x" * 64))
    with connect_plain(ftp_server, single) as client:
        client.storbinary("STOR /incoming/lonely.mxf", io.BytesIO(b"y" * 64))

    def queued() -> list[Job]:
        with database.session() as session:
            return list(
                session.scalars(
                    select(Job).where(Job.kind == "transcode", Job.status == JobStatus.QUEUED)
                )
            )

    wait_until(lambda: len(queued()) == 13, "13 queued transcodes", timeout=30)
    jobs = queued()
    assert {job.org_id for job in jobs} == {crowd.org_id, single.org_id}
    # Two workers: the lone member's master is among the first two claimed, not the 13th.
    workers = 2
    claimed = [
        queue.claim(database, worker_id=f"w{n}", kinds=["transcode"], lease_seconds=60)
        for n in range(workers)
    ]
    assert single.org_id in {job.org_id for job in claimed if job is not None}
    # And when the crowd's first job finishes, the turn stays fair: the crowd again, one at a time.
    rest = queue.claim(database, worker_id="w2", kinds=["transcode"], lease_seconds=60)
    assert rest is not None and rest.org_id == crowd.org_id


def test_claim_prefers_the_organization_with_fewer_running_jobs(database: Database) -> None:
    with database.write_session() as session:
        orgs = [
            Organization(code=f"q{uuid.uuid4().hex[:8]}", name=name, country="AZ")
            for name in ("Crowd", "Single")
        ]
        session.add_all(orgs)
        session.flush()
        crowd, single = (org.id for org in orgs)
    many = [_enqueue(database, kind="fair", org_id=crowd) for _ in range(20)]
    system = _enqueue(database, kind="fair")
    one = _enqueue(database, kind="fair", org_id=single)

    order = []
    for n in range(4):
        job = queue.claim(database, worker_id=f"w{n}", kinds=["fair"], lease_seconds=60)
        assert job is not None
        order.append(job.id)
    # Oldest first while nobody runs anything; then whoever has the fewest running.
    assert order[0] == many[0]
    assert set(order[1:3]) == {system, one}
    assert order[3] == many[1]
