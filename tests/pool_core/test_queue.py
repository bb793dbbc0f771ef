"""The durable job queue on SQLite and PostgreSQL: claiming, leases, retries, runners.

Multi-process tests start `tests/pool_core/queue_claimer.py` as real processes sharing one
database; nothing about the queue is faked. Waits are polls with generous bounds; the only
time assertions are "not claimed before run_after".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import update

from pool_core import queue
from pool_core.db import Database
from pool_core.errors import Conflict, InvalidInput
from pool_core.models import Job, JobStatus, utcnow

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], seconds: float, *, every: float = 0.05) -> T:
    """Poll until probe returns something, failing the test after a generous bound."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value is not None and value is not False:
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
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def make_due(db: Database, job_id: uuid.UUID) -> None:
    """Skip a retry's wait (the wait itself is checked where it is set)."""
    with db.session() as session:
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
    run_after = utcnow() + timedelta(seconds=1.5)
    job_id = _enqueue(database, run_after=run_after)

    assert queue.claim(database, worker_id="w1", lease_seconds=30) is None
    claimed = wait_for(lambda: queue.claim(database, worker_id="w1", lease_seconds=30), 30)
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
        # run_after = (a moment between before and after) + expected ± 20 % jitter.
        assert waiting.run_after - before <= timedelta(seconds=expected * 1.2)
        assert waiting.run_after - after >= timedelta(seconds=expected * 0.8)
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


def test_get_returns_none_for_unknown_job(database: Database) -> None:
    with database.session() as session:
        assert queue.get(session, job_id=uuid.uuid4()) is None
