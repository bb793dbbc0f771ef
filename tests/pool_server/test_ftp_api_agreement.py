"""FTP and the API agree on who may read what: one table, every case through both doors.

Each case names a reader and an object (a master, or its proxy or poster). Through FTP the
object is readable when some file of the reader's tree (`/incoming` and `/licensed`, walked
with MLSD) delivers exactly its bytes; through the API when `GET /v1/assets/{id}/download`
hands out a URL that delivers them. Every object's bytes are unique, so a superseded version
cannot pass for the newest one. Both doors must give the table's answer.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.files import tree
from pool_core.licensing import workflow
from pool_core.models import Asset, Rendition, utcnow
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import bearer, serve_in_thread
from tests.fixtures.ftp import ftp_test_settings, start_ftp_server
from tests.fixtures.orgs import make_org
from tests.pool_core.test_licensing import (
    build_world,
    grant,
    make_asset,
    make_user,
    open_window,
)


@dataclass
class Reader:
    """A user with both an FTP password and an API token."""

    username: str
    password: str
    token: str


@dataclass
class Stage:
    """The world of the table: readers by role in the story, objects by name."""

    readers: dict[str, Reader] = field(default_factory=dict)
    # name -> (asset id, rendition kind or None, the object's bytes)
    objects: dict[str, tuple[uuid.UUID, str | None, bytes]] = field(default_factory=dict)


# reader, object, may read
CASES = [
    ("owner", "own master", True),
    ("buyer", "licensed master", True),
    ("buyer", "newest version", True),
    ("buyer", "superseded version", False),
    ("expired", "licensed master", False),
    ("revoked", "licensed master", False),
    ("other territory", "licensed master", False),
    ("episode only", "licensed master", True),
    ("episode only", "newest version", False),
    ("buyer", "proxy", True),
    ("buyer", "poster", True),
    ("other territory", "proxy", False),
    ("revoked", "poster", False),
]


def _reader(session, org, name: str, role: str = "editor") -> Reader:  # type: ignore[no-untyped-def]
    user = make_user(session, org, name, role)
    password = accounts.set_ftp_password(session, user=user)
    _, token = accounts.create_api_token(session, user=user)
    return Reader(name, password, token)


def _store(storage: S3Storage, asset: Asset, data: bytes) -> None:
    storage.put(asset.object_key, data)
    asset.size = len(data)
    asset.sha256 = hashlib.sha256(data).hexdigest()


def _stage(database: Database, storage: S3Storage) -> Stage:
    stage = Stage()
    with database.write_session() as session:
        w = build_world(session)
        ep1, ep2 = w.episodes
        old, licensed_master = w.assets
        _store(storage, old, b"episode one, first delivery")
        _store(storage, licensed_master, b"episode two")
        newest = make_asset(session, w.owner, w.title, ep1, "ep1.mxf", b"")
        newest.version = 2
        _store(storage, newest, b"episode one, second delivery")
        # The proxy and poster of the licensed master, as the transcoder leaves them.
        for kind, name, data in (
            ("proxy", "proxy_360.mp4", b"proxy bytes"),
            ("poster", "poster.jpg", b"poster bytes"),
        ):
            key = f"renditions/{licensed_master.id}/{name}"
            storage.put(key, data)
            session.add(
                Rendition(
                    asset_id=licensed_master.id,
                    kind=kind,
                    name=name,
                    object_key=key,
                    size=len(data),
                    meta={"height": 360, "sha256": hashlib.sha256(data).hexdigest()},
                )
            )
            stage.objects[kind] = (licensed_master.id, kind, data)
        # The owner's own master is a file of its /incoming too.
        tree.ensure_roots(session, org_id=w.owner.id)
        tree.put_file_entry(
            session,
            org_id=w.owner.id,
            path="/incoming/ep2.mxf",
            size=licensed_master.size,
            object_key=licensed_master.object_key,
            md5=None,
            sha256=licensed_master.sha256,
            asset_id=licensed_master.id,
        )
        open_window(session, w, exclusivity=False, territories=("KZ", "KG", "UZ", "TJ", "TM"))
        grant(session, w, w.buyer_editor)
        expired_org = make_org(session, "expd", country="UZ")
        revoked_org = make_org(session, "revk", country="TJ")
        episode_org = make_org(session, "epis", country="TM")
        stage.readers = {
            "owner": _reader(session, w.owner, "owner-reader"),
            "buyer": _reader(session, w.buyer, "buyer-reader"),
            "other territory": _reader(session, w.rival, "rival-reader"),
            "expired": _reader(session, expired_org, "expired-reader"),
            "revoked": _reader(session, revoked_org, "revoked-reader"),
            "episode only": _reader(session, episode_org, "episode-reader"),
        }
        expired = grant(
            session, w, make_user(session, expired_org, "expd-ed", "editor"), territories=("UZ",)
        )
        expired.ends_at = utcnow() - timedelta(minutes=1)
        session.flush()
        assert [lic.id for lic in workflow.expire_licenses(session)] == [expired.id]
        revoked = grant(
            session, w, make_user(session, revoked_org, "revk-ed", "editor"), territories=("TJ",)
        )
        workflow.revoke_license(
            session, license_id=revoked.id, actor=Actor.for_user(w.owner_rm), reason="test"
        )
        grant(
            session,
            w,
            make_user(session, episode_org, "epis-ed", "editor"),
            territories=("TM",),
            episode_ids=(ep2.id,),
        )
        stage.objects["own master"] = (licensed_master.id, None, b"episode two")
        stage.objects["licensed master"] = (licensed_master.id, None, b"episode two")
        stage.objects["newest version"] = (newest.id, None, b"episode one, second delivery")
        stage.objects["superseded version"] = (old.id, None, b"episode one, first delivery")
    return stage


def _walk(client: ftplib.FTP, folder: str) -> Iterator[str]:
    for name, facts in client.mlsd(folder):
        path = f"{folder.rstrip('/')}/{name}"
        if facts.get("type") == "dir":
            yield from _walk(client, path)
        elif facts.get("type") == "file":
            yield path


def ftp_reads(client: ftplib.FTP, data: bytes) -> bool:
    """Whether any file of the logged-in user's tree delivers exactly these bytes."""
    for path in [*_walk(client, "/incoming"), *_walk(client, "/licensed")]:
        out = io.BytesIO()
        client.retrbinary(f"RETR {path}", out.write)
        if out.getvalue() == data:
            return True
    return False


def api_reads(base_url: str, reader: Reader, asset_id: uuid.UUID, kind: str | None) -> bool:
    """Whether the API hands the reader a URL that delivers the object."""
    params = {"rendition": kind} if kind else {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        answer = client.get(
            f"/v1/assets/{asset_id}/download", params=params, headers=bearer(reader.token)
        )
    if answer.status_code in (403, 404):
        return False
    assert answer.status_code == 200, answer.text
    body = httpx.get(answer.json()["url"], timeout=30)
    assert body.status_code == 200
    return True


@pytest.fixture
def doors(
    database: Database, api_storage: S3Storage, api_settings: Settings, api_app: FastAPI
) -> Iterator[tuple[Stage, str, str, int]]:
    stage = _stage(database, api_storage)
    live = serve_in_thread(api_app)
    try:
        with start_ftp_server(ftp_test_settings(api_settings), database, api_storage) as ftp:
            yield stage, live.base_url, ftp.host, ftp.port
    finally:
        live.stop()


def test_ftp_and_api_agree_on_every_case(doors: tuple[Stage, str, str, int]) -> None:
    stage, base_url, host, port = doors
    results = []
    clients: dict[str, ftplib.FTP] = {}
    try:
        for reader_name, object_name, expected in CASES:
            reader = stage.readers[reader_name]
            if reader_name not in clients:
                client = ftplib.FTP(timeout=30)
                client.connect(host, port)
                client.login(reader.username, reader.password)
                clients[reader_name] = client
            asset_id, kind, data = stage.objects[object_name]
            by_ftp = ftp_reads(clients[reader_name], data)
            by_api = api_reads(base_url, reader, asset_id, kind)
            results.append((reader_name, object_name, expected, by_ftp, by_api))
    finally:
        for client in clients.values():
            client.quit()
    wrong = [r for r in results if not (r[2] == r[3] == r[4])]
    assert not wrong, "\n".join(
        f"{reader} / {obj}: expected {exp}, FTP {ftp}, API {api}"
        for reader, obj, exp, ftp, api in wrong
    )
