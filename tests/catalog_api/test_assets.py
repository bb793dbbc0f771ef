"""Assets over the API: visibility, metadata state, linking, screening with presigned URLs."""

from __future__ import annotations

import hashlib
import uuid

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.files.tree import ensure_roots
from pool_core.models import Asset, AuditEvent, Rendition
from pool_core.services.ingest import complete_upload
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import Members


def upload(
    database: Database, storage: S3Storage, members: Members, org: str, path: str, data: bytes
) -> uuid.UUID | None:
    """Store bytes and complete the upload through the ingest core, as the FTP server does."""
    key = f"test/{uuid.uuid4()}/{path.rsplit('/', 1)[-1]}"
    storage.put(key, data)
    with database.session() as session:
        ensure_roots(session, org_id=members.org_ids[org])
        entry = complete_upload(
            session,
            storage,
            org_id=members.org_ids[org],
            user_id=members.user_ids[(org, "uploader")],
            path=path,
            object_key=key,
            size=len(data),
            md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        return entry.asset_id


def add_renditions(database: Database, storage: S3Storage, asset_id: uuid.UUID) -> bytes:
    """Give an asset a proxy and a thumbnail (bytes in storage), as the transcoder would."""
    proxy = b"fake mp4 proxy bytes"
    with database.write_session() as session:
        for kind, name, data, ctype in [
            ("proxy", "proxy.mp4", proxy, "video/mp4"),
            ("thumbnail", "thumb-001.jpg", b"\xff\xd8jpeg", "image/jpeg"),
        ]:
            key = f"renditions/{asset_id}/{kind}/{name}"
            storage.put(key, data, content_type=ctype)
            session.add(
                Rendition(
                    asset_id=asset_id,
                    kind=kind,
                    name=name,
                    object_key=key,
                    size=len(data),
                    content_type=ctype,
                )
            )
        asset = session.get(Asset, asset_id)
        assert asset is not None
        asset.technical = {"video": {"codec": "mpeg2video", "width": 1920}}
    return proxy


def new_title(client: TestClient, members: Members, org: str, status: str = "published") -> str:
    """Create a title and return its id."""
    response = client.post(
        "/v1/titles",
        json={"kind": "news", "original_title": f"News {org}", "status": status},
        headers=members.headers(org),
    )
    assert response.status_code == 201, response.text
    title_id: str = response.json()["id"]
    return title_id


def test_master_without_sidecar_needs_metadata_and_is_private(
    api_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    asset_id = upload(database, api_storage, members, "kztv", "/incoming/ep01.mxf", b"master")
    own = api_client.get(f"/v1/assets/{asset_id}", headers=members.headers("kztv", "uploader"))
    assert own.status_code == 200
    assert own.json()["metadata"]["state"] == "needs_metadata"
    assert own.json()["status"] == "received"
    listed = api_client.get(
        "/v1/assets", params={"metadata_state": "needs_metadata"}, headers=members.headers("kztv")
    )
    assert [a["id"] for a in listed.json()["items"]] == [str(asset_id)]
    assert (
        api_client.get(f"/v1/assets/{asset_id}", headers=members.headers("uztv")).status_code == 404
    )
    others = api_client.get("/v1/assets", headers=members.headers("uztv")).json()
    assert others["items"] == []


def test_linking_to_a_published_title_shares_the_asset(
    api_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    asset_id = upload(database, api_storage, members, "kztv", "/incoming/news.mp4", b"master")
    title_id = new_title(api_client, members, "kztv")
    foreign_title = new_title(api_client, members, "uztv")
    url = f"/v1/assets/{asset_id}/link"
    foreign = api_client.put(url, json={"title_id": foreign_title}, headers=members.headers("kztv"))
    assert foreign.status_code == 403
    linked = api_client.put(url, json={"title_id": title_id}, headers=members.headers("kztv"))
    assert linked.status_code == 200, linked.text
    assert linked.json()["metadata"] == {
        "state": "linked",
        "title_id": title_id,
        "episode_id": None,
        "error": None,
    }
    seen = api_client.get(f"/v1/assets/{asset_id}", headers=members.headers("uztv"))
    assert seen.status_code == 200
    by_owner = api_client.get(
        "/v1/assets", params={"owner": "kztv"}, headers=members.headers("uztv")
    )
    assert [a["id"] for a in by_owner.json()["items"]] == [str(asset_id)]
    stolen = api_client.put(url, json={"title_id": foreign_title}, headers=members.headers("uztv"))
    assert stolen.status_code == 404


def test_screening_hands_out_working_urls_and_is_logged(
    api_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    asset_id = upload(database, api_storage, members, "kztv", "/incoming/doc.mxf", b"master")
    assert asset_id is not None
    title_id = new_title(api_client, members, "kztv")
    api_client.put(
        f"/v1/assets/{asset_id}/link", json={"title_id": title_id}, headers=members.headers("kztv")
    )
    url = f"/v1/assets/{asset_id}/screenings"
    none_yet = api_client.post(url, headers=members.headers("uztv"))
    assert none_yet.status_code == 404
    proxy = add_renditions(database, api_storage, asset_id)

    response = api_client.post(url, json={"expires_in": 120}, headers=members.headers("uztv"))
    assert response.status_code == 201, response.text
    links = {link["kind"]: link for link in response.json()["links"]}
    assert set(links) == {"proxy", "thumbnail"}
    assert links["proxy"]["expires_in"] == 120
    fetched = httpx.get(links["proxy"]["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == proxy
    ranged = httpx.get(links["proxy"]["url"], headers={"Range": "bytes=0-3"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == proxy[:4]

    denied = api_client.post(url, headers=members.headers("uztv", "uploader"))
    assert denied.status_code == 403
    with database.session() as session:
        log = session.scalars(select(AuditEvent).where(AuditEvent.action == "asset.screened")).all()
    assert len(log) == 1
    assert log[0].user_id == members.user_ids[("uztv", "editor")]
    assert log[0].org_id == members.org_ids["uztv"]
    assert log[0].subject == f"asset:{asset_id}"
    assert log[0].created_at is not None


def test_asset_details_and_filters(
    api_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    asset_id = upload(database, api_storage, members, "kztv", "/incoming/a.mxf", b"m")
    assert asset_id is not None
    add_renditions(database, api_storage, asset_id)
    body = api_client.get(f"/v1/assets/{asset_id}", headers=members.headers("kztv")).json()
    assert body["technical"] == {"video": {"codec": "mpeg2video", "width": 1920}}
    assert [r["kind"] for r in body["renditions"]] == ["proxy", "thumbnail"]
    ready = api_client.get(
        "/v1/assets", params={"status": "ready"}, headers=members.headers("kztv")
    )
    assert ready.json()["items"] == []
    bad = api_client.get("/v1/assets", params={"status": "bogus"}, headers=members.headers("kztv"))
    assert bad.status_code == 422
