"""The Uploads page: real FTP deliveries into /incoming, seen live by their operators."""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import JobError
from pool_core.models import Asset, AssetStatus
from pool_core.queue import JobRunner
from pool_core.services.sidecar_ingest import build_handlers
from pool_core.settings import Settings
from pool_core.sidecars.schema import SCHEMA_ID
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import Members
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    start_ftp_server,
    wait_until,
)
from tests.fixtures.web import sign_in
from transcode.service import transcode_asset

MIB = 1 << 20
# S3's smallest multipart part: a pending upload shows its bytes once a part is stored.
PART = 5 * MIB


@pytest.fixture
def ftp(database: Database, api_storage: S3Storage, api_settings: Settings) -> Iterator[RunningFTP]:
    """The pool FTP server on the web UI's database and bucket."""
    settings = ftp_test_settings(api_settings, upload_part_size=PART)
    with start_ftp_server(settings, database, api_storage) as running:
        yield running


def ftp_login(members: Members, org: str) -> FtpLogin:
    """The FTP login of the organization's uploader (the same password as the web UI)."""
    return FtpLogin(
        members.org_ids[org],
        members.user_ids[(org, "uploader")],
        members.username(org, "uploader"),
        members.password(org, "uploader"),
    )


def store(ftp: RunningFTP, account: FtpLogin, path: str, data: bytes) -> None:
    """A complete FTP upload."""
    client = connect_plain(ftp, account)
    try:
        assert client.storbinary(f"STOR {path}", io.BytesIO(data)).startswith("226")
    finally:
        client.quit()


def asset_of(database: Database, org_id: int, path: str) -> Asset | None:
    """The newest asset that arrived at this path."""
    with database.session() as session:
        return session.scalar(
            select(Asset)
            .where(Asset.org_id == org_id, Asset.source_path == path)
            .order_by(Asset.version.desc())
        )


def live_region(client: TestClient) -> str:
    """The live fragment htmx polls (without a version: always the full region)."""
    response = client.get("/uploads/live", headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    return response.text


def test_a_transfer_held_open_is_pending_with_its_progress_then_the_asset_appears(
    web_client: TestClient, members: Members, database: Database, ftp: RunningFTP
) -> None:
    account = ftp_login(members, "kztv")
    data = bytes(range(256)) * (8 * MIB // 256)
    # The sidecar comes first and declares the master's size: the page can show a percentage.
    sidecar = {
        "schema": SCHEMA_ID,
        "kind": "news",
        "original_title": "Evening news",
        "size": len(data),
    }
    store(ftp, account, "/incoming/evening.json", json.dumps(sidecar).encode())
    sign_in(web_client, account.username, account.password)

    client = connect_plain(ftp, account)
    client.voidcmd("TYPE I")
    conn = client.transfercmd("STOR /incoming/evening.mxf")
    try:
        conn.sendall(data[: PART + MIB])
        wait_until(
            lambda: "62 %" in live_region(web_client),
            "the page to show the first stored part as 62 % of the declared size",
            timeout=60,
            interval=0.2,
        )
        page = web_client.get("/uploads")
        assert page.status_code == 200
        assert 'aria-live="polite"' in page.text and 'hx-trigger="every 2s"' in page.text
        assert "/incoming/evening.mxf" in page.text
        assert "Receiving" in page.text
        assert '<progress max="100" value="62"' in page.text
        assert "5 MB of 8 MB (62 %)" in page.text
        # The API says the same: the page holds nothing the API lacks.
        listed = web_client.get("/v1/uploads", headers=members.headers("kztv", "uploader"))
        (item,) = [i for i in listed.json()["items"] if i["path"] == "/incoming/evening.mxf"]
        assert item["declared_size"] == len(data)
        assert item["size"] * 100 // item["declared_size"] == 62
        conn.sendall(data[PART + MIB :])
    finally:
        conn.close()
    assert client.voidresp().startswith("226")
    client.quit()

    wait_until(
        lambda: asset_of(database, account.org_id, "/incoming/evening.mxf") is not None,
        "the master to become an asset",
        timeout=30,
    )
    region = live_region(web_client)
    assert "No upload is in progress." in region
    assert 'data-path="/incoming/evening.mxf"' in region
    assert "Received" in region and "version 1" in region and "8 MB" in region


def test_polling_gets_no_content_until_something_changes(
    web_client: TestClient, members: Members, ftp: RunningFTP
) -> None:
    account = ftp_login(members, "kztv")
    sign_in(web_client, account.username, account.password)
    first = web_client.get("/uploads/live", headers={"HX-Request": "true"})
    version = first.text.split('name="version" value="', 1)[1].split('"', 1)[0]
    same = web_client.get("/uploads/live", params={"version": version})
    assert same.status_code == 204 and same.content == b""
    store(ftp, account, "/incoming/promo.mov", b"not really a movie")
    changed = web_client.get("/uploads/live", params={"version": version})
    assert changed.status_code == 200
    assert "/incoming/promo.mov" in changed.text


def test_a_corrupt_master_shows_its_readable_reason(
    web_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    ftp: RunningFTP,
) -> None:
    account = ftp_login(members, "kztv")
    store(ftp, account, "/incoming/broken & 'tape'.mxf", b"\x00garbage, not MXF\x00" * 4096)
    asset = asset_of(database, account.org_id, "/incoming/broken & 'tape'.mxf")
    assert asset is not None
    # What the transcode worker does with it, run here instead of by the job runner.
    with pytest.raises(JobError):
        transcode_asset(
            db=database, storage=api_storage, settings=api_settings, asset_id=str(asset.id)
        )
    failed = asset_of(database, account.org_id, "/incoming/broken & 'tape'.mxf")
    assert failed is not None and failed.status is AssetStatus.FAILED
    assert failed.failure_reason

    sign_in(web_client, account.username, account.password)
    page = web_client.get("/uploads")
    assert page.status_code == 200
    assert "Failed" in page.text
    assert f'<p class="reason">{html.escape(failed.failure_reason)}</p>' in page.text
    # The file name is shown as text, escaped.
    assert "broken &amp; &#39;tape&#39;.mxf" in page.text


def test_a_refused_sidecar_and_a_checksum_mismatch_show_their_reasons(
    web_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    ftp: RunningFTP,
) -> None:
    account = ftp_login(members, "kztv")
    store(ftp, account, "/incoming/quiz.json", b'{"schema": "jointpool.sidecar/1", "kind": 7}')
    store(ftp, account, "/incoming/quiz.mxf", b"quiz master bytes")
    # The .md5 names another checksum than the master that arrived: the master is rejected.
    store(ftp, account, "/incoming/film.md5", b"0123456789abcdef0123456789abcdef  film.mov\n")
    store(ftp, account, "/incoming/film.mov", b"film master bytes")
    runner = JobRunner(
        database,
        handlers=build_handlers(api_settings, database, api_storage),
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    assert runner.run_until_idle() >= 1

    sign_in(web_client, account.username, account.password)
    region = live_region(web_client)
    assert "Sidecar refused" in region
    assert '<p class="reason sidecar-error">' in region and "quiz.json" in region
    film = asset_of(database, account.org_id, "/incoming/film.mov")
    assert film is not None and film.status is AssetStatus.FAILED
    assert (film.failure_reason or "").startswith("checksum mismatch")
    assert html.escape(film.failure_reason or "") in region


def test_another_organization_never_sees_the_uploads(
    web_client: TestClient, members: Members, ftp: RunningFTP
) -> None:
    kztv = ftp_login(members, "kztv")
    store(ftp, kztv, "/incoming/kz-only.mxf", b"kztv master")
    client = connect_plain(ftp, kztv)
    client.voidcmd("TYPE I")
    conn = client.transfercmd("STOR /incoming/kz-pending.mxf")
    try:
        conn.sendall(b"x" * (PART + 1))
        sign_in(web_client, kztv.username, kztv.password)
        wait_until(
            lambda: "kz-pending.mxf" in live_region(web_client),
            "kztv's operator to see the pending upload",
            timeout=60,
            interval=0.2,
        )
        web_client.cookies.clear()
        uztv = ftp_login(members, "uztv")
        sign_in(web_client, uztv.username, uztv.password)
        page = web_client.get("/uploads")
        assert page.status_code == 200
        assert "kz-only.mxf" not in page.text and "kz-pending.mxf" not in page.text
        assert "No upload is in progress." in page.text
        assert "Nothing has arrived yet." in page.text
    finally:
        conn.close()
        client.voidresp()
        client.quit()


@pytest.mark.parametrize("role", ["editor", "rights_manager"])
def test_roles_without_ftp_upload_are_refused(
    web_client: TestClient, members: Members, role: str
) -> None:
    sign_in(web_client, members.username("kztv", role), members.password("kztv", role))
    page = web_client.get("/uploads")
    assert page.status_code == 403
    assert "Not allowed" in page.text
    assert web_client.get("/uploads/live").status_code == 403
    # The menu does not offer the page either.
    assert 'href="/uploads"' not in web_client.get("/").text


def test_an_admin_may_watch_uploads_and_a_stranger_signs_in_first(
    web_client: TestClient, members: Members
) -> None:
    stranger = web_client.get("/uploads")
    assert stranger.status_code == 303
    assert stranger.headers["location"] == "/signin?next=%2Fuploads"
    polled = web_client.get("/uploads/live", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"] == "/signin?next=%2Fuploads%2Flive"
    sign_in(web_client, members.username("kztv", "admin"), members.password("kztv", "admin"))
    page = web_client.get("/uploads")
    assert page.status_code == 200
    assert 'aria-current="page"' in page.text and 'href="/uploads"' in page.text
