"""The nightly maintenance: one job the workers schedule for themselves, and the CLI's twin.

Steps, each independent so one failing does not stop the others: abort stale uploads, free
unreferenced plain-file objects, purge masters deleted or replaced longer ago than the
retention period, expire licenses, reconcile database and storage (repair only when
enabled), give transiently failed jobs one more chance, and hash a bounded batch of older
renditions that publish no SHA-256 yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from pool_core import queue
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.models import Job, JobStatus, utcnow
from pool_core.queue import JobContext
from pool_core.services import maintenance
from pool_core.services.reconcile import reconcile_storage
from pool_core.services.rendition_hashes import backfill_rendition_hashes
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.status import describe_unfinished

log = logging.getLogger(__name__)

NIGHTLY_KIND = "nightly_maintenance"
# Failures the queue recorded after exhausting retries of a transient cause; a job refused
# outright (a broken master, a malformed payload) is never retried behind a person's back.
TRANSIENT_FAILURE_PREFIXES = ("gave up after", "lease expired")
RETRY_WINDOW = timedelta(days=1)


@dataclass
class NightlyReport:
    """What one maintenance run did, step by step."""

    sections: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = list(self.sections)
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines)


def retry_transient_failures(db: Database, *, now: datetime | None = None) -> int:
    """Requeue jobs that failed for transient causes within the last day; return how many."""
    since = (now or utcnow()) - RETRY_WINDOW
    with db.write_session() as session:
        failed = session.scalars(
            select(Job).where(
                Job.status == JobStatus.FAILED,
                Job.finished_at >= since,
                Job.kind != NIGHTLY_KIND,
            )
        ).all()
        retried = 0
        for job in failed:
            if (job.last_error or "").startswith(TRANSIENT_FAILURE_PREFIXES):
                queue.retry_failed(session, job_id=job.id)
                retried += 1
    return retried


def run_nightly(
    db: Database, storage: ObjectStorage, settings: Settings, *, repair: bool | None = None
) -> NightlyReport:
    """Run every maintenance step and report each."""
    report = NightlyReport()
    repair = settings.maintenance_repair if repair is None else repair
    grace = timedelta(hours=settings.maintenance_orphan_grace_hours)

    def step(name: str, action: object) -> None:
        try:
            report.sections.append(f"[{name}]\n{action() if callable(action) else action}")
        except Exception as exc:  # one broken step must not skip the others
            log.exception("maintenance step failed", extra={"step": name})
            report.errors.append(f"{name}: {exc}")

    step(
        "stale uploads",
        lambda: maintenance.abort_stale_uploads(
            db, storage, idle_for=timedelta(hours=settings.upload_stale_after_hours)
        ),
    )
    step("uploads in progress", lambda: describe_unfinished(db))
    step("orphan files", lambda: maintenance.delete_orphan_files(db, storage, older_than=grace))
    step(
        "deleted masters",
        lambda: maintenance.purge_retired_masters(
            db, storage, kept_for=timedelta(days=settings.deleted_retention_days)
        ),
    )
    step("licenses", lambda: f"expired {_expire_licenses(db)} license(s)")
    step("reconcile", lambda: reconcile_storage(db, storage, repair=repair, grace=grace))
    step("jobs", lambda: f"requeued {retry_transient_failures(db)} transiently failed job(s)")
    step("rendition hashes", lambda: backfill_rendition_hashes(db, storage))
    return report


def _expire_licenses(db: Database) -> int:
    with db.write_session() as session:
        return len(workflow.expire_licenses(session))


def next_run_at(settings: Settings, *, now: datetime | None = None) -> datetime:
    """The next time of day the nightly maintenance is due."""
    now = now or utcnow()
    due = now.replace(hour=settings.maintenance_hour_utc, minute=0, second=0, microsecond=0)
    return due if due > now else due + timedelta(days=1)


def ensure_nightly_job(db: Database, settings: Settings) -> None:
    """Schedule the next nightly run unless one is already waiting."""
    with db.write_session() as session:
        waiting = session.scalar(
            select(Job.id).where(Job.kind == NIGHTLY_KIND, Job.status == JobStatus.QUEUED)
        )
        if waiting is None:
            queue.enqueue(session, kind=NIGHTLY_KIND, payload={}, run_after=next_run_at(settings))


def nightly_handlers(
    settings: Settings, db: Database, storage: ObjectStorage
) -> dict[str, Callable[[JobContext], None]]:
    """The worker's handler for the nightly job; it schedules the following night itself."""

    def handle(ctx: JobContext) -> None:
        report = run_nightly(db, storage, settings)
        log.info("nightly maintenance done\n%s", report, extra={"errors": len(report.errors)})
        ensure_nightly_job(db, settings)

    return {NIGHTLY_KIND: handle}
