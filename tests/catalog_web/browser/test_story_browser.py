"""The whole story in a real browser, on the real stack: FTP, the worker, S3, the web UI.

An operator of kztv delivers a master by FTPS and watches it become ready on the Uploads
page. An editor of uztv searches in Latin for a Kazakh title written in Cyrillic, opens it,
plays the proxy (the position advances, the storyboard tooltip appears) and requests a
license. kztv's rights manager approves it in a second browser context. The editor then sees
the license with its download link, and the link serves the master, byte for byte.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from jointpool.servers import handlers_for
from pool_core.db import Database
from pool_core.queue import JobRunner
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_web.browser.conftest import Screenshots, SignedInPage, watch_of
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_tls,
    ftp_test_settings,
    start_ftp_server,
    wait_until,
)
from tests.fixtures.media import TONE_23

TITLE = "Қорқыт ата"
MASTER = "Қорқыт ата 01.mp4"


@pytest.fixture
def stack(
    database: Database, api_storage: S3Storage, api_settings: Settings
) -> Iterator[RunningFTP]:
    """The FTP node and a worker on the web UI's database and bucket."""
    runner = JobRunner(
        database,
        handlers=handlers_for(api_settings, database, api_storage),
        concurrency=1,
        lease_seconds=120,
        backoff_seconds=0.2,
        poll_interval=0.1,
    )
    worker = threading.Thread(target=runner.run_forever, name="story-worker", daemon=True)
    worker.start()
    try:
        with start_ftp_server(ftp_test_settings(api_settings), database, api_storage) as ftp:
            yield ftp
    finally:
        runner.stop()
        worker.join(timeout=30)


def clip(ffmpeg: str, path: Path) -> Path:
    """A 4 s H.264/AAC master, as a newsroom would send it."""
    subprocess.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=4",
            "-f", "lavfi", "-i", f"aevalsrc={TONE_23}|{TONE_23}:s=48000:c=stereo:d=4",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def api(live: LiveServer, members: Members, org: str, role: str) -> httpx.Client:
    """The owner's own API calls (what its editors and rights manager set up)."""
    return httpx.Client(base_url=live.base_url, headers=members.headers(org, role), timeout=30)


def test_upload_search_screen_request_approve_download(
    signed_in_page: SignedInPage,
    members: Members,
    stack: RunningFTP,
    live_web: LiveServer,
    ffmpeg_path: str,
    tmp_path: Path,
    screenshot: Screenshots,
) -> None:
    master = clip(ffmpeg_path, tmp_path / "master.mp4")
    digest = hashlib.sha256(master.read_bytes()).hexdigest()

    # 1. The operator watches /incoming while the master arrives over FTPS.
    operator = signed_in_page(members, "kztv", "uploader")
    operator.goto("/uploads")
    expect(operator.locator("#uploads-live")).to_contain_text("Nothing has arrived yet.")
    account = FtpLogin(
        members.org_ids["kztv"],
        members.user_ids[("kztv", "uploader")],
        members.username("kztv", "uploader"),
        members.password("kztv", "uploader"),
    )
    ftp = connect_tls(stack, account)
    try:
        with master.open("rb") as handle:
            assert ftp.storbinary(f"STOR /incoming/{MASTER}", handle).startswith("226")
    finally:
        ftp.quit()
    row = operator.locator("tr.asset", has_text=MASTER)
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".badge.ready")).to_be_visible(timeout=180_000)
    screenshot(operator, "operator-uploads-ready")

    # The owner catalogues it and offers it to Uzbekistan (over the API, as its tools do).
    with api(live_web, members, "kztv", "editor") as owner:
        title = owner.post(
            "/v1/titles",
            json={
                "kind": "documentary",
                "original_title": TITLE,
                "status": "published",
                "localizations": {"kk-Cyrl": {"title": TITLE}},
            },
        )
        assert title.status_code == 201, title.text
        title_id = title.json()["id"]
        other = owner.post(
            "/v1/titles",
            json={"kind": "documentary", "original_title": "Дала", "status": "published"},
        )
        assert other.status_code == 201, other.text
        assets = owner.get("/v1/assets").json()["items"]
        (asset,) = [a for a in assets if a["filename"] == MASTER]
        linked = owner.put(f"/v1/assets/{asset['id']}/link", json={"title_id": title_id})
        assert linked.status_code == 200, linked.text
    now = datetime.now(UTC)
    with api(live_web, members, "kztv", "rights_manager") as rights:
        window = rights.post(
            f"/v1/titles/{title_id}/rights-windows",
            json={
                "territories": ["UZ", "KG"],
                "starts_at": (now - timedelta(days=1)).isoformat(),
                "ends_at": (now + timedelta(days=90)).isoformat(),
                "license_type": "free_exchange",
            },
        )
        assert window.status_code == 201, window.text

    # 2. An editor of another member searches in Latin for the Cyrillic title.
    editor = signed_in_page(members, "uztv", "editor")
    expect(editor.get_by_role("link", name="Дала")).to_be_visible()  # browsing, no query yet
    editor.get_by_label("Search the catalog").press_sequentially("Qorqud", delay=60)
    # As they type: the list narrows, and the address carries the query (to share or bookmark).
    expect(editor).to_have_url(re.compile(r"[?&]q=Qorqud"), timeout=15_000)
    expect(editor.get_by_role("link", name="Дала")).to_have_count(0)
    result = editor.get_by_role("link", name=TITLE)
    expect(result).to_be_visible()
    screenshot(editor, "editor-search")
    result.click()
    editor.wait_for_url(f"**/titles/{title_id}")
    expect(editor.get_by_role("heading", level=1)).to_contain_text(TITLE)
    screenshot(editor, "editor-title")

    # 3. It plays: the position advances and the storyboard shows over the seek bar.
    editor.get_by_role("link", name="Screen").click()
    editor.wait_for_url(f"**/assets/{asset['id']}/screen")
    # Polled with evaluate: wait_for_function evaluates a string, which the page's CSP forbids.
    wait_until(
        lambda: editor.evaluate("() => document.querySelector('video').readyState >= 2"),
        "the proxy to load",
        timeout=20,
    )
    editor.evaluate(
        "() => { const v = document.querySelector('video'); v.muted = true; v.play(); }"
    )
    wait_until(
        lambda: editor.evaluate("() => document.querySelector('video').currentTime > 0.5"),
        "the proxy to play",
        timeout=20,
    )
    editor.locator("#player-seek").hover()
    expect(editor.get_by_test_id("storyboard-tooltip")).to_be_visible()
    screenshot(editor, "editor-screening")

    # 4. The editor requests a license for Uzbekistan (the default: their own territory).
    editor.goto(f"/titles/{title_id}")
    editor.get_by_role("link", name="Request a license").click()
    editor.wait_for_url(f"**/titles/{title_id}/license")
    expect(editor.locator("#territories")).to_have_value("UZ")
    editor.locator("#starts_on").fill(now.date().isoformat())
    editor.locator("#ends_on").fill((now + timedelta(days=30)).date().isoformat())
    screenshot(editor, "editor-request-form")
    editor.get_by_role("button", name="Send the request").click()
    editor.wait_for_url("**/requests*")
    expect(editor.locator("main")).to_contain_text(TITLE)
    screenshot(editor, "editor-requests")

    # 5. The owner's rights manager approves it, in a second browser context.
    manager = signed_in_page(members, "kztv", "rights_manager")
    manager.goto("/inbox")
    pending = manager.locator("[id^=request-]", has_text="uztv").or_(
        manager.locator("[id^=request-]", has_text="O'zbekiston TV")
    )
    expect(pending.first).to_be_visible()
    pending.first.get_by_role("button", name="Approve").click()
    expect(manager.locator("[id^=request-] .badge.approved").first).to_be_visible()
    screenshot(manager, "manager-inbox-approved")

    # 6. The editor sees the license and downloads the master through its link.
    editor.goto("/licenses")
    expect(editor.locator("main")).to_contain_text(TITLE)
    link = editor.locator(f'a[href="/assets/{asset["id"]}/download"]')
    expect(link).to_be_visible()
    screenshot(editor, "editor-licenses")
    download = editor.request.get(link.get_attribute("href") or "", max_redirects=5)
    assert download.ok, download.status
    assert hashlib.sha256(download.body()).hexdigest() == digest

    for page in (operator, editor, manager):
        watch = watch_of(page)
        assert watch.dialogs == [] and watch.page_errors == [], watch
        # The CSP reports violations as console errors; none may occur on the way.
        assert not [e for e in watch.console_errors if re.search("Content Security", e)], watch
