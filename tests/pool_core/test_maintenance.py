"""Maintenance: stale pending uploads are aborted and their S3 leftovers freed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from pool_core.db import Database
from pool_core.files import tree
from pool_core.models import PendingUpload, utcnow
from pool_core.services.maintenance import abort_stale_uploads, delete_orphan_files
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.service import open_upload
from tests.fixtures.orgs import new_org

PART = 6 << 20


def test_stale_uploads_are_aborted_and_live_ones_kept(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    settings = storage_settings.model_copy(update={"upload_part_size": PART})
    org = new_org(database, "aztv")

    def start(path: str, size: int) -> None:
        writer = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
        writer.write(b"x" * size)
        writer.interrupt()

    start("/incoming/tail-only.mxf", 1000)
    start("/incoming/with-parts.mxf", PART + 10)
    start("/incoming/recent.mxf", 500)
    live = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/live.mxf"
    )
    live.write(b"y" * 100)
    two_days_ago = utcnow() - timedelta(days=2)
    with database.write_session() as session:
        session.execute(
            update(PendingUpload)
            .where(PendingUpload.path != "/incoming/recent.mxf")
            .values(updated_at=two_days_ago)
        )
    assert len(storage.list_multipart_uploads()) == 1
    assert len(list(storage.list("staging/"))) == 3

    report = abort_stale_uploads(database, storage, idle_for=timedelta(days=1))

    assert report.aborted == 2 and report.errors == []
    assert report.bytes_freed == 1000 + PART + 10
    assert sorted(report.paths) == [
        f"{org}:/incoming/tail-only.mxf",
        f"{org}:/incoming/with-parts.mxf",
    ]
    assert report.staging_objects_deleted == 2
    assert storage.list_multipart_uploads() == []
    with database.session() as session:
        left = sorted(p.path for p in session.scalars(select(PendingUpload)))
    assert left == ["/incoming/live.mxf", "/incoming/recent.mxf"]
    assert len(list(storage.list("staging/"))) == 1
    assert live.finish().size == 100


def test_leftovers_of_deleted_partial_files_are_swept(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    settings = storage_settings.model_copy(update={"upload_part_size": PART})
    org = new_org(database, "trt")
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/p.mxf"
    )
    writer.write(b"z" * (PART + 5))
    writer.interrupt()
    with database.session() as session:
        tree.delete_file(session, org_id=org, path="/incoming/p.mxf")  # DELE of a partial file
    assert len(storage.list_multipart_uploads()) == 1
    report = abort_stale_uploads(database, storage, idle_for=timedelta(0))
    assert report.aborted == 0
    assert report.orphan_multiparts_aborted == 1 and report.staging_objects_deleted == 1
    assert storage.list_multipart_uploads() == [] and list(storage.list("staging/")) == []
    assert "aborted 1 orphan multipart upload(s)" in str(report)


def test_objects_of_deleted_plain_files_are_deleted(database: Database, storage: S3Storage) -> None:
    org = new_org(database, "mtva")
    with database.session() as session:
        tree.write_small_file(session, storage, org_id=org, path="/incoming/a.txt", data=b"a")
        tree.write_small_file(session, storage, org_id=org, path="/incoming/b.txt", data=b"bb")
    with database.session() as session:
        tree.delete_file(session, org_id=org, path="/incoming/a.txt")
    report = delete_orphan_files(database, storage, older_than=timedelta(0))
    assert (report.deleted, report.bytes_freed) == (1, 1)
    assert [o.size for o in storage.list("files/")] == [2]
