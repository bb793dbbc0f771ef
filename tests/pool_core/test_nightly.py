"""Nightly maintenance: storage reconciliation both ways, retrying transient failures, and
hashing older renditions."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, ChangeEvent, Job, JobStatus, Rendition, utcnow
from pool_core.services import accounts
from pool_core.services.nightly import (
    NIGHTLY_KIND,
    ensure_nightly_job,
    retry_transient_failures,
    run_nightly,
)
from pool_core.services.reconcile import MISSING_MASTER_REASON, reconcile_storage
from pool_core.services.rendition_hashes import backfill_rendition_hashes
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage


def _asset(database: Database, storage: S3Storage, *, stored: bool) -> uuid.UUID:
    asset_id = uuid.uuid4()
    key = f"masters/1/{asset_id}/ep.mxf"
    if stored:
        storage.put(key, b"master bytes")
    with database.write_session() as session:
        if accounts.list_organizations(session) == []:
            accounts.create_organization(session, code="aztv", name="AzTV", country="AZ")
        org = accounts.get_organization_by_code(session, code="aztv")
        session.add(Asset(id=asset_id, org_id=org.id, filename="ep.mxf", object_key=key, size=12))
    return asset_id


def test_reconcile_reports_both_ways_and_repairs_only_when_asked(
    database: Database, storage: S3Storage
) -> None:
    kept = _asset(database, storage, stored=True)
    lost = _asset(database, storage, stored=False)
    storage.put("masters/1/nobody/stray.mxf", b"left by a crash")
    storage.put("renditions/gone/proxy/proxy.mp4", b"old rendition")

    report = reconcile_storage(database, storage)
    assert report.orphan_objects == [
        "masters/1/nobody/stray.mxf",
        "renditions/gone/proxy/proxy.mp4",
    ]
    assert report.missing_assets == [str(lost)]
    assert not report.clean and "--repair" in str(report)
    assert storage.exists("masters/1/nobody/stray.mxf")

    # Young orphans survive a repair: they may belong to a transaction still in flight. An
    # asset without its master is never a transient state (the object is stored first).
    young = reconcile_storage(database, storage, repair=True, grace=timedelta(hours=1))
    assert young.deleted_objects == 0 and storage.exists("masters/1/nobody/stray.mxf")
    assert young.assets_marked_failed == 1

    repaired = reconcile_storage(database, storage, repair=True, grace=timedelta(0))
    assert repaired.deleted_objects == 2 and repaired.assets_marked_failed == 0
    assert not storage.exists("masters/1/nobody/stray.mxf")
    with database.session() as session:
        assert session.get(Asset, lost).status is AssetStatus.FAILED
        assert session.get(Asset, lost).failure_reason == MISSING_MASTER_REASON
        assert session.get(Asset, kept).status is AssetStatus.RECEIVED
        events = session.scalars(select(ChangeEvent).where(ChangeEvent.kind == "asset.failed"))
        assert [e.subject_id for e in events] == [str(lost)]
    assert reconcile_storage(database, storage).clean is False  # the lost master is still lost
    assert reconcile_storage(database, storage).orphan_objects == []


def test_only_transient_failures_of_the_last_day_are_retried(database: Database) -> None:
    now = utcnow()
    with database.write_session() as session:
        rows = {
            "transient": Job(
                kind="transcode",
                status=JobStatus.FAILED,
                last_error="gave up after 5 of 5 attempts: storage unreachable",
                finished_at=now - timedelta(hours=2),
            ),
            "refused": Job(
                kind="transcode",
                status=JobStatus.FAILED,
                last_error="not a media file: invalid data found",
                finished_at=now - timedelta(hours=2),
            ),
            "old": Job(
                kind="transcode",
                status=JobStatus.FAILED,
                last_error="gave up after 5 of 5 attempts: storage unreachable",
                finished_at=now - timedelta(days=3),
            ),
        }
        session.add_all(rows.values())
    assert retry_transient_failures(database) == 1
    with database.session() as session:
        statuses = {name: session.get(Job, job.id).status for name, job in rows.items()}
    assert statuses == {
        "transient": JobStatus.QUEUED,
        "refused": JobStatus.FAILED,
        "old": JobStatus.FAILED,
    }


def test_nightly_run_reports_every_step_and_schedules_itself(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    settings = storage_settings.model_copy(update={"maintenance_hour_utc": 3})
    report = run_nightly(database, storage, settings)
    text = str(report)
    sections = ("[stale uploads]", "[orphan files]", "[licenses]", "[reconcile]", "[jobs]")
    for section in (*sections, "[rendition hashes]"):
        assert section in text
    assert report.errors == []

    ensure_nightly_job(database, settings)
    ensure_nightly_job(database, settings)  # a second worker starting adds no duplicate
    with database.session() as session:
        queued = session.scalars(select(Job).where(Job.kind == NIGHTLY_KIND)).all()
    assert len(queued) == 1
    due = queued[0].run_after
    assert due.hour == 3 and due > utcnow() and due - utcnow() <= timedelta(days=1)


# --- rendition hashes ----------------------------------------------------------------------


def _rendition(
    database: Database,
    storage: S3Storage,
    asset_id: uuid.UUID,
    name: str,
    data: bytes | None,
    *,
    size: int | None = None,
    meta: dict[str, str] | None = None,
) -> int:
    """A rendition row (legacy: no hash unless `meta` has one); `data` None stores nothing."""
    key = f"renditions/{asset_id}/{name}"
    if data is not None:
        storage.put(key, data)
    with database.write_session() as session:
        row = Rendition(
            asset_id=asset_id,
            kind="proxy",
            name=name,
            object_key=key,
            size=len(data or b"") if size is None else size,
            meta=meta or {"height": 540},
        )
        session.add(row)
        session.flush()
        return row.id


def _meta(database: Database, rendition_id: int) -> dict[str, object]:
    with database.session() as session:
        row = session.get(Rendition, rendition_id)
        assert row is not None
        return dict(row.meta)


def test_older_renditions_get_their_hash_and_bad_ones_are_reported(
    database: Database, storage: S3Storage
) -> None:
    asset_id = _asset(database, storage, stored=True)
    proxy = b"proxy bytes " * 1000
    legacy = _rendition(database, storage, asset_id, "proxy.mp4", proxy)
    gone = _rendition(database, storage, asset_id, "poster.jpg", None, size=10)
    replaced = _rendition(database, storage, asset_id, "thumb.jpg", b"new bytes", size=4)
    hashed = _rendition(
        database, storage, asset_id, "story.jpg", b"x", meta={"sha256": "recorded-earlier"}
    )

    report = backfill_rendition_hashes(database, storage)

    assert _meta(database, legacy) == {
        "height": 540,
        "sha256": hashlib.sha256(proxy).hexdigest(),
    }
    assert (report.hashed, report.hashed_bytes, report.remaining) == (1, len(proxy), 0)
    assert "sha256" not in _meta(database, gone)
    assert "sha256" not in _meta(database, replaced)
    assert _meta(database, hashed)["sha256"] == "recorded-earlier"
    text = str(report)
    assert "poster.jpg: the object is missing" in text
    assert "thumb.jpg: storage holds 9 bytes, the row says 4" in text
    # A second pass finds only the two it cannot fix, and records nothing.
    again = backfill_rendition_hashes(database, storage)
    assert again.hashed == 0 and len(again.skipped) == 2


def test_rendition_hashes_stop_at_the_byte_budget_and_continue_next_time(
    database: Database, storage: S3Storage
) -> None:
    asset_id = _asset(database, storage, stored=True)
    first = _rendition(database, storage, asset_id, "a.mp4", b"a" * 100)
    second = _rendition(database, storage, asset_id, "b.mp4", b"b" * 100)

    report = backfill_rendition_hashes(database, storage, byte_budget=150)
    assert (report.hashed, report.remaining) == (1, 1)
    assert "sha256" in _meta(database, first) and "sha256" not in _meta(database, second)

    report = backfill_rendition_hashes(database, storage, byte_budget=150)
    assert (report.hashed, report.remaining) == (1, 0)
    assert _meta(database, second)["sha256"] == hashlib.sha256(b"b" * 100).hexdigest()
