"""The settle window: one settled master, one asset (ARCHITECTURE decision 9).

In FTP stream mode a clean end of the data connection may still be a client that crashed
right after closing it, and continues the file a moment later (REST/APPE at its size). So a
master's asset and its transcode job are created at once (screening is not delayed), but
what announces it to the catalog and other members waits `upload_settle_seconds`: the
`asset.received` change event and the sidecar ingest (which links a title) are queued to run
when the window ends. A new upload to the same path inside the window supersedes the
unsettled asset: its jobs, change events and renditions go, and the objects it alone used
are deleted after the commit. With a window of 0 everything is immediate, as before.

A continuation may start inside the window and take far longer than it (a multi-GB master
over a slow link): while an upload is pending at the asset's path, the settle job does not
announce the short version but queues itself again, so the continuation still supersedes it.
Announcing is idempotent (the job runner reruns a job whose completion it could not record)
and never happens for a master rejected by its declared size or hash.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.errors import JobError, StorageError
from pool_core.models import Asset, ChangeEvent, Job, JobStatus, PendingUpload, utcnow
from pool_core.queue import JobContext, enqueue
from pool_core.services.changes import record_change
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.declared import is_rejected

SETTLE_JOB = "settle_upload"
RECEIVED = "asset.received"
# How long a settle job waits before looking again when an upload is pending at its path,
# unless the worker is given the settle window itself (`build_handlers`).
DEFAULT_RECHECK_SECONDS = 30.0
# Re-checks back off (doubling, up to an hour): a continuation abandoned half-way stays
# pending until maintenance aborts it (`upload_stale_after_hours`), and must not cost a job
# row per window meanwhile.
MAX_RECHECK_SECONDS = 3600.0
# Payload key: how many times this asset's settle job has been queued again.
RECHECKS = "rechecks"
# Jobs that belong to one asset, by the `asset_id` in their payload.
_ASSET_JOB_KINDS = ("transcode", "ingest_sidecar", SETTLE_JOB)
# Session.info key: object keys to delete once the superseding upload has committed.
DELETE_AFTER_COMMIT = "delete_after_commit"


def settles_at(settle_seconds: float) -> datetime | None:
    """When a master completed now settles (None: at once)."""
    return utcnow() + timedelta(seconds=settle_seconds) if settle_seconds > 0 else None


def received_data(asset: Asset) -> dict[str, Any]:
    """The payload of an `asset.received` change event."""
    return {
        "path": asset.source_path,
        "filename": asset.filename,
        "size": asset.size,
        "version": asset.version,
        "md5": asset.md5,
        "sha256": asset.sha256,
    }


def _asset_jobs(session: Session, asset: Asset) -> list[Job]:
    # Only jobs created since the asset: the scan stays small however many jobs the
    # organization has had (the payload is JSON, which SQLite and PostgreSQL index apart).
    rows = session.scalars(
        select(Job).where(
            Job.org_id == asset.org_id,
            Job.kind.in_(_ASSET_JOB_KINDS),
            Job.created_at >= asset.created_at,
        )
    )
    return [j for j in rows if str((j.payload or {}).get("asset_id")) == str(asset.id)]


def get_unsettled(session: Session, *, asset_id: uuid.UUID | None) -> Asset | None:
    """The asset if its settle job has not run yet (it may still be superseded)."""
    asset = session.get(Asset, asset_id) if asset_id is not None else None
    if asset is None:
        return None
    unsettled = any(
        j.kind == SETTLE_JOB and j.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        for j in _asset_jobs(session, asset)
    )
    return asset if unsettled else None


def settle_time(session: Session, *, asset: Asset) -> datetime | None:
    """When an unsettled asset's window ends (None if it has settled)."""
    times = [
        j.run_after
        for j in _asset_jobs(session, asset)
        if j.kind == SETTLE_JOB and j.status == JobStatus.QUEUED
    ]
    return max(times, default=None)


def supersede(session: Session, *, asset: Asset) -> None:
    """Remove an unsettled asset that a newer upload of the same path replaces.

    Its queued or running jobs are deleted (a transcode worker still on it loses its job row,
    so its result is discarded), its change events are dropped (only its own organization
    could see them), and its master and rendition objects are deleted after the commit.
    """
    keys = [asset.object_key, *(r.object_key for r in asset.renditions)]
    for job in _asset_jobs(session, asset):
        session.delete(job)
    session.execute(
        delete(ChangeEvent).where(
            ChangeEvent.subject_type == "asset", ChangeEvent.subject_id == str(asset.id)
        )
    )
    session.delete(asset)
    session.flush()
    session.info.setdefault(DELETE_AFTER_COMMIT, []).extend(keys)


def delete_after_commit(storage: ObjectStorage, keys: list[str]) -> None:
    """Best effort: what is left is unreferenced and swept by maintenance."""
    for key in keys:
        with contextlib.suppress(StorageError):
            storage.delete(key)


def queue_settle(session: Session, *, asset: Asset, run_after: datetime, rechecks: int = 0) -> None:
    """Queue the job that announces the asset when its window ends."""
    payload: dict[str, Any] = {"asset_id": str(asset.id)}
    if rechecks:
        payload[RECHECKS] = rechecks
    enqueue(
        session,
        kind=SETTLE_JOB,
        payload=payload,
        org_id=asset.org_id,
        run_after=run_after,
    )


def upload_in_progress(session: Session, *, asset: Asset) -> bool:
    """Whether an upload is pending that may still replace the asset (its continuation).

    Any pending upload at the asset's path started after the asset completed (finishing
    deletes the pending row, a new STOR at 0 replaces it), so it is a continuation or a
    re-upload. The `continues` marker (see `pool_core.uploads.service`) also finds one at
    another path; it is replaced by the hash state once the continuation's first part is in.
    """
    rows = session.scalars(select(PendingUpload).where(PendingUpload.org_id == asset.org_id))
    for row in rows:
        continues = (row.hash_state or {}).get("continues") or {}
        if row.path == asset.source_path or continues.get("key") == asset.object_key:
            return True
    return False


def is_announced(session: Session, *, asset_id: uuid.UUID) -> bool:
    """Whether the asset's `asset.received` event exists already."""
    found = session.scalar(
        select(ChangeEvent.id)
        .where(
            ChangeEvent.kind == RECEIVED,
            ChangeEvent.subject_type == "asset",
            ChangeEvent.subject_id == str(asset_id),
        )
        .limit(1)
    )
    return found is not None


def settle(
    session: Session,
    *,
    asset_id: uuid.UUID,
    recheck_seconds: float = DEFAULT_RECHECK_SECONDS,
    rechecks: int = 0,
) -> bool:
    """Announce a settled asset (`asset.received`); True only if this call announced it.

    False if it was superseded, is rejected, was announced already (a rerun of a job whose
    completion was not recorded), or an upload is pending at its path: then the settle job
    is queued again, `recheck_seconds` from now doubled per earlier re-check (`rechecks`)
    up to `MAX_RECHECK_SECONDS`, and the asset stays `settling`.
    """
    # FOR UPDATE (PostgreSQL): a continuation that supersedes the asset deletes this row, so
    # it waits for this transaction, which then still sees its pending upload; or this one
    # waits for it and finds the asset gone. SQLite's write transactions are serial anyway.
    asset = session.get(Asset, asset_id, with_for_update=True)
    if asset is None or is_rejected(asset) or is_announced(session, asset_id=asset.id):
        return False
    if upload_in_progress(session, asset=asset):
        delay = min(recheck_seconds * 2 ** min(rechecks, 20), MAX_RECHECK_SECONDS)
        queue_settle(
            session,
            asset=asset,
            run_after=utcnow() + timedelta(seconds=delay),
            rechecks=rechecks + 1,
        )
        return False
    announce(session, asset)
    return True


def announce(session: Session, asset: Asset) -> None:
    """Record the `asset.received` change event: the master is settled, members may see it."""
    record_change(
        session,
        org_id=asset.org_id,
        kind=RECEIVED,
        subject_type="asset",
        subject_id=str(asset.id),
        data=received_data(asset),
    )


def build_handlers(
    db: Database, *, recheck_seconds: float = DEFAULT_RECHECK_SECONDS
) -> dict[str, Callable[[JobContext], None]]:
    """The upload jobs for the worker: `{"settle_upload": handler}`.

    `recheck_seconds`: pass the settle window (`upload_settle_seconds`), so a master whose
    continuation is still being written is looked at again one window later.
    """
    recheck = max(recheck_seconds, 1.0)

    def handle(ctx: JobContext) -> None:
        try:
            asset_id = uuid.UUID(str(ctx.payload["asset_id"]))
        except (KeyError, ValueError) as exc:
            raise JobError(f"{SETTLE_JOB} payload needs an asset_id: {ctx.payload!r}") from exc
        with db.write_session() as session:
            settle(
                session,
                asset_id=asset_id,
                recheck_seconds=recheck,
                rechecks=int(ctx.payload.get(RECHECKS) or 0),
            )

    return {SETTLE_JOB: handle}
