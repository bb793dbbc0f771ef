"""Uploads half-way: pending (resumable) and settling masters, for operators and the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.models import Asset, Job, JobStatus, PendingUpload, utcnow
from pool_core.uploads.lease import is_held
from pool_core.uploads.settle import SETTLE_JOB


@dataclass(frozen=True)
class UploadStatus:
    """One upload that is not done: `pending` (resumable) or `settling` (complete, waiting)."""

    org_id: int
    path: str
    state: str
    # Bytes stored so far (pending) or the file's size (settling).
    size: int
    started_at: datetime
    updated_at: datetime
    age_seconds: float
    # Pending: a session is writing it right now. Settling: when the window ends.
    active: bool
    settles_at: datetime | None


def list_unfinished(session: Session, *, org_id: int | None = None) -> list[UploadStatus]:
    """Pending and settling uploads, oldest first (of one organization, or all)."""
    now = utcnow()
    out: list[UploadStatus] = []
    pending = select(PendingUpload)
    settling = select(Job).where(
        Job.kind == SETTLE_JOB, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
    )
    if org_id is not None:
        pending = pending.where(PendingUpload.org_id == org_id)
        settling = settling.where(Job.org_id == org_id)
    for row in session.scalars(pending):
        out.append(
            UploadStatus(
                org_id=row.org_id,
                path=row.path,
                state="pending",
                size=row.committed_size,
                started_at=row.created_at,
                updated_at=row.updated_at,
                age_seconds=(now - row.updated_at).total_seconds(),
                active=is_held(row, now),
                settles_at=None,
            )
        )
    # A settle job that found a continuation pending queues its successor while it still
    # runs: one line per asset, with the latest time it will settle.
    latest: dict[uuid.UUID, Job] = {}
    for job in session.scalars(settling):
        asset_id = _asset_id(job)
        if asset_id is not None and (
            asset_id not in latest or job.run_after > latest[asset_id].run_after
        ):
            latest[asset_id] = job
    for asset_id, job in latest.items():
        asset = session.get(Asset, asset_id)
        if asset is None:
            continue
        out.append(
            UploadStatus(
                org_id=asset.org_id,
                path=asset.source_path,
                state="settling",
                size=asset.size,
                started_at=asset.created_at,
                updated_at=asset.created_at,
                age_seconds=(now - asset.created_at).total_seconds(),
                active=False,
                settles_at=job.run_after,
            )
        )
    return sorted(out, key=lambda u: u.started_at)


def _asset_id(job: Job) -> uuid.UUID | None:
    try:
        return uuid.UUID(str((job.payload or {}).get("asset_id")))
    except ValueError:
        return None


def describe_unfinished(db: Database) -> str:
    """The maintenance report's lines: every pending and settling upload of every org."""
    with db.session() as session:
        items = list_unfinished(session)
    lines = [f"{len(items)} upload(s) pending or settling"]
    for item in items:
        extra = "writing now" if item.active else f"idle {item.age_seconds:.0f} s"
        if item.settles_at is not None:
            extra = f"settles at {item.settles_at.isoformat(timespec='seconds')}"
        lines.append(f"  {item.state} {item.org_id}:{item.path} {item.size} bytes, {extra}")
    return "\n".join(lines)
