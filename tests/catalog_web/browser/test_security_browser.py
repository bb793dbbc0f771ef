"""The web UI's defences, tried in a real browser: escaping, CSRF, cookie flags, sign-out.

The attacker's page is served by a second loopback server (its own port; on 127.0.0.2 for a
cross-site attack, where SameSite=Lax keeps the cookie home, and on 127.0.0.1 for a
same-site one, where the cookie goes along and the Origin check and the CSRF token refuse).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import WebSession
from pool_core.queue import JobRunner
from pool_core.services.sidecar_ingest import build_handlers
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_web.browser.conftest import (
    BrowserPages,
    Screenshots,
    SignedInPage,
    watch_of,
)
from tests.catalog_web.test_uploads_page import ftp_login, store
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.ftp import ftp_test_settings, start_ftp_server

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def assert_inert(page: Page) -> None:
    """Nothing the markup-like text asked for happened: no dialog, no element, no error."""
    page.wait_for_timeout(300)  # an injected onerror fires as soon as the image fails
    watch = watch_of(page)
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert watch.console_errors == []
    assert page.locator("img[src='x']").count() == 0


def test_a_title_named_like_markup_stays_text(
    signed_in_page: SignedInPage,
    members: Members,
    live_web: LiveServer,
    screenshot: Screenshots,
) -> None:
    created = httpx.post(
        f"{live_web.base_url}/v1/titles",
        json={"kind": "film", "original_title": XSS, "status": "published"},
        headers=members.headers("kztv"),
    )
    assert created.status_code == 201, created.text
    title_id = created.json()["id"]
    page = signed_in_page(members, "uztv", "editor")
    # Searching for it: whatever the search page shows of the query and the title is text.
    page.goto("/?" + str(httpx.QueryParams({"q": XSS})))
    assert page.get_by_label("Search the catalog").is_visible()
    screenshot(page, "search-for-markup")
    # The card names the title literally: the markup is text, not an element.
    expect(page.get_by_role("link", name=XSS)).to_be_visible()
    assert page.locator("main img[src='x']").count() == 0
    assert_inert(page)
    page.goto(f"/titles/{title_id}")
    assert page.get_by_text(XSS, exact=False).first.is_visible()
    screenshot(page, "title-named-like-markup")
    assert_inert(page)


def test_a_sidecar_error_quoting_markup_stays_text_on_the_uploads_page(
    signed_in_page: SignedInPage,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    screenshot: Screenshots,
) -> None:
    # A sidecar delivered over FTP whose refusal quotes the bad value back to the operator.
    account = ftp_login(members, "kztv")
    sidecar = json.dumps(
        {"schema": "jointpool.sidecar/1", "kind": XSS, "original_title": "Quiz"}
    ).encode()
    with start_ftp_server(ftp_test_settings(api_settings), database, api_storage) as ftp:
        store(ftp, account, "/incoming/quiz.json", sidecar)
        store(ftp, account, "/incoming/quiz.mxf", b"quiz master")
    runner = JobRunner(
        database,
        handlers=build_handlers(api_settings, database, api_storage),
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    assert runner.run_until_idle() >= 1
    page = signed_in_page(members, "kztv", "uploader")
    page.goto("/uploads")
    error = page.locator(".sidecar-error")
    assert XSS in error.inner_text()
    screenshot(page, "uploads-sidecar-error")
    assert_inert(page)


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """Serves one page whose form posts itself to the pool as soon as it loads."""

    target = ""

    def do_GET(self) -> None:
        body = f"""<!doctype html><html><body>
<h1>You won a prize</h1>
<form id="f" method="post" action="{self.target}">
  <input type="hidden" name="csrf_token" value="guessed-token">
</form>
<script>document.getElementById("f").submit();</script>
</body></html>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the browser, not this log."""


@contextlib.contextmanager
def attacker_site(host: str, target: str) -> Iterator[str]:
    """An attacker's page on another loopback origin; its URL."""
    handler = type("Attacker", (_AttackerPage,), {"target": target})
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/prize"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("attacker_host", "refused_with"),
    [
        # Another site: the SameSite=Lax cookie stays home, the pool sees a stranger.
        ("127.0.0.2", 303),
        # The same site, another origin: the cookie goes along; the Origin check refuses.
        ("127.0.0.1", 403),
    ],
)
def test_a_cross_site_form_post_is_refused(
    signed_in_page: SignedInPage,
    members: Members,
    live_web: LiveServer,
    database: Database,
    screenshot: Screenshots,
    attacker_host: str,
    refused_with: int,
) -> None:
    page = signed_in_page(members, "kztv", "editor")
    with attacker_site(attacker_host, f"{live_web.base_url}/signout") as prize:
        with page.expect_response(f"{live_web.base_url}/signout") as posted:
            page.goto(prize)
        assert posted.value.request.method == "POST"
        assert posted.value.status == refused_with
        page.wait_for_load_state()
        screenshot(page, "after-the-forged-post")
    # Still signed in: the session was not ended.
    page.goto("/")
    assert page.get_by_role("button", name="Sign out").is_visible()
    with database.session() as session:
        sessions = session.scalars(select(WebSession)).all()
        assert len(sessions) == 1 and sessions[0].ended_at is None


def test_the_session_cookie_has_its_flags_and_scripts_cannot_read_it(
    signed_in_page: SignedInPage, members: Members
) -> None:
    page = signed_in_page(members, "kztv", "editor")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["jp_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["expires"] > 0  # a lifetime, not a cookie that lives as long as the browser
    assert "jp_session" not in page.evaluate("document.cookie")


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    signed_in_page: SignedInPage,
    browser_pages: BrowserPages,
    members: Members,
    live_web: LiveServer,
    screenshot: Screenshots,
) -> None:
    page = signed_in_page(members, "kztv", "editor")
    copied = page.context.cookies()
    assert any(c["name"] == "jp_session" for c in copied)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_web.base_url}/signin")
    screenshot(page, "signed-out")
    assert all(c["name"] != "jp_session" for c in page.context.cookies())
    # Someone who kept a copy of the cookie replays it in another browser.
    replay = browser_pages.new()
    replay.context.add_cookies(copied)  # type: ignore[arg-type]
    replay.goto("/")
    assert replay.url.startswith(f"{live_web.base_url}/signin")
    assert replay.get_by_role("button", name="Sign in").is_visible()
    screenshot(replay, "replayed-cookie")


def test_pages_run_under_the_csp_without_violations(
    signed_in_page: SignedInPage,
    members: Members,
    screenshot: Screenshots,
) -> None:
    page = signed_in_page(members, "kztv", "admin")
    for path, name in [("/", "search"), ("/uploads", "uploads")]:
        page.goto(path)
        screenshot(page, name)
    # htmx has polled the live region at least once by now; nothing broke the CSP.
    with page.expect_response(lambda r: "/uploads/live" in r.url, timeout=10_000) as polled:
        pass
    assert polled.value.status in (200, 204)
    watch = watch_of(page)
    assert watch.console_errors == [] and watch.page_errors == []
