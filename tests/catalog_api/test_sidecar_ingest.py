"""Sidecar ingest end to end: upload master + sidecar, run the job, read the API and FTP tree."""

# Turkish names (with the dotless i) are part of the expected catalog data.
# ruff: noqa: RUF001

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pool_core.db import Database
from pool_core.files.tree import ensure_roots, get_entry, make_dir
from pool_core.models import Job, JobStatus
from pool_core.queue import JobRunner
from pool_core.services.accounts import update_organization_settings
from pool_core.services.ingest import complete_upload
from pool_core.services.sidecar_ingest import build_handlers
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_sidecars_data import (
    BILLION_LAUGHS_XML,
    EBUCORE_STYLES,
    EBUCORE_XML,
    mam_ebucore,
)
from tests.fixtures.api import Members


@pytest.fixture(autouse=True)
def _kztv_lets_sidecars_publish(database: Database, members: Members) -> None:
    """These tests follow sidecars into the published catalog: kztv allows auto-publish.

    Without it sidecars only write drafts (tests/catalog_api/test_sidecar_publish.py).
    """
    with database.session() as session:
        update_organization_settings(
            session, org_id=members.org_ids["kztv"], sidecar_auto_publish=True
        )


def deliver(
    database: Database, storage: S3Storage, members: Members, path: str, data: bytes
) -> uuid.UUID | None:
    """Upload one file as kztv's uploader through the ingest core."""
    org_id, user_id = members.org_ids["kztv"], members.user_ids[("kztv", "uploader")]
    return deliver_as(database, storage, org_id, user_id, path, data)


def deliver_as(
    database: Database, storage: S3Storage, org_id: int, user_id: int, path: str, data: bytes
) -> uuid.UUID | None:
    """Upload one file as this organization's user through the ingest core."""
    key = f"test/{uuid.uuid4()}/{path.rsplit('/', 1)[-1]}"
    storage.put(key, data)
    with database.session() as session:
        ensure_roots(session, org_id=org_id)
        folder = path.rsplit("/", 1)[0]
        if folder != "/incoming" and get_entry(session, org_id=org_id, path=folder) is None:
            make_dir(session, org_id=org_id, path=folder)
        entry = complete_upload(
            session,
            storage,
            org_id=org_id,
            user_id=user_id,
            path=path,
            object_key=key,
            size=len(data),
            md5=hashlib.md5(data).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        return entry.asset_id


def run_sidecar_jobs(database: Database, storage: S3Storage, settings: Settings) -> int:
    """Run every queued ingest_sidecar job with the catalog's handlers; return how many started."""
    return run_jobs_until_idle(database, build_handlers(settings, database, storage))


def run_jobs_until_idle(database: Database, handlers: dict[str, Any]) -> int:
    """Run every queued job of these kinds; return how many started.

    An attempt that failed for a passing reason (SQLite's writer lock held by the FTP
    server's own bookkeeping, say) is queued again 0.1 s later, after `run_until_idle` has
    already found nothing due: those retries are run too before this returns.
    """
    runner = JobRunner(
        database,
        handlers=handlers,
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    started = runner.run_until_idle()
    deadline = time.monotonic() + 30
    while _retries_waiting(database, kinds=list(handlers)) and time.monotonic() < deadline:
        time.sleep(0.1)
        runner.run_until_idle()
    return started


def _retries_waiting(database: Database, *, kinds: list[str]) -> bool:
    with database.session() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind.in_(kinds), Job.status == JobStatus.QUEUED, Job.attempts > 0)
        )
    return bool(waiting)


def ftp_file(
    database: Database, storage: S3Storage, members: Members | int, path: str
) -> str | None:
    """The text of a file in kztv's (or this organization id's) FTP tree, or None."""
    org_id = members if isinstance(members, int) else members.org_ids["kztv"]
    with database.session() as session:
        entry = get_entry(session, org_id=org_id, path=path)
        if entry is None or entry.object_key is None:
            return None
        return storage.get(entry.object_key).decode("utf-8")


def asset(client: TestClient, members: Members, asset_id: uuid.UUID | None) -> dict[str, Any]:
    """The asset as its owner sees it."""
    body: dict[str, Any] = client.get(
        f"/v1/assets/{asset_id}", headers=members.headers("kztv")
    ).json()
    return body


def test_json_sidecar_creates_title_episode_and_link(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    master = deliver(database, api_storage, members, "/incoming/dala/ep03.mxf", b"master bytes")
    assert asset(api_client, members, master)["metadata"]["state"] == "needs_metadata"
    sidecar = {
        "external_id": "KZ-DALA",
        "kind": "serial",
        "original_title": "Дала",
        "localizations": {"kk-Cyrl": {"title": "Дала"}, "kk-Latn": {"title": "Dala"}},
        "genres": ["drama"],
        "episode": {"season": 1, "number": 3, "name": "Үшінші"},
    }
    deliver(
        database, api_storage, members, "/incoming/dala/ep03.json", json.dumps(sidecar).encode()
    )
    assert asset(api_client, members, master)["metadata"]["state"] == "pending"
    assert run_sidecar_jobs(database, api_storage, api_settings) == 1

    body = asset(api_client, members, master)
    assert body["metadata"]["state"] == "linked", body
    title_id = body["metadata"]["title_id"]
    title = api_client.get(f"/v1/titles/{title_id}", headers=members.headers("uztv")).json()
    assert title["external_id"] == "KZ-DALA" and title["owner"] == "kztv"
    episodes = api_client.get(f"/v1/titles/{title_id}/episodes", headers=members.headers("uztv"))
    assert [(e["season"], e["number"], e["id"]) for e in episodes.json()["items"]] == [
        (1, 3, body["metadata"]["episode_id"])
    ]
    found = api_client.get("/v1/search", params={"q": "dala"}, headers=members.headers("uztv"))
    assert [h["title"]["id"] for h in found.json()["items"]] == [title_id]

    # The next episode's sidecar updates the same title (found by external_id).
    second = deliver(database, api_storage, members, "/incoming/dala/ep04.mxf", b"master 4")
    sidecar["episode"] = {"season": 1, "number": 4}
    sidecar["genres"] = ["drama", "history"]
    deliver(
        database, api_storage, members, "/incoming/dala/ep04.json", json.dumps(sidecar).encode()
    )
    run_sidecar_jobs(database, api_storage, api_settings)
    assert asset(api_client, members, second)["metadata"]["title_id"] == title_id
    title = api_client.get(f"/v1/titles/{title_id}", headers=members.headers("kztv")).json()
    assert title["genres"] == ["drama", "history"]


def test_ebucore_sidecar(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    master = deliver(database, api_storage, members, "/incoming/steppe.mxf", b"m")
    deliver(database, api_storage, members, "/incoming/steppe.xml", EBUCORE_XML.encode())
    run_sidecar_jobs(database, api_storage, api_settings)
    body = asset(api_client, members, master)
    assert body["metadata"]["state"] == "linked", body
    found = api_client.get("/v1/search", params={"q": "Qazaqstan"}, headers=members.headers("uztv"))
    assert [h["title"]["original_title"] for h in found.json()["items"]] == ["Қазақстан: ұлы дала"]


@pytest.mark.parametrize("style", list(EBUCORE_STYLES))
def test_ebucore_as_mam_systems_export_it(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    style: str,
) -> None:
    master = deliver(database, api_storage, members, "/incoming/golge/ep07.mxf", b"m")
    deliver(database, api_storage, members, "/incoming/golge/ep07.xml", mam_ebucore(style))
    assert run_sidecar_jobs(database, api_storage, api_settings) == 1
    body = asset(api_client, members, master)
    assert body["metadata"]["state"] == "linked", body["metadata"]
    assert body["ingest_warnings"] == []
    title = api_client.get(
        f"/v1/titles/{body['metadata']['title_id']}", headers=members.headers("uztv")
    ).json()
    assert title["original_title"] == "Gölge"
    assert title["localizations"]["tr"]["title"] == "Gölge"
    assert title["localizations"]["en"]["title"] == "Shadow"
    assert title["external_id"] == "TRT-GOLGE-0107" and title["original_language"] == "tr"
    assert [c["name"] for c in title["contributors"]] == [
        "Ankara Yapım",
        "Ayşe Yıldız",
        "Mehmet Öz",
    ]
    episodes = api_client.get(
        f"/v1/titles/{title['id']}/episodes", headers=members.headers("uztv")
    ).json()["items"]
    assert [(e["season"], e["number"]) for e in episodes] == [(1, 7)]
    changes = api_client.get("/v1/changes", headers=members.headers("kztv")).json()["events"]
    reads = [e["data"]["read"] for e in changes if e["kind"] == "asset.linked"]
    declared = {"encoding": "windows-1254"} if style == "windows-1254" else {}
    assert reads == [{"format": "ebucore", **declared}]


def test_invalid_sidecar_shows_on_asset_and_in_ftp_folder(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    master = deliver(database, api_storage, members, "/incoming/bad/ep01.mxf", b"m")
    deliver(database, api_storage, members, "/incoming/bad/ep01.xml", BILLION_LAUGHS_XML.encode())
    run_sidecar_jobs(database, api_storage, api_settings)
    body = asset(api_client, members, master)
    assert body["metadata"]["state"] == "invalid"
    assert "refused for safety" in body["metadata"]["error"]
    report = ftp_file(database, api_storage, members, "/incoming/bad/ep01.errors.txt")
    assert report is not None
    assert body["metadata"]["error"] in report
    assert "upload it again" in report
    invalid = api_client.get(
        "/v1/assets", params={"metadata_state": "invalid"}, headers=members.headers("kztv")
    )
    assert [a["id"] for a in invalid.json()["items"]] == [str(master)]

    # A corrected sidecar fixes the asset and removes the stale report.
    good = {"kind": "film", "original_title": "Fixed", "eidr": "10.5240/7791-8534-2C23-9030-8610-5"}
    deliver(database, api_storage, members, "/incoming/bad/ep01.json", json.dumps(good).encode())
    run_sidecar_jobs(database, api_storage, api_settings)
    assert asset(api_client, members, master)["metadata"]["state"] == "linked"
    assert ftp_file(database, api_storage, members, "/incoming/bad/ep01.errors.txt") is None


def test_catalog_rules_refusal_is_also_readable(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    master = deliver(database, api_storage, members, "/incoming/x.mxf", b"m")
    bad = {"kind": "film", "original_title": "X", "eidr": "10.5240/7791-8534-2C23-9030-8610-6"}
    deliver(database, api_storage, members, "/incoming/x.json", json.dumps(bad).encode())
    run_sidecar_jobs(database, api_storage, api_settings)
    body = asset(api_client, members, master)
    assert body["metadata"]["state"] == "invalid"
    assert "wrong check character" in body["metadata"]["error"]
    assert "wrong check character" in (
        ftp_file(database, api_storage, members, "/incoming/x.errors.txt") or ""
    )
    titles = api_client.get("/v1/titles", headers=members.headers("kztv")).json()["items"]
    assert titles == []  # nothing half-written
