"""The virtual tree: roots, folders, atomic rename, deletion, isolation between orgs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.files import tree
from pool_core.models import Asset, FileEntry, FileState
from pool_core.storage.base import ObjectStorage
from tests.fixtures.database import statements_run
from tests.fixtures.orgs import new_org


def add_file(database: Database, org_id: int, path: str, size: int = 10) -> None:
    with database.session() as session:
        tree.put_file_entry(
            session,
            org_id=org_id,
            path=path,
            size=size,
            object_key=f"files/{org_id}/x{path}",
            md5=None,
            sha256=None,
            asset_id=None,
        )


def test_roots_are_created_once_and_root_is_virtual(database: Database) -> None:
    org = new_org(database, "aztv")
    with database.session() as session:
        tree.ensure_roots(session, org_id=org)  # idempotent
        root = tree.stat(session, org_id=org, path="/")
        assert root.is_dir and not root.writable
        listing = tree.list_dir(session, org_id=org, path="/")
        assert [(v.name, v.writable) for v in listing] == [("incoming", True), ("licensed", False)]
        assert tree.list_dir(session, org_id=org, path="/licensed") == []
        count = session.query(FileEntry).filter_by(org_id=org).count()
        assert count == 2


def test_folders_files_and_errors(database: Database) -> None:
    org = new_org(database, "aztv")
    with database.session() as session:
        view = tree.make_dir(session, org_id=org, path="/incoming/Сериал")
        assert view.is_dir and view.path == "/incoming/Сериал"
        with pytest.raises(AlreadyExists):
            tree.make_dir(session, org_id=org, path="/incoming/Сериал")
        with pytest.raises(NotFound):
            tree.make_dir(session, org_id=org, path="/incoming/missing/child")
        with pytest.raises(PermissionDenied):
            tree.make_dir(session, org_id=org, path="/licensed/x")
        with pytest.raises(PermissionDenied):
            tree.make_dir(session, org_id=org, path="/newroot")
        with pytest.raises(PermissionDenied):
            tree.remove_dir(session, org_id=org, path="/incoming")
        with pytest.raises(NotFound):
            tree.stat(session, org_id=org, path="/incoming/nothing")
    add_file(database, org, "/incoming/Сериал/ep01.mxf", size=123)
    with database.session() as session:
        with pytest.raises(Conflict, match="not empty"):
            tree.remove_dir(session, org_id=org, path="/incoming/Сериал")
        stat = tree.stat(session, org_id=org, path="/incoming/Сериал/ep01.mxf")
        assert (stat.size, stat.is_dir, stat.state) == (123, False, FileState.COMPLETE)
        when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
        tree.set_mtime(session, org_id=org, path="/incoming/Сериал/ep01.mxf", mtime=when)
    with database.session() as session:
        assert tree.stat(session, org_id=org, path="/incoming/Сериал/ep01.mxf").mtime == when
        with pytest.raises(InvalidInput):
            tree.delete_file(session, org_id=org, path="/incoming/Сериал")
        tree.delete_file(session, org_id=org, path="/incoming/Сериал/ep01.mxf")
        tree.remove_dir(session, org_id=org, path="/incoming/Сериал")
        assert tree.list_dir(session, org_id=org, path="/incoming") == []


def test_rename_of_non_empty_folder_is_one_update_and_children_move(database: Database) -> None:
    org = new_org(database, "aztv")
    with database.session() as session:
        tree.make_dir(session, org_id=org, path="/incoming/season1")
        tree.make_dir(session, org_id=org, path="/incoming/season1/deep")
        tree.make_dir(session, org_id=org, path="/incoming/archive")
    for i in range(5):
        add_file(database, org, f"/incoming/season1/ep{i}.mxf")
    add_file(database, org, "/incoming/season1/deep/x.mov")

    with (
        statements_run(database, "UPDATE file_entries") as updates,
        database.session() as session,
    ):
        moved = tree.rename(
            session, org_id=org, source="/incoming/season1", target="/incoming/archive/S01"
        )
    assert moved.is_dir and moved.path == "/incoming/archive/S01"
    assert len(updates) == 1
    with database.session() as session:
        names = [v.name for v in tree.list_dir(session, org_id=org, path="/incoming/archive/S01")]
        assert names == ["deep", "ep0.mxf", "ep1.mxf", "ep2.mxf", "ep3.mxf", "ep4.mxf"]
        assert tree.stat(session, org_id=org, path="/incoming/archive/S01/deep/x.mov").size == 10
        with pytest.raises(NotFound):
            tree.stat(session, org_id=org, path="/incoming/season1")


def test_rename_refusals(database: Database) -> None:
    org = new_org(database, "aztv")
    with database.session() as session:
        tree.make_dir(session, org_id=org, path="/incoming/a")
        tree.make_dir(session, org_id=org, path="/incoming/a/b")
    add_file(database, org, "/incoming/f1.mov")
    add_file(database, org, "/incoming/f2.mov")
    with database.session() as session:
        with pytest.raises(InvalidInput, match="into itself"):
            tree.rename(session, org_id=org, source="/incoming/a", target="/incoming/a/b/a")
        with pytest.raises(Conflict):
            tree.rename(session, org_id=org, source="/incoming/f1.mov", target="/incoming/f2.mov")
        with pytest.raises(PermissionDenied):
            tree.rename(session, org_id=org, source="/incoming/f1.mov", target="/licensed/f")
        with pytest.raises(PermissionDenied):
            tree.rename(session, org_id=org, source="/incoming", target="/incoming2")
        with pytest.raises(NotFound):
            tree.rename(session, org_id=org, source="/incoming/nope", target="/incoming/x")
        with pytest.raises(InvalidInput):
            tree.rename(session, org_id=org, source="/incoming/f1.mov", target="/incoming/f1\n")
        renamed = tree.rename(
            session, org_id=org, source="/incoming/f1.mov", target="/incoming/a/b/F1.mov"
        )
        assert renamed.path == "/incoming/a/b/F1.mov" and renamed.size == 10


def test_two_orgs_never_see_each_other(database: Database) -> None:
    first = new_org(database, "aztv")
    second = new_org(database, "trt")
    with database.session() as session:
        tree.make_dir(session, org_id=first, path="/incoming/secret")
    add_file(database, first, "/incoming/secret/master.mxf")
    with database.session() as session:
        assert tree.list_dir(session, org_id=second, path="/incoming") == []
        for call in (
            lambda: tree.stat(session, org_id=second, path="/incoming/secret"),
            lambda: tree.list_dir(session, org_id=second, path="/incoming/secret"),
            lambda: tree.delete_file(session, org_id=second, path="/incoming/secret/master.mxf"),
            lambda: tree.remove_dir(session, org_id=second, path="/incoming/secret"),
            lambda: tree.rename(
                session, org_id=second, source="/incoming/secret", target="/incoming/mine"
            ),
        ):
            with pytest.raises(NotFound):
                call()
        # Same names in both orgs are independent.
        tree.make_dir(session, org_id=second, path="/incoming/secret")
        assert tree.list_dir(session, org_id=second, path="/incoming/secret") == []
        assert len(tree.list_dir(session, org_id=first, path="/incoming/secret")) == 1


def test_write_small_file_stores_and_replaces(database: Database, storage: ObjectStorage) -> None:
    org = new_org(database, "aztv")
    with database.session() as session:
        view = tree.write_small_file(
            session,
            storage,
            org_id=org,
            path="/incoming/reports/ep01.json.errors.txt",
            data=b"line 3: bad year\n",
        )
        assert view.size == 17 and view.md5 and view.sha256 and view.asset_id is None
        with pytest.raises(PermissionDenied):
            tree.write_small_file(session, storage, org_id=org, path="/licensed/x.txt", data=b"x")
    with database.session() as session:
        tree.write_small_file(
            session, storage, org_id=org, path="/incoming/reports/ep01.json.errors.txt", data=b"ok"
        )
    with database.session() as session:
        entry = session.scalars(select(FileEntry).where(FileEntry.name.like("%errors%"))).one()
        assert entry.size == 2 and storage.get(entry.object_key or "") == b"ok"
        assert session.scalars(select(Asset)).all() == []
