"""Completion: masters become assets with jobs; sidecars are linked; .md5 files are checked."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.files import tree, views
from pool_core.models import Asset, ChangeEvent, Job
from pool_core.services.ingest import expected_md5, is_master, sidecar_kind
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.service import open_upload
from tests.fixtures.orgs import new_org


@pytest.fixture
def org(database: Database) -> int:
    return new_org(database, "aztv")


def put(database: Database, storage: S3Storage, settings: Settings, org: int, path: str,
        data: bytes) -> views.FileView:  # fmt: skip
    writer = open_upload(database, storage, settings, org_id=org, user_id=None, path=path)
    writer.write(data)
    return writer.finish()


def asset_at(database: Database, org: int, path: str) -> Asset:
    with database.session() as session:
        view = tree.stat(session, org_id=org, path=path)
        assert view.asset_id is not None
        asset = session.get(Asset, view.asset_id)
        assert asset is not None
        return asset


def jobs(database: Database, kind: str) -> list[dict[str, str]]:
    with database.session() as session:
        return [j.payload for j in session.scalars(select(Job).where(Job.kind == kind))]


def test_extensions() -> None:
    assert is_master("EP01.MXF") and is_master("a.mov") and is_master("x.wav")
    assert not is_master("notes.txt") and not is_master("mxf") and not is_master("ep.json")
    assert sidecar_kind("ep01.json") == "metadata" and sidecar_kind("ep01.MD5") == "md5"
    assert sidecar_kind("ep01.mxf") is None


def test_sidecar_after_master_is_linked(
    database: Database, storage: S3Storage, storage_settings: Settings, org: int
) -> None:
    put(database, storage, storage_settings, org, "/incoming/ep01.mxf", b"master bytes")
    assert asset_at(database, org, "/incoming/ep01.mxf").sidecar_key is None
    sidecar = put(database, storage, storage_settings, org, "/incoming/ep01.json", b'{"t": 1}')
    assert sidecar.asset_id is None
    asset = asset_at(database, org, "/incoming/ep01.mxf")
    assert asset.sidecar_key is not None and storage.get(asset.sidecar_key) == b'{"t": 1}'
    assert jobs(database, "ingest_sidecar") == [{"asset_id": str(asset.id)}]
    assert jobs(database, "transcode") == [{"asset_id": str(asset.id)}]


def test_sidecar_before_master_is_linked_when_master_arrives(
    database: Database, storage: S3Storage, storage_settings: Settings, org: int
) -> None:
    with database.session() as session:
        tree.make_dir(session, org_id=org, path="/incoming/s1")
    put(database, storage, storage_settings, org, "/incoming/s1/ep02.xml", b"<x/>")
    put(database, storage, storage_settings, org, "/incoming/s1/ep02.mxf.csv", b"a,b")
    assert jobs(database, "ingest_sidecar") == []
    put(database, storage, storage_settings, org, "/incoming/s1/ep02.mxf", b"master")
    asset = asset_at(database, org, "/incoming/s1/ep02.mxf")
    # The most specific name wins: ep02.mxf.csv over ep02.xml.
    assert asset.sidecar_key is not None and storage.get(asset.sidecar_key) == b"a,b"
    assert jobs(database, "ingest_sidecar") == [{"asset_id": str(asset.id)}]
    # A sidecar in another folder is not linked.
    put(database, storage, storage_settings, org, "/incoming/ep03.json", b"{}")
    put(database, storage, storage_settings, org, "/incoming/s1/ep03.mov", b"m")
    assert asset_at(database, org, "/incoming/s1/ep03.mov").sidecar_key is None


def test_md5_sidecar_match_and_mismatch(
    database: Database, storage: S3Storage, storage_settings: Settings, org: int
) -> None:
    good = b"good master"
    put(database, storage, storage_settings, org, "/incoming/ep04.mxf", good)
    checksum = f"{hashlib.md5(good).hexdigest()}  ep04.mxf\n".encode()
    put(database, storage, storage_settings, org, "/incoming/ep04.md5", checksum)
    assert asset_at(database, org, "/incoming/ep04.mxf").ingest_warnings == []

    # The .md5 first, the master after: checked when the master arrives.
    wrong = f"MD5 (ep05.mov) = {'0' * 32}\n".encode()
    put(database, storage, storage_settings, org, "/incoming/ep05.mov.md5", wrong)
    put(database, storage, storage_settings, org, "/incoming/ep05.mov", b"damaged in transit")
    asset = asset_at(database, org, "/incoming/ep05.mov")
    assert len(asset.ingest_warnings) == 1
    assert "MD5 mismatch" in asset.ingest_warnings[0] and "ep05.mov" in asset.ingest_warnings[0]
    with database.session() as session:
        events = session.scalars(
            select(ChangeEvent).where(ChangeEvent.kind == "asset.ingest_warning")
        ).all()
        assert [e.subject_id for e in events] == [str(asset.id)]


def test_plain_files_and_orphan_sidecars_have_no_asset(
    database: Database, storage: S3Storage, storage_settings: Settings, org: int
) -> None:
    put(database, storage, storage_settings, org, "/incoming/readme.txt", b"hi")
    put(database, storage, storage_settings, org, "/incoming/lonely.json", b"{}")
    with database.session() as session:
        assert session.scalars(select(Asset)).all() == []
        assert session.scalars(select(Job)).all() == []


def test_expected_md5_formats() -> None:
    digest = "d41d8cd98f00b204e9800998ecf8427e"
    other = "0" * 32
    assert expected_md5(digest.upper() + "\n", "x.mxf") == digest
    assert expected_md5(f"{other}  a.mxf\n{digest} *x.mxf\n", "x.mxf") == digest
    assert expected_md5(f"MD5 (dir/x.mxf) = {digest}", "x.mxf") == digest
    assert expected_md5(f"{other}  a.mxf\n{digest}  b.mxf\n", "x.mxf") is None
    assert expected_md5("not a checksum", "x.mxf") is None
