"""The worker loop: claim jobs, run their handlers in threads, keep the leases alive.

A handler is any callable taking a `JobContext`. What it raises decides what happens next
(the worker's one error-mapping table, `classify`):

    returns normally                          -> succeeded
    JobError (not transient)                  -> failed at once, with its message
    TransientJobError, StorageUnavailable,
    SQLAlchemy OperationalError               -> retried with backoff, then failed
    any other exception (a bug, a surprise)   -> retried like a transient one, the reason
                                                 being a summary of the traceback

The runner itself never dies from a handler's error, nor from the database being briefly
unreachable: it logs, waits and tries again. A job whose lease could not be renewed (another
runner took it) gets its `lease_lost` event set; its result is then discarded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import OperationalError

from pool_core.db import Database
from pool_core.errors import JobError, StorageUnavailable, TransientJobError
from pool_core.models.jobs import Job
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.queue import service
from pool_core.settings import Settings
from pool_core.tracing import bound, from_payload

logger = logging.getLogger("pool_core.queue.runner")

# Exceptions that say "the world was briefly unwell", not "this job is broken".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError,
    StorageUnavailable,
    OperationalError,
)


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs."""

    job_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    worker_id: str
    # Set when this runner no longer holds the job (lease taken over, or shutdown released
    # it): stop as soon as practical, the result will be discarded anyway.
    lease_lost: threading.Event = field(default_factory=threading.Event)

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure now fails the job for good."""
        return self.attempt >= self.max_attempts


# Runs one job; raises to fail it (see the module docstring).
Handler = Callable[[JobContext], None]


@dataclass(frozen=True)
class Outcome:
    """How a handler's exception settles its job."""

    retry: bool
    reason: str


def classify(exc: BaseException) -> Outcome:
    """Map a handler's exception to retry-or-fail and a reason a person can read."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return Outcome(retry=True, reason=_describe(exc))
    if isinstance(exc, JobError):
        return Outcome(retry=False, reason=str(exc) or type(exc).__name__)
    return Outcome(retry=True, reason=f"unexpected {_describe(exc)}{_where(exc)}")


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"


def default_worker_id() -> str:
    """Return an id unique to this runner: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Running:
    ctx: JobContext
    thread: threading.Thread | None = None
    # Set (under the runner's lock) once the handler returned and its result is being
    # recorded: a renewal refused after that is the job being settled, not a lost lease.
    settling: bool = False


class JobRunner:
    """Claims and runs jobs with up to `concurrency` threads, renewing leases at lease/3."""

    def __init__(
        self,
        db: Database,
        *,
        handlers: Mapping[str, Handler],
        worker_id: str | None = None,
        concurrency: int,
        lease_seconds: float,
        backoff_seconds: float,
        poll_interval: float,
        claim_unknown_kinds: bool = False,
        shutdown_grace_seconds: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.db = db
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.backoff_seconds = backoff_seconds
        self.poll_interval = poll_interval
        # By default a runner claims only kinds it has handlers for, so workers specialised
        # in different kinds can share one queue; with claim_unknown_kinds it also claims
        # (and fails, with a clear reason) kinds nobody registered.
        self.kinds: Collection[str] | None = None if claim_unknown_kinds else set(self.handlers)
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._running: dict[uuid.UUID, _Running] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._loop_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, handlers: Mapping[str, Handler], **kwargs: Any
    ) -> JobRunner:
        """Build a runner with the worker settings (concurrency, lease, backoff)."""
        options: dict[str, Any] = {
            "concurrency": settings.worker_concurrency,
            "lease_seconds": settings.job_lease_seconds,
            "backoff_seconds": settings.job_backoff_seconds,
            "poll_interval": settings.job_poll_seconds,
        }
        options.update(kwargs)
        return cls(db, handlers=handlers, **options)

    # --- public loop control ---------------------------------------------------------------

    def run_forever(self) -> None:
        """Claim and run jobs until `stop()` is called."""
        self._loop(until_idle=False)

    def run_until_idle(self) -> int:
        """Run jobs until none is due and none is running; return how many were started."""
        return self._loop(until_idle=True)

    def stop(self) -> None:
        """Stop claiming; running jobs get `shutdown_grace_seconds` to finish, then released.

        Safe to call from a signal handler or another thread; it does not wait. A stopped
        runner stays stopped.
        """
        self._stop.set()
        # Never block here (a signal handler may interrupt the loop while it holds the
        # lock); a missed wake-up only costs one poll interval.
        if self._changed.acquire(blocking=False):
            try:
                self._changed.notify_all()
            finally:
                self._changed.release()

    @property
    def active_jobs(self) -> int:
        """How many jobs this runner is executing right now."""
        with self._changed:
            return len(self._running)

    # --- the loop --------------------------------------------------------------------------

    def _loop(self, *, until_idle: bool) -> int:
        if not self._loop_lock.acquire(blocking=False):
            raise RuntimeError("this JobRunner is already running")
        started = 0
        renewer_stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew_leases,
            args=(renewer_stop,),
            name=f"lease-renewer-{self.worker_id}",
            daemon=True,
        )
        renewer.start()
        logger.info(
            "runner %s started (kinds=%s, concurrency=%d, lease=%ss)",
            self.worker_id,
            "all" if self.kinds is None else ",".join(sorted(self.kinds)),
            self.concurrency,
            self.lease_seconds,
            extra={"worker_id": self.worker_id},
        )
        try:
            while not self._stop.is_set():
                if self.active_jobs < self.concurrency:
                    job, healthy = self._claim_next()
                    if job is not None:
                        self._start(job)
                        started += 1
                        continue
                    if until_idle and healthy and self.active_jobs == 0:
                        break
                    if not until_idle or not healthy or self.active_jobs == 0:
                        # Nothing due: sleep a poll interval, waking early on stop().
                        self._stop.wait(self.poll_interval)
                        continue
                # All slots busy, or idle-mode waiting on running jobs: wake on any finish.
                with self._changed:
                    if self._running and not self._stop.is_set():
                        self._changed.wait(timeout=self.poll_interval)
        finally:
            self._finish_or_release()
            renewer_stop.set()
            renewer.join()
            logger.info(
                "runner %s stopped after starting %d jobs",
                self.worker_id,
                started,
                extra={"worker_id": self.worker_id},
            )
            self._loop_lock.release()
        return started

    def _claim_next(self) -> tuple[Job | None, bool]:
        try:
            job = service.claim(
                self.db,
                worker_id=self.worker_id,
                kinds=self.kinds,
                lease_seconds=self.lease_seconds,
            )
        except Exception:
            logger.exception(
                "runner %s could not claim a job; retrying",
                self.worker_id,
                extra={"worker_id": self.worker_id},
            )
            return None, False
        return job, True

    def _start(self, job: Job) -> None:
        ctx = JobContext(
            job_id=job.id,
            kind=job.kind,
            payload=dict(job.payload or {}),
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            worker_id=self.worker_id,
        )
        running = _Running(ctx=ctx)
        # Daemon threads: a process that must exit does not wait for a stuck handler; its
        # job is released (or its lease expires) and another worker runs it.
        running.thread = threading.Thread(
            target=self._execute, args=(ctx,), name=f"job-{job.id}", daemon=True
        )
        with self._changed:
            self._running[job.id] = running
        running.thread.start()

    def _execute(self, ctx: JobContext) -> None:
        # This thread's lines (and the jobs the handler enqueues) carry the ids of whoever
        # enqueued the job.
        with bound(**from_payload(ctx.payload)):
            self._execute_traced(ctx)

    def _execute_traced(self, ctx: JobContext) -> None:
        log_extra = {
            "job_id": str(ctx.job_id),
            "kind": ctx.kind,
            "attempt": ctx.attempt,
            "worker_id": self.worker_id,
        }
        try:
            handler = self.handlers.get(ctx.kind)
            if handler is None:
                known = ", ".join(sorted(self.handlers)) or "none"
                self._settle(
                    ctx,
                    Outcome(
                        retry=False,
                        reason=f"no handler for job kind {ctx.kind!r} (this worker handles: "
                        f"{known})",
                    ),
                )
                return
            outcome: Outcome | None = None
            started = time.monotonic()
            try:
                handler(ctx)
            except Exception as exc:
                outcome = classify(exc)
                if outcome.retry and not isinstance(exc, TRANSIENT_ERRORS):
                    logger.exception(
                        "job %s handler raised unexpectedly", ctx.job_id, extra=log_extra
                    )
            if self._settle(ctx, outcome):
                count_job_result(ctx, outcome, time.monotonic() - started)
        finally:
            with self._changed:
                self._running.pop(ctx.job_id, None)
                self._changed.notify_all()

    def _settle(self, ctx: JobContext, outcome: Outcome | None) -> bool:
        """Record the result (True once recorded); a database hiccup only delays the job."""
        with self._changed:
            running = self._running.get(ctx.job_id)
            if running is not None:
                running.settling = True
        if ctx.lease_lost.is_set():
            # Someone else holds it now (the conditional writes would refuse anyway).
            logger.warning(
                "job %s: lease was lost, result of attempt %d discarded",
                ctx.job_id,
                ctx.attempt,
                extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
            )
            return False
        try:
            if outcome is None:
                recorded = service.complete(
                    self.db, job_id=ctx.job_id, worker_id=self.worker_id, attempt=ctx.attempt
                )
            else:
                recorded = service.fail(
                    self.db,
                    job_id=ctx.job_id,
                    worker_id=self.worker_id,
                    attempt=ctx.attempt,
                    error=outcome.reason,
                    retry=outcome.retry,
                    backoff_seconds=self.backoff_seconds,
                )
        except Exception:
            logger.exception(
                "job %s: could not record its result; its lease will expire and it will rerun",
                ctx.job_id,
                extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
            )
            return False
        return bool(recorded)

    # --- leases ----------------------------------------------------------------------------

    def _renew_leases(self, stopped: threading.Event) -> None:
        interval = self.lease_seconds / 3
        while not stopped.wait(interval):
            with self._changed:
                jobs = list(self._running.values())
            for running in jobs:
                ctx = running.ctx
                if ctx.lease_lost.is_set() or running.settling:
                    continue
                try:
                    ours = service.renew(
                        self.db,
                        job_id=ctx.job_id,
                        worker_id=self.worker_id,
                        lease_seconds=self.lease_seconds,
                        attempt=ctx.attempt,
                    )
                except Exception:
                    # Keep trying: the lease may still be ours when the database is back.
                    logger.exception(
                        "job %s: lease renewal failed",
                        ctx.job_id,
                        extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
                    )
                    continue
                if not ours:
                    with self._changed:
                        if running.settling:
                            continue  # it was just completed or failed by its own thread
                    ctx.lease_lost.set()
                    logger.warning(
                        "job %s: lease lost to another runner; its result will be discarded",
                        ctx.job_id,
                        extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
                    )

    def _finish_or_release(self) -> None:
        """Give running jobs the grace period, then hand the rest back to the queue."""
        with self._changed:
            self._changed.wait_for(lambda: not self._running, timeout=self.shutdown_grace_seconds)
            leftovers = [running.ctx for running in self._running.values()]
        for ctx in leftovers:
            try:
                # Release before telling the handler, so it cannot settle the job in between.
                released = service.release(
                    self.db, job_id=ctx.job_id, worker_id=self.worker_id, attempt=ctx.attempt
                )
            except Exception:
                logger.exception(
                    "job %s: could not release it; its lease will expire instead",
                    ctx.job_id,
                    extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
                )
            else:
                if released:
                    logger.warning(
                        "job %s released at shutdown before it finished",
                        ctx.job_id,
                        extra={"job_id": str(ctx.job_id), "worker_id": self.worker_id},
                    )
            ctx.lease_lost.set()


def count_job_result(ctx: JobContext, outcome: Outcome | None, seconds: float) -> None:
    """Count one recorded attempt: done, retried (another attempt follows) or failed for good.

    The queue retries a retryable failure while attempts remain (`service.fail`); the same
    rule names the result here.
    """
    if not metrics_enabled():
        return
    if outcome is None:
        result = "done"
    elif outcome.retry and ctx.attempt < ctx.max_attempts:
        result = "retried"
    else:
        result = "failed"
    metrics.jobs.labels(kind=ctx.kind, result=result).inc()
    metrics.job_duration.labels(kind=ctx.kind, result=result).observe(seconds)
    if result != "retried":
        metrics.job_attempts.labels(kind=ctx.kind).observe(ctx.attempt)
