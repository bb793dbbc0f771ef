"""The Uploads page in a real browser: it follows an FTP delivery without being reloaded."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_web.browser.conftest import TABLET, Screenshots, SignedInPage, watch_of
from tests.catalog_web.test_uploads_page import PART, ftp_login, store
from tests.fixtures.api import Members
from tests.fixtures.ftp import RunningFTP, connect_plain, ftp_test_settings, start_ftp_server

pytestmark = pytest.mark.browser


@pytest.fixture
def pool_ftp(
    database: Database, api_storage: S3Storage, api_settings: Settings
) -> Iterator[RunningFTP]:
    """The pool FTP server on the web UI's database and bucket."""
    settings = ftp_test_settings(api_settings, upload_part_size=PART)
    with start_ftp_server(settings, database, api_storage) as running:
        yield running


def test_the_page_follows_a_delivery_live(
    signed_in_page: SignedInPage,
    members: Members,
    pool_ftp: RunningFTP,
    screenshot: Screenshots,
) -> None:
    page = signed_in_page(members, "kztv", "uploader")
    page.goto("/uploads")
    live = page.locator("#uploads-live")
    assert live.get_attribute("aria-live") == "polite"
    expect(live).to_contain_text("Nothing has arrived yet.")
    screenshot(page, "uploads-empty")

    account = ftp_login(members, "kztv")
    client = connect_plain(pool_ftp, account)
    client.voidcmd("TYPE I")
    conn = client.transfercmd("STOR /incoming/Қазақ хабары.mxf")
    try:
        conn.sendall(b"\x47" * (PART + 1024))
        # No reload: htmx's poll brings the pending upload in.
        row = page.locator("tr.upload", has_text="Қазақ хабары.mxf")
        expect(row).to_be_visible(timeout=20_000)
        expect(row).to_contain_text("Receiving")
        expect(row).to_contain_text("5 MB")
        screenshot(page, "uploads-receiving")
    finally:
        conn.close()
    assert client.voidresp().startswith("226")
    client.quit()

    asset = page.locator("tr.asset", has_text="Қазақ хабары.mxf")
    expect(asset).to_be_visible(timeout=20_000)
    expect(page.locator("#uploads-live")).to_contain_text("No upload is in progress.")
    screenshot(page, "uploads-received")
    watch = watch_of(page)
    assert watch.console_errors == [] and watch.page_errors == [] and watch.dialogs == []


def test_the_page_fits_a_tablet(
    signed_in_page: SignedInPage,
    members: Members,
    pool_ftp: RunningFTP,
    screenshot: Screenshots,
) -> None:
    account = ftp_login(members, "kztv")
    long_name = "Ұлттық_арна_кешкі_жаңалықтар_2026-12-01_толық_нұсқа_субтитрлермен_HD.mov"
    store(pool_ftp, account, f"/incoming/{long_name}", b"\x00" * 4096)
    store(pool_ftp, account, "/incoming/ready.md5", b"0" * 32 + b"  ready.mov\n")
    store(pool_ftp, account, "/incoming/ready.mov", io.BytesIO(b"r" * 100).getvalue())
    page = signed_in_page(members, "kztv", "uploader", viewport=TABLET)
    page.goto("/uploads")
    expect(page.locator("tr.asset")).to_have_count(2)
    expect(page.locator("tr.asset", has_text="ready.mov")).to_contain_text(
        re.compile("checksum mismatch")
    )
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 768 px"
    screenshot(page, "uploads-tablet")
