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

from sqlalchemy import select

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


def _without_hash(db: Database, after_id: int) -> list[tuple[int, str, int]]:
    """The next batch of (id, object key, size) of renditions that publish no hash."""
    with db.session() as session:
        rows = session.execute(
            select(Rendition.id, Rendition.object_key, Rendition.size)
            .where(Rendition.id > after_id, Rendition.meta["sha256"].as_string().is_(None))
            .order_by(Rendition.id)
            .limit(BATCH)
        ).all()
    return [(row.id, row.object_key, row.size) for row in rows]


def _hash_object(storage: ObjectStorage, key: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in storage.open_stream(key, chunk_size=8 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


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
    """Hash renditions that publish no SHA-256, until `byte_budget` bytes have been read."""
    report = HashBackfillReport()
    after_id = 0
    while batch := _without_hash(db, after_id):
        for rendition_id, key, size in batch:
            after_id = rendition_id
            if report.hashed_bytes + size > byte_budget and report.hashed:
                report.remaining += 1
                continue
            try:
                sha256, stored = _hash_object(storage, key)
            except ObjectNotFound:
                report.skipped.append(f"{key}: the object is missing (see reconcile)")
                continue
            except StorageError as exc:
                report.skipped.append(f"{key}: {exc}")
                continue
            if stored != size:
                report.skipped.append(
                    f"{key}: storage holds {stored} bytes, the row says {size} (re-transcode?)"
                )
                continue
            if _record(db, rendition_id, key, sha256):
                report.hashed += 1
                report.hashed_bytes += stored
    if report.hashed or report.skipped:
        log.info(
            "rendition hashes backfilled",
            extra={"hashed": report.hashed, "skipped": len(report.skipped)},
        )
    return report
