"""Pool-wide gauges computed from the database by one node at a time.

Storage per organization, quotas, licenses by state, the last delivery to each licensee,
failed webhook deliveries, and the job queue. Every node reads the same database, so if each
exported them a `sum()` in PromQL would count them once per node: one node computes them.

Which node: the worker (the FTP node and the API never run this collector). With several
workers on PostgreSQL, the one holding a session-level advisory lock (`LEADER_LOCK_KEY`, held
on a connection of its own for as long as the process lives) exports them and the others
export nothing; when the leader dies its connection closes, the lock is free and the next
scrape of another worker takes it. On SQLite the pool runs on one host with one worker, which
exports them (several workers on one SQLite file would each export the same numbers).

The queries are aggregates over indexed columns; results are cached `CACHE_SECONDS` so a
tight scrape interval does not turn into database load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.models import Asset, FileEntry, Job, JobStatus, Organization, Rendition
from pool_core.models.files import PendingUpload
from pool_core.models.licensing import (
    Delivery,
    License,
    LicenseStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
)

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0
# "jointpool" in ASCII, as the 64-bit key of pg_try_advisory_lock.
LEADER_LOCK_KEY = 0x6A6F696E74706F6F
QUEUE_STATES = {
    "queued": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "failed": JobStatus.FAILED,
}


class PoolCollector(Collector):
    """Yields the pool-wide gauges when this process is the one node computing them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None
        self._leader_conn: Connection | None = None

    def collect(self) -> Iterator[Metric]:
        """The gauges (cached), or nothing when another node computes them."""
        with self._lock:
            if not self._is_leader():
                return iter(())
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= CACHE_SECONDS:
                try:
                    with self.db.session() as session:
                        self._cached = (now, compute(session))
                except Exception:
                    # The node's own metrics must still be served while the database is
                    # away (/readyz says so); these gauges are then absent, not stale.
                    log.warning("pool metrics: the database did not answer", exc_info=True)
                    self._cached = None
                    return iter(())
            return iter(self._cached[1])

    def _is_leader(self) -> bool:
        if self.db.is_sqlite:
            return True
        if self._leader_conn is not None:
            try:
                self._leader_conn.execute(text("SELECT 1"))
                # Never leave the lock's connection idle inside a transaction.
                self._leader_conn.commit()
                return True
            except Exception:
                # The connection (and the lock with it) is gone: compete again.
                self._drop_leader_conn()
        try:
            conn = self.db.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY})
            if got.scalar():
                conn.commit()
                self._leader_conn = conn
                return True
            conn.rollback()
            conn.close()
        except Exception:
            log.warning("pool metrics: could not try the leader lock", exc_info=True)
        return False

    def _drop_leader_conn(self) -> None:
        conn, self._leader_conn = self._leader_conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:
                log.debug("pool metrics: closing the leader connection failed", exc_info=True)

    def close(self) -> None:
        """Release the leader lock (a clean stop hands the job over at once)."""
        with self._lock:
            conn = self._leader_conn
            if conn is not None:
                # Unlocked explicitly: closing the connection frees the lock only once the
                # server's backend has exited, which a busy server does after the next node
                # has already tried and lost (seen in CI: no gauges until its next scrape).
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY})
                    conn.commit()
                except Exception:
                    log.debug("pool metrics: releasing the leader lock failed", exc_info=True)
            self._drop_leader_conn()


def compute(session: Session) -> list[Metric]:
    """Every pool-wide gauge, from one database session."""
    return [
        *_storage(session),
        _quotas(session),
        _licenses(session),
        _sync_freshness(session),
        _webhooks_failed(session),
        *_queue(session),
    ]


def _org_codes(session: Session) -> dict[int, str]:
    return {
        org_id: code for org_id, code in session.execute(select(Organization.id, Organization.code))
    }


def _storage(session: Session) -> list[Metric]:
    """Bytes per organization and kind, counted as the quota counts them."""
    codes = _org_codes(session)
    kept = Asset.purged_at.is_(None)
    queries: dict[str, Any] = {
        "masters": select(Asset.org_id, func.sum(Asset.size)).where(kept).group_by(Asset.org_id),
        "renditions": select(Asset.org_id, func.sum(Rendition.size))
        .join(Asset, Asset.id == Rendition.asset_id)
        .where(kept)
        .group_by(Asset.org_id),
        "files": select(FileEntry.org_id, func.sum(FileEntry.size))
        .where(FileEntry.is_dir.is_(False), FileEntry.asset_id.is_(None))
        .group_by(FileEntry.org_id),
        "staging": select(PendingUpload.org_id, func.sum(PendingUpload.committed_size)).group_by(
            PendingUpload.org_id
        ),
    }
    family = GaugeMetricFamily(
        "jointpool_storage_bytes",
        "Stored bytes per organization and kind (masters, renditions, files, staging).",
        labels=["org", "kind"],
    )
    for kind, query in queries.items():
        found = {org_id: int(total or 0) for org_id, total in session.execute(query)}
        for org_id, code in codes.items():
            family.add_metric([code, kind], found.get(org_id, 0))
    return [family]


def _quotas(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "jointpool_quota_bytes", "Storage quota of each organization that has one.", labels=["org"]
    )
    rows = session.execute(
        select(Organization.code, Organization.quota_bytes).where(
            Organization.quota_bytes.is_not(None)
        )
    )
    for code, quota in rows:
        family.add_metric([code], int(quota or 0))
    return family


def _licenses(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "jointpool_licenses", "Licenses by state (active, revoked, expired).", labels=["state"]
    )
    rows = session.execute(select(License.status, func.count()).group_by(License.status))
    counts = {LicenseStatus(status): count for status, count in rows}
    for state in LicenseStatus:
        family.add_metric([state.value], counts.get(state, 0))
    return family


def _sync_freshness(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "jointpool_sync_last_success_timestamp_seconds",
        "Unix time of the last delivery (API, FTP or sync) to each licensee organization.",
        labels=["org"],
    )
    rows = session.execute(
        select(Organization.code, func.max(Delivery.created_at))
        .join(Organization, Organization.id == Delivery.org_id)
        .group_by(Organization.code)
    )
    for code, last in rows:
        if last is not None:
            family.add_metric([code], _unix(last))
    return family


def _webhooks_failed(session: Session) -> Metric:
    failed = session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.status == WebhookDeliveryStatus.FAILED)
    )
    return GaugeMetricFamily(
        "jointpool_webhook_deliveries_failed",
        "Webhook deliveries that failed for good (after the queue's last retry).",
        value=int(failed or 0),
    )


def _queue(session: Session) -> list[Metric]:
    depth = GaugeMetricFamily(
        "jointpool_queue_jobs",
        "Jobs by kind and state (queued, running, failed).",
        labels=["kind", "state"],
    )
    rows = session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(list(QUEUE_STATES.values())))
        .group_by(Job.kind, Job.status)
    )
    for kind, status, count in rows:
        depth.add_metric([kind, JobStatus(status).value], count)
    now = datetime.now(UTC)
    oldest = session.scalar(
        select(func.min(Job.run_after)).where(Job.status == JobStatus.QUEUED, Job.run_after <= now)
    )
    age = max(0.0, _unix(now) - _unix(oldest)) if oldest is not None else 0.0
    waiting = GaugeMetricFamily(
        "jointpool_queue_oldest_waiting_seconds",
        "How long the oldest job that may run now has waited (0 when none waits).",
        value=age,
    )
    return [depth, waiting]


def _unix(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
