"""Older renditions get their SHA-256 recorded, a bounded batch each night.

The sync verifies a downloaded proxy or poster against `Rendition.meta["sha256"]` and falls
back to its size when none is published. This step reads each such rendition from storage
once, hashes it and records the hash, so older renditions get the same verification.

Nothing is recorded unless the stored object still has the size the row says: a re-transcode
that replaced the bytes under the same key, or an object gone missing, is left to the
transcoder and the reconciliation (and reported here).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select

from pool_core.db import Database
from pool_core.errors import ObjectNotFound, StorageError
from pool_core.models import Rendition
from pool_core.storage.base import ObjectStorage

log = logging.getLogger(__name__)

# Hashing runs at a few hundred MiB/s per core; 50 GiB keeps one night's share to minutes.
DEFAULT_BYTE_BUDGET = 50 << 30
BATCH = 200


@dataclass
class HashBackfillReport:
    """What one backfill pass did."""

    hashed: int = 0
    hashed_bytes: int = 0
    remaining: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"rendition hashes: recorded {self.hashed} ({self.hashed_bytes} bytes read), "
            f"{self.remaining} left for later nights"
        ]
        lines += [f"  skipped {reason}" for reason in self.skipped]
        return "\n".join(lines)


def _without_hash_after(after_id: int) -> Select[int, str, int]:
    """Renditions that publish no hash, past `after_id`, in id order."""
    return (
        select(Rendition.id, Rendition.object_key, Rendition.size)
        .where(Rendition.id > after_id, Rendition.meta["sha256"].as_string().is_(None))
        .order_by(Rendition.id)
    )


def _next_batch(db: Database, after_id: int) -> list[tuple[int, str, int]]:
    """The next batch of (id, object key, size) of renditions that publish no hash."""
    with db.session() as session:
        rows = session.execute(_without_hash_after(after_id).limit(BATCH)).all()
    return [(row.id, row.object_key, row.size) for row in rows]


def _count_after(db: Database, after_id: int) -> int:
    with db.session() as session:
        counted = select(func.count()).select_from(_without_hash_after(after_id).subquery())
        return session.scalar(counted) or 0


def _hash_object(storage: ObjectStorage, key: str, size: int) -> str:
    """SHA-256 of the stored object; `ValueError` when it does not have the row's size.

    The size is asked first, so a replaced object is not read whole night after night.
    """
    stored = storage.head(key).size
    if stored == size:
        digest = hashlib.sha256()
        stored = 0
        for chunk in storage.open_stream(key, chunk_size=8 << 20):
            digest.update(chunk)
            stored += len(chunk)
        if stored == size:
            return digest.hexdigest()
    raise ValueError(f"storage holds {stored} bytes, the row says {size} (re-transcode?)")


def _record(db: Database, rendition_id: int, key: str, sha256: str) -> bool:
    """Store the hash on the row if it still describes that object; False when it is gone."""
    with db.write_session() as session:
        rendition = session.get(Rendition, rendition_id)
        if rendition is None or rendition.object_key != key:
            return False
        if not rendition.meta.get("sha256"):
            # A new dict: SQLAlchemy tracks the JSON column by assignment, not by mutation.
            rendition.meta = {**rendition.meta, "sha256": sha256}
        return True


def backfill_rendition_hashes(
    db: Database, storage: ObjectStorage, *, byte_budget: int = DEFAULT_BYTE_BUDGET
) -> HashBackfillReport:
    """Hash renditions that publish no SHA-256, in id order, until the next one would take
    the bytes read past `byte_budget` (the first one is always read)."""
    report = HashBackfillReport()
    after_id = 0
    while batch := _next_batch(db, after_id):
        for rendition_id, key, size in batch:
            if report.hashed and report.hashed_bytes + size > byte_budget:
                report.remaining = _count_after(db, after_id)
                return _logged(report)
            after_id = rendition_id
            try:
                sha256 = _hash_object(storage, key, size)
            except ObjectNotFound:
                report.skipped.append(f"{key}: the object is missing (see reconcile)")
                continue
            except (StorageError, ValueError) as exc:
                report.skipped.append(f"{key}: {exc}")
                continue
            if _record(db, rendition_id, key, sha256):
                report.hashed += 1
                report.hashed_bytes += size
    return _logged(report)


def _logged(report: HashBackfillReport) -> HashBackfillReport:
    if report.hashed or report.skipped:
        log.info(
            "rendition hashes backfilled",
            extra={"hashed": report.hashed, "skipped": len(report.skipped)},
        )
    return report
