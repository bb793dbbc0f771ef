"""The durable job queue's operations: enqueue in the caller's unit of work, claim under a lease.

`enqueue` and the queries take the caller's session and only flush (one unit of work per
request, ARCHITECTURE decision 4). `claim`, `renew`, `complete`, `fail` and `release` are each
their own short transaction, because a runner must make its claim and its result durable on
its own schedule, not inside anyone else's work.

Ownership: every write a runner makes is conditional on the job still being `running` and
`locked_by` the runner (and, when given, on `attempts` still being the attempt it claimed, a
fencing token that tells a runner's stale first claim from its own later re-claim). A runner
whose lease expired and was taken over therefore cannot overwrite the new holder's result.
"""

from __future__ import annotations

import json
import logging
import random
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.errors import Conflict, InvalidInput, NotFound
from pool_core.models.base import utcnow
from pool_core.models.jobs import Job, JobStatus
from pool_core.settings import Settings
from pool_core.tracing import TRACE_KEY
from pool_core.tracing import current as current_trace

# A job's life (enqueued, claimed, succeeded) is logged at DEBUG: the periodic jobs go
# through it every few seconds for ever, and the handlers log what a person acts on
# (a transcode and its QC verdict, deliveries, expiries). Retries and failures stay loud.
logger = logging.getLogger("pool_core.queue")

# The Job model's own default; used when neither the caller nor settings say otherwise.
DEFAULT_MAX_ATTEMPTS = 5
# No retry waits longer than this, however many attempts came before.
MAX_BACKOFF_SECONDS = 3600.0
# Each retry delay is spread by up to ±20 % so jobs that failed together do not return together.
BACKOFF_JITTER = 0.2
# last_error is for people; a runaway message (a whole ffmpeg log) is cut to this many chars.
MAX_ERROR_CHARS = 4000
# Exhausted expired jobs one claim() may retire before it gives up looking in this call.
_MAX_RETIRED_PER_CLAIM = 50
_KIND_MAX_LENGTH = 64
# The query of a presigned S3 URL (SigV4 `X-Amz-…` or SigV2 `AWSAccessKeyId=…`), to its end.
_SIGNED_QUERY = re.compile(r"\?[^\s'\"<>|]*(?:X-Amz-|AWSAccessKeyId=|Signature=)[^\s'\"<>|]*")


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    run_after: datetime | None = None,
    max_attempts: int | None = None,
    org_id: int | None = None,
    priority: int = 0,
    settings: Settings | None = None,
) -> Job:
    """Add a job inside the caller's transaction; it becomes visible when the caller commits."""
    if not kind or len(kind) > _KIND_MAX_LENGTH:
        raise InvalidInput(f"job kind must be 1-{_KIND_MAX_LENGTH} characters, not {kind!r}")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"payload of a {kind!r} job is not JSON-serialisable: {exc}") from exc
    if run_after is not None and run_after.tzinfo is None:
        raise InvalidInput("run_after must be timezone-aware (UTC)")
    if max_attempts is None:
        max_attempts = settings.job_max_attempts if settings is not None else DEFAULT_MAX_ATTEMPTS
    if max_attempts < 1:
        raise InvalidInput(f"max_attempts must be at least 1, not {max_attempts}")
    # The ids of the request, FTP session or upload that caused this job travel with it; the
    # worker binds them again, so the job's lines grep with the ones that enqueued it.
    trace = current_trace()
    if trace and TRACE_KEY not in payload:
        payload = {**payload, TRACE_KEY: trace}
    job = Job(
        kind=kind,
        payload=payload,
        status=JobStatus.QUEUED,
        run_after=run_after or utcnow(),
        max_attempts=max_attempts,
        attempts=0,
        org_id=org_id,
        priority=priority,
    )
    session.add(job)
    session.flush()
    # A job a person's request or upload caused is part of that story (INFO); the periodic
    # jobs re-enqueue themselves for ever and would drown it (DEBUG).
    logger.log(
        logging.INFO if trace else logging.DEBUG,
        "job %s enqueued kind=%s",
        job.id,
        kind,
        extra={"job_id": str(job.id), "kind": kind, "run_after": job.run_after.isoformat()},
    )
    return job


def _claimable(
    now: datetime, kinds: Collection[str] | None, running: Mapping[int, int]
) -> Select[Job]:
    due = and_(Job.status == JobStatus.QUEUED, Job.run_after <= now)
    abandoned = and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
    query = select(Job).where(or_(due, abandoned))
    if kinds is not None:
        query = query.where(Job.kind.in_(list(kinds)))
    # Fair between organizations: among jobs of the same priority, the one whose
    # organization has the fewest jobs running goes first, so one member's 200 masters take
    # turns with another member's one instead of all going ahead of it. Age breaks the tie.
    # (The counts are a literal CASE: a join to a grouped subquery made SQLite's claim 3x
    # slower; there are only as many arms as organizations with work running.)
    busy = [case(dict(running), value=Job.org_id, else_=0)] if running else []
    # SKIP LOCKED lets concurrent claimers on PostgreSQL pass over each other's rows instead of
    # queueing behind them; SQLite ignores it (BEGIN IMMEDIATE already serialises claimers).
    return (
        query.order_by(Job.priority.desc(), *busy, Job.run_after, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _running_per_org(session: Session, now: datetime) -> dict[int, int]:
    """How many jobs each organization has running under a live lease."""
    rows = session.execute(
        select(Job.org_id, func.count())
        .where(
            Job.status == JobStatus.RUNNING,
            Job.lease_expires_at >= now,
            Job.org_id.is_not(None),
        )
        .group_by(Job.org_id)
    )
    return {org_id: int(count) for org_id, count in rows if org_id is not None}


def claim(
    db: Database,
    *,
    worker_id: str,
    kinds: Collection[str] | None = None,
    lease_seconds: int | float,
) -> Job | None:
    """Take the most urgent due job (or one whose runner's lease expired) under a lease."""
    if kinds is not None and not kinds:
        return None
    with db.write_session() as session:
        for _ in range(_MAX_RETIRED_PER_CLAIM):
            now = utcnow()
            running = _running_per_org(session, now)
            job = session.scalars(_claimable(now, kinds, running)).first()
            if job is None:
                return None
            if job.status == JobStatus.RUNNING:
                # Its runner died or hung: the lease ran out without a renewal.
                previous = job.locked_by
                job.lease_expirations += 1
                if job.attempts >= job.max_attempts:
                    _retire_abandoned(job, now)
                    session.flush()
                    continue
                job.last_error = _cut(
                    f"lease of {previous} expired during attempt {job.attempts}; taken over"
                )
                logger.warning(
                    "job %s lease of %s expired; taking over",
                    job.id,
                    previous,
                    extra={"job_id": str(job.id), "kind": job.kind, "previous": previous},
                )
            job.status = JobStatus.RUNNING
            job.locked_by = worker_id
            job.lease_expires_at = now + timedelta(seconds=lease_seconds)
            job.attempts += 1
            session.flush()
            logger.debug(
                "job %s claimed kind=%s attempt=%d/%d by %s",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                worker_id,
                extra={
                    "job_id": str(job.id),
                    "kind": job.kind,
                    "attempt": job.attempts,
                    "worker_id": worker_id,
                },
            )
            return job
    return None


def _retire_abandoned(job: Job, now: datetime) -> None:
    """Fail a job whose runners kept dying instead of running it yet again."""
    job.status = JobStatus.FAILED
    job.finished_at = now
    job.lease_expires_at = None
    job.last_error = _cut(
        f"lease expired {job.lease_expirations} times (last held by {job.locked_by}); "
        f"gave up after {job.attempts} of {job.max_attempts} attempts: the job may be "
        "crashing or hanging its worker"
        + (f"; earlier error: {job.last_error}" if job.last_error else "")
    )
    logger.error(
        "job %s failed: %s",
        job.id,
        job.last_error,
        extra={"job_id": str(job.id), "kind": job.kind, "attempt": job.attempts},
    )


def _held_by(job_id: uuid.UUID, worker_id: str, attempt: int | None) -> ColumnElement[bool]:
    condition = and_(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.locked_by == worker_id)
    if attempt is not None:
        condition = and_(condition, Job.attempts == attempt)
    return condition


def _update_held(
    db: Database,
    *,
    job_id: uuid.UUID,
    worker_id: str,
    attempt: int | None,
    values: Callable[[datetime], dict[str, Any]],
) -> bool:
    with db.write_session() as session:
        statement = (
            update(Job)
            .where(_held_by(job_id, worker_id, attempt))
            .values(**values(utcnow()))
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[Any], session.execute(statement))
        return result.rowcount == 1


def renew(
    db: Database,
    *,
    job_id: uuid.UUID,
    worker_id: str,
    lease_seconds: int | float,
    attempt: int | None = None,
) -> bool:
    """Extend our lease on a running job; False if it is no longer ours (stop working on it)."""
    return _update_held(
        db,
        job_id=job_id,
        worker_id=worker_id,
        attempt=attempt,
        values=lambda now: {"lease_expires_at": now + timedelta(seconds=lease_seconds)},
    )


def complete(
    db: Database, *, job_id: uuid.UUID, worker_id: str, attempt: int | None = None
) -> bool:
    """Mark our running job succeeded; False (and nothing changes) if we lost it."""
    done = _update_held(
        db,
        job_id=job_id,
        worker_id=worker_id,
        attempt=attempt,
        values=lambda now: {
            "status": JobStatus.SUCCEEDED,
            "finished_at": now,
            "lease_expires_at": None,
        },
    )
    if done:
        logger.debug("job %s succeeded", job_id, extra={"job_id": str(job_id)})
    else:
        logger.warning(
            "job %s finished by %s after its lease was lost; result discarded",
            job_id,
            worker_id,
            extra={"job_id": str(job_id), "worker_id": worker_id},
        )
    return done


def release(db: Database, *, job_id: uuid.UUID, worker_id: str, attempt: int | None = None) -> bool:
    """Give a running job back to the queue at once, not counting this attempt."""
    return _update_held(
        db,
        job_id=job_id,
        worker_id=worker_id,
        attempt=attempt,
        values=lambda now: {
            "status": JobStatus.QUEUED,
            "attempts": Job.attempts - 1,
            "run_after": now,
            "locked_by": None,
            "lease_expires_at": None,
        },
    )


def backoff_delay(
    *,
    attempts: int,
    backoff_seconds: float,
    max_seconds: float = MAX_BACKOFF_SECONDS,
    jitter: float = BACKOFF_JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the wait after failed attempt `attempts`: backoff * 2**(attempts-1), jittered."""
    base = backoff_seconds * 2.0 ** max(attempts - 1, 0)
    spread = 1.0 + jitter * (2.0 * rand() - 1.0)
    return float(min(base * spread, max_seconds))


def fail(
    db: Database,
    *,
    job_id: uuid.UUID,
    worker_id: str,
    error: str,
    retry: bool,
    backoff_seconds: float,
    attempt: int | None = None,
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
) -> bool:
    """Record a failed attempt: retry later with backoff, or fail for good with the reason."""
    with db.write_session() as session:
        job = session.scalars(
            select(Job).where(_held_by(job_id, worker_id, attempt)).with_for_update()
        ).first()
        if job is None:
            logger.warning(
                "job %s failed under %s after its lease was lost; result discarded: %s",
                job_id,
                worker_id,
                error,
                extra={"job_id": str(job_id), "worker_id": worker_id},
            )
            return False
        now = utcnow()
        job.lease_expires_at = None
        if retry and job.attempts < job.max_attempts:
            delay = backoff_delay(
                attempts=job.attempts,
                backoff_seconds=backoff_seconds,
                max_seconds=max_backoff_seconds,
            )
            job.status = JobStatus.QUEUED
            job.locked_by = None
            job.run_after = now + timedelta(seconds=delay)
            job.last_error = _cut(f"attempt {job.attempts} of {job.max_attempts}: {error}")
            logger.warning(
                "job %s attempt %d/%d failed, retry in %.1fs: %s",
                job.id,
                job.attempts,
                job.max_attempts,
                delay,
                error,
                extra={"job_id": str(job.id), "kind": job.kind, "attempt": job.attempts},
            )
        else:
            job.status = JobStatus.FAILED
            job.finished_at = now
            if retry:
                job.last_error = _cut(
                    f"gave up after {job.attempts} of {job.max_attempts} attempts: {error}"
                )
            else:
                job.last_error = _cut(error)
            logger.error(
                "job %s failed: %s",
                job.id,
                job.last_error,
                extra={"job_id": str(job.id), "kind": job.kind, "attempt": job.attempts},
            )
        session.flush()
        return True


def get(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """Return one job, or None."""
    return session.get(Job, job_id)


def list_jobs(
    session: Session,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """Return jobs, newest first, optionally of one status and kind."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query.order_by(Job.created_at.desc(), Job.id).limit(limit)))


def retry_failed(session: Session, *, job_id: uuid.UUID) -> Job:
    """Put a failed job back in the queue with a fresh set of attempts."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    if job.status != JobStatus.FAILED:
        raise Conflict(f"job {job_id} is {job.status.value}, only failed jobs can be retried")
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.lease_expirations = 0
    job.run_after = utcnow()
    job.locked_by = None
    job.lease_expires_at = None
    job.finished_at = None
    # last_error stays: it is why someone pressed retry.
    session.flush()
    logger.info("job %s requeued by hand", job.id, extra={"job_id": str(job.id)})
    return job


def count_by_status(session: Session, *, kind: str | None = None) -> dict[JobStatus, int]:
    """Return how many jobs are in each status (every status present, zero if none)."""
    query = select(Job.status, func.count()).group_by(Job.status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in session.execute(query):
        counts[JobStatus(status)] = count
    return counts


def purge_finished(session: Session, *, older_than: timedelta) -> int:
    """Delete succeeded jobs finished longer ago than `older_than`; return how many."""
    statement = (
        delete(Job)
        .where(Job.status == JobStatus.SUCCEEDED, Job.finished_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _cut(text: str) -> str:
    # A job's error is shown to operators and kept: no presigned URL's signature in it.
    text = _SIGNED_QUERY.sub("?<signature withheld>", text)
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 20] + " … (truncated)"
