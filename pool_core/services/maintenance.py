"""Housekeeping the CLI runs (`jointpool maintenance`): stale uploads and their leftovers.

Each step first changes the database (in its own short unit of work) and then frees the
bytes, so a crash in between leaves only unreferenced objects, which the next run sweeps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.errors import StorageError
from pool_core.models import (
    Asset,
    FileEntry,
    PendingUpload,
    ReleasedObject,
    SubtitleTrack,
    utcnow,
)
from pool_core.search.cues import remove_cues
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.lease import is_held

log = logging.getLogger(__name__)

# Prefixes under which uploads open multipart uploads and stage tails.
UPLOAD_PREFIXES = ("masters/", "files/")
STAGING_PREFIX = "staging/"
PLAIN_FILES_PREFIX = "files/"
# Released plain-file objects handled per database round trip.
RELEASED_BATCH = 500


@dataclass
class StaleUploadReport:
    """What `abort_stale_uploads` did, for the CLI to print."""

    aborted: int = 0
    # Committed bytes freed by aborting them.
    bytes_freed: int = 0
    # "<org_id>:<virtual path>" of each aborted upload.
    paths: list[str] = field(default_factory=list)
    staging_objects_deleted: int = 0
    # Open multipart uploads no pending upload refers to (crash, DELE of a partial file).
    orphan_multiparts_aborted: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"aborted {self.aborted} stale upload(s), {self.bytes_freed} bytes",
            f"deleted {self.staging_objects_deleted} staging object(s)",
            f"aborted {self.orphan_multiparts_aborted} orphan multipart upload(s)",
        ]
        out += [f"  aborted {p}" for p in self.paths]
        out += [f"  error: {e}" for e in self.errors]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _older(when: datetime | None, cutoff: datetime) -> bool:
    return when is not None and when < cutoff


def abort_stale_uploads(
    db: Database, storage: ObjectStorage, *, idle_for: timedelta
) -> StaleUploadReport:
    """Abort pending uploads idle longer than `idle_for` and delete their staging objects."""
    report = StaleUploadReport()
    now = utcnow()
    cutoff = now - idle_for
    with db.session() as session:
        stale = [
            (p.id, p.org_id, p.path, p.object_key, p.s3_upload_id, p.committed_size, p.holder)
            for p in session.scalars(select(PendingUpload).where(PendingUpload.updated_at < cutoff))
            if not is_held(p, now)
        ]
    for pending_id, org_id, path, key, upload_id, size, holder in stale:
        with db.session() as session:
            # Only if nobody took it up since we looked.
            same_holder = (
                PendingUpload.holder.is_(None) if holder is None else PendingUpload.holder == holder
            )
            gone = session.execute(
                delete(PendingUpload).where(PendingUpload.id == pending_id, same_holder)
            )
            if gone.rowcount != 1:  # type: ignore[attr-defined]
                continue
        report.aborted += 1
        report.bytes_freed += size
        report.paths.append(f"{org_id}:{path}")
        try:
            if upload_id is not None:
                storage.abort_multipart(key, upload_id)
            storage.delete(f"{STAGING_PREFIX}{pending_id}/tail")
            report.staging_objects_deleted += 1 if size else 0
        except StorageError as exc:
            report.errors.append(f"{org_id}:{path}: {exc} (swept on a later run)")
    _sweep_orphans(db, storage, cutoff, report)
    log.info("maintenance: %s", "; ".join(report.lines()[:3]))
    return report


def _sweep_orphans(
    db: Database, storage: ObjectStorage, cutoff: datetime, report: StaleUploadReport
) -> None:
    with db.session() as session:
        pending = session.execute(select(PendingUpload.id, PendingUpload.s3_upload_id)).all()
    known_ids = {str(row.id) for row in pending}
    known_uploads = {row.s3_upload_id for row in pending if row.s3_upload_id}
    try:
        for prefix in UPLOAD_PREFIXES:
            for upload in storage.list_multipart_uploads(prefix):
                # Old enough that no writer can be between creating it and recording it.
                if upload.upload_id in known_uploads or not _older(upload.initiated, cutoff):
                    continue
                storage.abort_multipart(upload.key, upload.upload_id)
                report.orphan_multiparts_aborted += 1
        for obj in storage.list(STAGING_PREFIX):
            upload_ref = obj.key[len(STAGING_PREFIX) :].split("/", 1)[0]
            if upload_ref in known_ids or not _older(obj.last_modified, cutoff):
                continue
            storage.delete(obj.key)
            report.staging_objects_deleted += 1
    except StorageError as exc:
        report.errors.append(f"orphan sweep: {exc}")


@dataclass
class OrphanFilesReport:
    """What `delete_orphan_files` did."""

    deleted: int = 0
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"deleted {self.deleted} unreferenced file object(s), {self.bytes_freed} bytes"]
        return "\n".join(lines + [f"  error: {e}" for e in self.errors])


def delete_orphan_files(
    db: Database, storage: ObjectStorage, *, older_than: timedelta
) -> OrphanFilesReport:
    """Delete plain-file objects (`files/…`) no entry, pending upload or asset refers to.

    Deleting or overwriting a plain file only drops its entry; this frees the bytes. Master
    objects (`masters/…`) belong to their assets and are never touched here.
    """
    report = OrphanFilesReport()
    cutoff = utcnow() - older_than
    _delete_released(db, storage, report)
    with db.session() as session:
        referenced = set(
            session.scalars(
                select(FileEntry.object_key).where(
                    FileEntry.object_key.like(f"{PLAIN_FILES_PREFIX}%")
                )
            )
        )
        referenced |= set(
            session.scalars(select(Asset.sidecar_key).where(Asset.sidecar_key.is_not(None)))
        )
        referenced |= set(session.scalars(select(PendingUpload.object_key)))
        # Pending uploads use their id in the key: keep every object of a live upload.
        pending_ids = {str(i) for i in session.scalars(select(PendingUpload.id))}
    try:
        for obj in storage.list(PLAIN_FILES_PREFIX):
            parts = obj.key.split("/")
            if obj.key in referenced or not _older(obj.last_modified, cutoff):
                continue
            if len(parts) > 2 and parts[2] in pending_ids:
                continue
            storage.delete(obj.key)
            report.deleted += 1
            report.bytes_freed += obj.size
    except StorageError as exc:
        report.errors.append(str(exc))
    return report


def _delete_released(db: Database, storage: ObjectStorage, report: OrphanFilesReport) -> None:
    """Delete the objects deleted or overwritten plain files left, and stop counting them.

    They were released in a committed transaction, so no grace period applies. An object
    something still refers to (an asset's sidecar) is kept; only its row goes.
    """
    after = 0
    while True:
        with db.session() as session:
            batch = session.execute(
                select(ReleasedObject.id, ReleasedObject.object_key, ReleasedObject.size)
                .where(ReleasedObject.id > after)
                .order_by(ReleasedObject.id)
                .limit(RELEASED_BATCH)
            ).all()
            keys = {row.object_key for row in batch}
            referenced = _still_referenced(session, keys)
        if not batch:
            return
        after = batch[-1].id
        done: list[int] = []
        for row in batch:
            if row.object_key not in referenced:
                try:
                    storage.delete(row.object_key)
                except StorageError as exc:
                    report.errors.append(f"{row.object_key}: {exc}")
                    continue
                report.deleted += 1
                report.bytes_freed += row.size
            done.append(row.id)
        with db.session() as session:
            session.execute(delete(ReleasedObject).where(ReleasedObject.id.in_(done)))


def _still_referenced(session: Session, keys: set[str]) -> set[str]:
    found = set(session.scalars(select(FileEntry.object_key).where(FileEntry.object_key.in_(keys))))
    found |= set(session.scalars(select(Asset.sidecar_key).where(Asset.sidecar_key.in_(keys))))
    found |= set(
        session.scalars(select(PendingUpload.object_key).where(PendingUpload.object_key.in_(keys)))
    )
    return {key for key in found if key is not None}


@dataclass
class PurgeReport:
    """What `purge_retired_masters` did."""

    purged: int = 0
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"purged {self.purged} deleted or replaced master(s), {self.bytes_freed} bytes"]
        return "\n".join(lines + [f"  error: {e}" for e in self.errors])


def purge_retired_masters(
    db: Database, storage: ObjectStorage, *, kept_for: timedelta, now: datetime | None = None
) -> PurgeReport:
    """Delete the bytes of masters retired longer than `kept_for` ago, with their renditions.

    Its subtitle tracks go too. A master is retired when no file entry shows it any more
    (deleted, or replaced by a newer version). The asset row stays, marked purged, for the
    catalog history and the delivery log; nobody can download it any more. Database first,
    then storage: a crash between leaves unreferenced objects, which reconcile reports and
    never a row without bytes.
    """
    report = PurgeReport()
    cutoff = (now or utcnow()) - kept_for
    with db.write_session() as session:
        retired = session.scalars(
            select(Asset).where(
                Asset.retired_at.is_not(None), Asset.retired_at <= cutoff, Asset.purged_at.is_(None)
            )
        ).all()
        keys: list[str] = []
        for asset in retired:
            keys.append(asset.object_key)
            report.bytes_freed += asset.size
            for rendition in list(asset.renditions):
                keys.append(rendition.object_key)
                report.bytes_freed += rendition.size
                session.delete(rendition)
            tracks = session.scalars(
                select(SubtitleTrack).where(SubtitleTrack.asset_id == asset.id)
            )
            for track in tracks:
                remove_cues(session, track_ids=[track.id])
                keys += [track.original_key, track.vtt_key]
                report.bytes_freed += track.original_size + track.vtt_size
                session.delete(track)
            asset.purged_at = utcnow()
            report.purged += 1
    for key in keys:
        try:
            storage.delete(key)
        except StorageError as exc:
            report.errors.append(f"{key}: {exc}")
    if report.purged:
        log.info("purged retired masters", extra={"count": report.purged})
    return report


__all__ = [
    "OrphanFilesReport",
    "PurgeReport",
    "StaleUploadReport",
    "abort_stale_uploads",
    "delete_orphan_files",
    "purge_retired_masters",
]
