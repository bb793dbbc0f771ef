"""Reconcile the database with object storage, both ways, with an opt-in repair.

- objects without entries: masters, renditions and files in S3 that no row refers to
  (a crash between the upload and its transaction, a half-finished re-transcode);
- entries without objects: assets, renditions and file entries whose bytes are gone.

The check only reads. `repair=True` deletes unreferenced objects older than the grace
period (younger ones may belong to a transaction still in flight) and marks assets whose
master is gone as failed, so nobody screens or licenses what cannot be delivered.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from pool_core.catalog.assets import mark_asset_failed
from pool_core.db import Database
from pool_core.models import (
    Asset,
    AssetStatus,
    FileEntry,
    PendingUpload,
    ReleasedObject,
    Rendition,
    SubtitleTrack,
    utcnow,
)
from pool_core.storage.base import ObjectStorage

log = logging.getLogger(__name__)

# Prefixes whose every object must be referenced by a row.
OWNED_PREFIXES = ("masters/", "renditions/", "files/", "subtitles/")
MISSING_MASTER_REASON = "the master file is missing from storage; upload it again"


@dataclass
class ReconcileReport:
    """What a reconciliation found and, with repair, what it changed."""

    objects_checked: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    orphan_bytes: int = 0
    missing_assets: list[str] = field(default_factory=list)
    missing_renditions: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    deleted_objects: int = 0
    assets_marked_failed: int = 0
    repaired: bool = False

    @property
    def clean(self) -> bool:
        """Whether database and storage agree."""
        return not (
            self.orphan_objects
            or self.missing_assets
            or self.missing_renditions
            or self.missing_files
        )

    def __str__(self) -> str:
        lines = [
            f"reconcile: {self.objects_checked} object(s) checked",
            f"  objects without entries: {len(self.orphan_objects)} ({self.orphan_bytes} bytes)",
            f"  assets without master object: {len(self.missing_assets)}",
            f"  renditions without object: {len(self.missing_renditions)}",
            f"  file entries without object: {len(self.missing_files)}",
        ]
        lines += [f"    orphan {key}" for key in self.orphan_objects[:50]]
        lines += [f"    missing master of asset {a}" for a in self.missing_assets[:50]]
        if self.repaired:
            lines.append(
                f"  repaired: deleted {self.deleted_objects} object(s), "
                f"marked {self.assets_marked_failed} asset(s) failed"
            )
        elif not self.clean:
            lines.append("  (nothing changed; run with --repair to fix)")
        return "\n".join(lines)


def reconcile_storage(
    db: Database,
    storage: ObjectStorage,
    *,
    repair: bool = False,
    grace: timedelta = timedelta(hours=6),
) -> ReconcileReport:
    """Compare rows and objects; with `repair`, delete old orphans and fail broken assets."""
    report = ReconcileReport(repaired=repair)
    # Objects first, rows second: a row committed meanwhile then finds its object listed,
    # and an object uploaded meanwhile is younger than the grace period.
    objects = {}
    for prefix in OWNED_PREFIXES:
        for info in storage.list(prefix):
            objects[info.key] = info
    report.objects_checked = len(objects)
    with db.session() as session:
        asset_keys = {
            key: asset_id
            for key, asset_id in session.execute(
                # A purged master's bytes are gone on purpose.
                select(Asset.object_key, Asset.id).where(Asset.purged_at.is_(None))
            )
        }
        sidecar_keys = set(
            session.scalars(select(Asset.sidecar_key).where(Asset.sidecar_key.is_not(None)))
        )
        rendition_keys = set(session.scalars(select(Rendition.object_key)))
        file_keys = set(
            session.scalars(select(FileEntry.object_key).where(FileEntry.object_key.is_not(None)))
        )
        pending_keys = set(session.scalars(select(PendingUpload.object_key)))
        subtitle_keys = {
            key
            for pair in session.execute(select(SubtitleTrack.original_key, SubtitleTrack.vtt_key))
            for key in pair
        }
        # Released bytes (a replaced file or track) wait for the nightly sweep, knowingly.
        released_keys = set(session.scalars(select(ReleasedObject.object_key)))
    referenced = (
        asset_keys.keys()
        | sidecar_keys
        | rendition_keys
        | file_keys
        | pending_keys
        | subtitle_keys
        | released_keys
    )
    cutoff = utcnow() - grace
    for key, info in sorted(objects.items()):
        if key in referenced:
            continue
        # Objects of a pending upload carry its key as a prefix (multipart parts, tails).
        if any(key.startswith(pending) for pending in pending_keys):
            continue
        report.orphan_objects.append(key)
        report.orphan_bytes += info.size
        if repair and info.last_modified is not None and info.last_modified < cutoff:
            storage.delete(key)
            report.deleted_objects += 1
    report.missing_assets = sorted(str(a) for k, a in asset_keys.items() if k not in objects)
    report.missing_renditions = sorted(k for k in rendition_keys if k not in objects)
    report.missing_files = sorted(k for k in file_keys if k is not None and k not in objects)
    if repair and report.missing_assets:
        report.assets_marked_failed = _fail_assets_without_master(db, report.missing_assets)
    log.info(
        "storage reconciled",
        extra={
            "orphans": len(report.orphan_objects),
            "missing_assets": len(report.missing_assets),
            "repair": repair,
        },
    )
    return report


def _fail_assets_without_master(db: Database, asset_ids: list[str]) -> int:
    marked = 0
    with db.write_session() as session:
        ids = [uuid.UUID(value) for value in asset_ids]
        for asset in session.scalars(select(Asset).where(Asset.id.in_(ids))):
            if asset.status is AssetStatus.FAILED:
                continue
            mark_asset_failed(session, asset, MISSING_MASTER_REASON)
            marked += 1
    return marked
