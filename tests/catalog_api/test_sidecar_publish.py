"""Who a sidecar may publish for: drafts only, unless the organization allows auto-publish.

Through the public surface: the master and its sidecar go up over FTP as an `uploader`, the
worker's job applies the sidecar, and the catalog is read over HTTP (finding 7 of issue 15).
"""

from __future__ import annotations

import ftplib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog_api.app import create_app
from pool_core.db import Database
from pool_core.services.accounts import create_organization, create_user
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_sidecar_ingest import run_sidecar_jobs
from tests.fixtures.api import bearer
from tests.fixtures.ftp import FtpLogin, connect_plain, ftp_test_settings, start_ftp_server


@dataclass
class World:
    """Two members; `aztv` has an uploader (FTP) and an admin and an editor (API)."""

    db: Database
    storage: S3Storage
    settings: Settings
    api: TestClient
    ftp: Any
    uploader: FtpLogin
    tokens: dict[str, str]

    def deliver(self, name: str, sidecar: dict[str, Any]) -> None:
        """Upload a master and its JSON sidecar as the uploader, then run the sidecar job."""
        client = connect_plain(self.ftp, self.uploader)
        with client:
            _put(client, f"/incoming/{name}.mxf", b"M" * 2048)
            _put(client, f"/incoming/{name}.json", json.dumps(sidecar).encode())
        assert run_sidecar_jobs(self.db, self.storage, self.settings) == 1

    def get(self, who: str, url: str) -> Any:
        """GET as one of the API users."""
        return self.api.get(url, headers=bearer(self.tokens[who]))


def _put(client: ftplib.FTP, path: str, data: bytes) -> None:
    assert client.storbinary(f"STOR {path}", io.BytesIO(data)).startswith("226")


@pytest.fixture
def world(database: Database, storage: S3Storage, storage_settings: Settings) -> Iterator[World]:
    tokens: dict[str, str] = {}
    with database.write_session() as session:
        aztv = create_organization(session, code="aztv", name="AzTV", country="AZ")
        trt = create_organization(session, code="trt", name="TRT", country="TR")
        ops = create_user(session, org=aztv, username="aztv-ops", role="uploader")
        uploader = FtpLogin(aztv.id, ops.user.id, ops.user.username, ops.ftp_password)
        tokens["owner"] = create_user(
            session, org=aztv, username="aztv-editor", role="editor"
        ).api_token
        tokens["admin"] = create_user(
            session, org=aztv, username="aztv-admin", role="admin"
        ).api_token
        tokens["other"] = create_user(
            session, org=trt, username="trt-editor", role="editor"
        ).api_token
    settings = ftp_test_settings(storage_settings)
    with (
        start_ftp_server(settings, database, storage) as ftp,
        TestClient(create_app(settings, database, storage)) as api,
    ):
        yield World(database, storage, settings, api, ftp, uploader, tokens)


def _sidecar(external_id: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"external_id": external_id, "kind": "film", "original_title": title, **extra}


def _title(world: World, who: str, external_id: str) -> dict[str, Any] | None:
    items = world.get(who, "/v1/titles?limit=200").json()["items"]
    found = [t for t in items if t.get("external_id") == external_id]
    return found[0] if found else None


def _asset_of(world: World, path: str) -> dict[str, Any]:
    items = world.get("owner", "/v1/assets?limit=200").json()["items"]
    return next(a for a in items if a["filename"] == path.rsplit("/", 1)[-1])


def test_uploaders_sidecar_saying_published_leaves_a_draft(world: World) -> None:
    """Attack: an uploader publishes a title to every member by writing `status: published`."""
    world.deliver("film", _sidecar("AZ-FILM-1", "Gizli Film", status="published"))
    title = _title(world, "owner", "AZ-FILM-1")
    assert title is not None and title["status"] == "draft"
    # Other members do not see it, by list or by id.
    assert _title(world, "other", "AZ-FILM-1") is None
    assert world.get("other", f"/v1/titles/{title['id']}").status_code == 404
    asset = _asset_of(world, "/incoming/film.mxf")
    assert asset["metadata"]["state"] == "linked"
    assert any("stays a draft" in w for w in asset["ingest_warnings"]), asset["ingest_warnings"]


def test_uploaders_sidecar_cannot_change_a_published_title(world: World) -> None:
    """Attack: an uploader rewrites (or unpublishes) a published title by its external id."""
    created = world.api.post(
        "/v1/titles",
        json={"kind": "film", "original_title": "Bayraq", "external_id": "AZ-FLAG"},
        headers=bearer(world.tokens["owner"]),
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "published"
    world.deliver("flag", _sidecar("AZ-FLAG", "Defaced", status="draft"))
    title = _title(world, "other", "AZ-FLAG")
    assert title is not None and title["original_title"] == "Bayraq"
    assert title["status"] == "published"
    asset = _asset_of(world, "/incoming/flag.mxf")
    assert asset["metadata"]["state"] == "invalid"
    assert "auto-publish is off" in asset["metadata"]["error"]


def test_auto_publish_is_the_org_admins_choice(world: World) -> None:
    url = "/v1/organization"
    assert world.get("owner", url).json()["sidecar_auto_publish"] is False
    refused = world.api.patch(
        url, json={"sidecar_auto_publish": True}, headers=bearer(world.tokens["owner"])
    )
    assert refused.status_code == 403
    changed = world.api.patch(
        url, json={"sidecar_auto_publish": True}, headers=bearer(world.tokens["admin"])
    )
    assert changed.status_code == 200 and changed.json()["sidecar_auto_publish"] is True
    # The other member's setting is its own.
    assert world.get("other", url).json()["sidecar_auto_publish"] is False
    world.deliver("open", _sidecar("AZ-OPEN", "Acik Film", status="published"))
    title = _title(world, "other", "AZ-OPEN")
    assert title is not None and title["status"] == "published"
