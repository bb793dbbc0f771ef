"""Worker handlers of the licensing area: webhook dispatch and delivery, license expiry.

The worker merges `licensing_handlers(settings, db, storage)` into its handler table and calls
`ensure_periodic_jobs` once at start; the periodic jobs then reschedule themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core import queue
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.models import Job, JobStatus, utcnow
from pool_core.queue import JobContext
from pool_core.services import webhooks
from pool_core.settings import Settings

logger = logging.getLogger("pool_core.licensing.jobs")

EXPIRY_KIND = "license_expiry_sweep"
PERIODIC_KINDS = (webhooks.DISPATCH_KIND, EXPIRY_KIND)


def _schedule(session: Session, *, kind: str, delay_seconds: float) -> None:
    """Enqueue a periodic job unless one is already waiting (duplicates are harmless)."""
    waiting = session.scalar(
        select(Job.id).where(Job.kind == kind, Job.status == JobStatus.QUEUED).limit(1)
    )
    if waiting is None:
        queue.enqueue(
            session,
            kind=kind,
            payload={},
            run_after=utcnow() + timedelta(seconds=delay_seconds),
        )


def ensure_periodic_jobs(session: Session) -> None:
    """Make sure the webhook dispatcher and the expiry sweep are scheduled."""
    for kind in PERIODIC_KINDS:
        _schedule(session, kind=kind, delay_seconds=0)


def licensing_handlers(
    settings: Settings, db: Database, storage: Any = None
) -> dict[str, Callable[[JobContext], None]]:
    """Return the job handlers of the licensing area, by job kind."""

    def dispatch(ctx: JobContext) -> None:
        with db.write_session() as session:  # reads pending events, then queues deliveries
            created = webhooks.dispatch(session, max_attempts=settings.webhook_max_attempts)
            _schedule(
                session, kind=webhooks.DISPATCH_KIND, delay_seconds=settings.webhook_poll_seconds
            )
        if created:
            logger.info("queued %d webhook deliveries", created, extra={"count": created})

    def deliver(ctx: JobContext) -> None:
        webhooks.deliver(
            db,
            delivery_id=int(ctx.payload["delivery_id"]),
            final_attempt=ctx.is_last_attempt,
            timeout=settings.webhook_timeout_seconds,
            allow_private_targets=settings.webhook_allow_private_targets,
        )

    def sweep(ctx: JobContext) -> None:
        with db.write_session() as session:
            expired = workflow.expire_licenses(session)
            _schedule(session, kind=EXPIRY_KIND, delay_seconds=settings.license_sweep_seconds)
        if expired:
            logger.info(
                "expired %d licenses",
                len(expired),
                extra={"licenses": ",".join(str(lic.id) for lic in expired)},
            )

    return {
        webhooks.DISPATCH_KIND: dispatch,
        webhooks.DELIVERY_KIND: deliver,
        EXPIRY_KIND: sweep,
    }
