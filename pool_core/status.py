"""The pool at a glance, for `jointpool status`: one read of the database, one report.

Every number is computed from the database, so any machine with the settings can print it
while the pool runs: the nodes' heartbeats, the job queue, recent failures, storage against
quotas (the same `used_bytes` rule the quota enforces), unfinished uploads and licenses about
to expire. `as_dict` gives the same data, JSON-ready, for scripts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.models import (
    Job,
    JobStatus,
    License,
    LicenseStatus,
    Node,
    Organization,
    Title,
    utcnow,
)
from pool_core.nodes import is_stale
from pool_core.uploads.quota import used_bytes
from pool_core.uploads.status import list_unfinished

FAILURE_WINDOW = timedelta(hours=24)
EXPIRY_WINDOW = timedelta(days=7)
# The most recent failures listed one by one; the counts cover all of them.
FAILURES_LISTED = 10
# A failure's reason is cut to one line of this many characters on the screen.
_REASON_CHARS = 160


@dataclass(frozen=True)
class NodeLine:
    """One process of the pool, as its last heartbeat described it."""

    kind: str
    hostname: str
    pid: int
    version: str
    address: str | None
    started_at: datetime
    last_seen_at: datetime
    uptime_seconds: float
    live: bool


@dataclass(frozen=True)
class OldestJob:
    """The job that has waited longest since it became due."""

    id: str
    kind: str
    due_since: datetime
    waiting_seconds: float


@dataclass(frozen=True)
class QueueLine:
    """Jobs of one kind that are not finished."""

    kind: str
    queued: int
    running: int


@dataclass(frozen=True)
class FailedJob:
    """A job that failed for good."""

    id: str
    kind: str
    finished_at: datetime | None
    attempts: int
    reason: str


@dataclass(frozen=True)
class StorageLine:
    """One member's stored bytes against its quota."""

    org: str
    name: str
    used_bytes: int
    quota_bytes: int | None
    used_fraction: float | None


@dataclass(frozen=True)
class UploadLine:
    """An upload that is not finished."""

    org: str
    path: str
    state: str
    size: int
    idle_seconds: float
    active: bool
    stale: bool


@dataclass(frozen=True)
class ExpiringLicense:
    """An active license that ends within the expiry window."""

    id: int
    title: str
    licensor: str
    licensee: str
    ends_at: datetime


@dataclass(frozen=True)
class PoolStatus:
    """Everything `jointpool status` shows."""

    generated_at: datetime
    heartbeat_seconds: float
    nodes: list[NodeLine]
    queue: list[QueueLine]
    oldest_waiting: OldestJob | None
    failures_24h: int
    failures_by_kind: dict[str, int]
    recent_failures: list[FailedJob]
    storage: list[StorageLine]
    uploads: list[UploadLine]
    expiring_licenses: list[ExpiringLicense]

    def as_dict(self) -> dict[str, Any]:
        """The same data with dates as ISO 8601 strings (for `--json`)."""
        data: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def collect(session: Session, *, heartbeat_seconds: float, stale_upload_hours: float) -> PoolStatus:
    """Read the pool's state from the database."""
    now = utcnow()
    orgs = {
        org.id: org for org in session.scalars(select(Organization).order_by(Organization.code))
    }
    failures = _failures(session, now)
    return PoolStatus(
        generated_at=now,
        heartbeat_seconds=heartbeat_seconds,
        nodes=_nodes(session, now, heartbeat_seconds),
        queue=_queue(session),
        oldest_waiting=_oldest_waiting(session, now),
        failures_24h=sum(failures.values()),
        failures_by_kind=failures,
        recent_failures=_recent_failures(session, now),
        storage=_storage(session, orgs),
        uploads=_uploads(session, orgs, stale_upload_hours),
        expiring_licenses=_expiring(session, now, orgs),
    )


def _nodes(session: Session, now: datetime, heartbeat_seconds: float) -> list[NodeLine]:
    rows = session.scalars(select(Node).order_by(Node.kind, Node.hostname, Node.started_at))
    return [
        NodeLine(
            kind=node.kind,
            hostname=node.hostname,
            pid=node.pid,
            version=node.version,
            address=node.address,
            started_at=node.started_at,
            last_seen_at=node.last_seen_at,
            uptime_seconds=max(0.0, (now - node.started_at).total_seconds()),
            live=not is_stale(node, now=now, heartbeat_seconds=heartbeat_seconds),
        )
        for node in rows
    ]


def _queue(session: Session) -> list[QueueLine]:
    counts: dict[str, dict[JobStatus, int]] = {}
    rows = session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .group_by(Job.kind, Job.status)
    )
    for kind, status, count in rows:
        counts.setdefault(kind, {})[status] = int(count)
    return [
        QueueLine(
            kind=kind,
            queued=by_state.get(JobStatus.QUEUED, 0),
            running=by_state.get(JobStatus.RUNNING, 0),
        )
        for kind, by_state in sorted(counts.items())
    ]


def _oldest_waiting(session: Session, now: datetime) -> OldestJob | None:
    # Waiting = due and unclaimed; a job scheduled for later (a retry's backoff, tonight's
    # maintenance) is not behind.
    job = session.scalars(
        select(Job)
        .where(Job.status == JobStatus.QUEUED, Job.run_after <= now)
        .order_by(Job.run_after, Job.id)
        .limit(1)
    ).first()
    if job is None:
        return None
    return OldestJob(
        id=str(job.id),
        kind=job.kind,
        due_since=job.run_after,
        waiting_seconds=max(0.0, (now - job.run_after).total_seconds()),
    )


def _failed_since(now: datetime) -> tuple[Any, ...]:
    return (Job.status == JobStatus.FAILED, Job.finished_at >= now - FAILURE_WINDOW)


def _failures(session: Session, now: datetime) -> dict[str, int]:
    rows = session.execute(
        select(Job.kind, func.count()).where(*_failed_since(now)).group_by(Job.kind)
    )
    return {kind: int(count) for kind, count in sorted(rows)}


def _recent_failures(session: Session, now: datetime) -> list[FailedJob]:
    jobs = session.scalars(
        select(Job)
        .where(*_failed_since(now))
        .order_by(Job.finished_at.desc(), Job.id)
        .limit(FAILURES_LISTED)
    )
    return [
        FailedJob(
            id=str(job.id),
            kind=job.kind,
            finished_at=job.finished_at,
            attempts=job.attempts,
            reason=_first_line(job.last_error or ""),
        )
        for job in jobs
    ]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1] + "…"


def _storage(session: Session, orgs: dict[int, Organization]) -> list[StorageLine]:
    lines = []
    for org in orgs.values():
        used = used_bytes(session, org_id=org.id)
        quota = org.quota_bytes
        lines.append(
            StorageLine(
                org=org.code,
                name=org.name,
                used_bytes=used,
                quota_bytes=quota,
                used_fraction=used / quota if quota else None,
            )
        )
    return lines


def _uploads(
    session: Session, orgs: dict[int, Organization], stale_upload_hours: float
) -> list[UploadLine]:
    stale_after = stale_upload_hours * 3600
    return [
        UploadLine(
            org=orgs[item.org_id].code if item.org_id in orgs else str(item.org_id),
            path=item.path,
            state=item.state,
            size=item.size,
            idle_seconds=item.age_seconds,
            active=item.active,
            # Stale the way maintenance sees it: pending, nobody writing, idle too long.
            stale=item.state == "pending" and not item.active and item.age_seconds > stale_after,
        )
        for item in list_unfinished(session)
    ]


def _expiring(
    session: Session, now: datetime, orgs: dict[int, Organization]
) -> list[ExpiringLicense]:
    rows = session.execute(
        select(License, Title.original_title)
        .join(Title, Title.id == License.title_id)
        .where(
            License.status == LicenseStatus.ACTIVE,
            License.ends_at >= now,
            License.ends_at <= now + EXPIRY_WINDOW,
        )
        .order_by(License.ends_at, License.id)
    )

    def code(org_id: int) -> str:
        return orgs[org_id].code if org_id in orgs else str(org_id)

    return [
        ExpiringLicense(
            id=license_.id,
            title=title,
            licensor=code(license_.licensor_org_id),
            licensee=code(license_.licensee_org_id),
            ends_at=license_.ends_at,
        )
        for license_, title in rows
    ]
