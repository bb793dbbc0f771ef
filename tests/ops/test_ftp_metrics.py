"""The FTP node's /metrics after real sessions: a failed login, an upload, a download."""

from __future__ import annotations

import ftplib
import io
import os

import httpx
import pytest

from pool_core.db import Database
from pool_core.ops.version import pool_version
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    requires_tool,
    start_ftp_server,
    wait_until,
)
from tests.ops.scrape import ops_server, promtool_check, scrape, stamp_head

SIZE = 300_000


@requires_tool("promtool")
def test_ftp_counters_move_by_what_the_clients_did(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database
) -> None:
    stamp_head(database)
    account = ftp_accounts["aztv"]
    data = os.urandom(SIZE)
    with ops_server(ftp_server.settings, database) as ops:
        before = scrape(ops.url)

        guesser = ftplib.FTP(timeout=30)
        guesser.connect(ftp_server.host, ftp_server.port)
        with pytest.raises(ftplib.error_perm):
            guesser.login(account.username, "not-the-password")
        guesser.close()

        client = connect_plain(ftp_server, account)
        # An upload in flight is counted under its organization until its link closes.
        client.voidcmd("TYPE I")
        link = client.transfercmd("STOR /incoming/clip.bin")
        link.sendall(data[: SIZE // 2])
        wait_until(
            lambda: (
                scrape(ops.url).value("jointpool_ftp_pending_uploads", org="aztv")
                == before.value("jointpool_ftp_pending_uploads", org="aztv") + 1
            ),
            "the upload to be counted as in flight for aztv",
            interval=0.2,
        )
        link.sendall(data[SIZE // 2 :])
        link.close()
        assert client.voidresp().startswith("226")
        with pytest.raises(ftplib.error_perm):
            client.storbinary("STOR /licensed/nope.bin", io.BytesIO(b"x"))
        received = bytearray()
        assert client.retrbinary("RETR /incoming/clip.bin", received.extend).startswith("226")
        assert bytes(received) == data
        with pytest.raises(ftplib.error_perm):
            client.retrbinary("RETR /incoming/missing.bin", received.extend)
        during = scrape(ops.url)
        client.quit()

        # Sessions close on the server's loop after the client leaves.
        wait_until(
            lambda: (
                scrape(ops.url).value("jointpool_ftp_sessions_active")
                == before.value("jointpool_ftp_sessions_active")
            ),
            "both sessions to be counted as closed",
        )
        health = httpx.get(f"{ops.url}/healthz")
        ready = httpx.get(f"{ops.url}/readyz")
        after = scrape(ops.url)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("jointpool_ftp_logins_total", result="bad_password") == 1
    assert delta("jointpool_ftp_logins_total", result="ok") == 1
    assert delta("jointpool_ftp_uploads_total", result="complete") == 1
    assert delta("jointpool_ftp_uploads_total", result="refused") == 1
    assert delta("jointpool_ftp_downloads_total", result="complete") == 1
    assert delta("jointpool_ftp_downloads_total", result="refused") == 1
    assert delta("jointpool_downloads_total", channel="ftp") == 1
    assert delta("jointpool_ftp_received_bytes_total") == SIZE
    assert delta("jointpool_ftp_sent_bytes_total") == SIZE
    assert delta("jointpool_ftp_upload_throughput_bytes_per_second_count") == 1
    assert (
        during.value("jointpool_ftp_sessions_active")
        == before.value("jointpool_ftp_sessions_active") + 1
    )
    assert after.value("jointpool_ftp_pending_uploads", org="aztv") == before.value(
        "jointpool_ftp_pending_uploads", org="aztv"
    )
    assert after.has("jointpool_ftp_bans_active")
    assert after.value("jointpool_build_info", version=pool_version()) == 1
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert after.value("jointpool_ready", check="storage") == 1
    promtool_check(after.text)


@requires_tool("promtool")
def test_bans_and_tls_refusals_are_counted(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
) -> None:
    account = ftp_accounts["trt"]
    settings = ftp_server.settings
    tls_settings = ftp_test_settings(storage_settings, ftp_require_tls=True)
    with ops_server(settings, database) as ops:
        before = scrape(ops.url)
        for _ in range(settings.ftp_ban_threshold):
            guesser = ftplib.FTP(timeout=30)
            guesser.connect(ftp_server.host, ftp_server.port)
            with pytest.raises(ftplib.error_perm):
                guesser.login(account.username, "wrong")
            guesser.close()
        # The address is banned now: the next connection is turned away before a session.
        turned_away = ftplib.FTP(timeout=30)
        with pytest.raises(ftplib.error_temp):
            turned_away.connect(ftp_server.host, ftp_server.port)
        turned_away.close()
        bans = scrape(ops.url).value("jointpool_ftp_bans_active")
        with start_ftp_server(tls_settings, database, storage) as tls_only:
            plain = ftplib.FTP(timeout=30)
            plain.connect(tls_only.host, tls_only.port)
            with pytest.raises(ftplib.error_perm):
                plain.login(account.username, account.password)
            plain.close()
        after = scrape(ops.url)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("jointpool_ftp_logins_total", result="bad_password") == settings.ftp_ban_threshold
    assert delta("jointpool_ftp_logins_total", result="banned") == 1
    assert delta("jointpool_ftp_logins_total", result="tls_required") == 1
    assert delta("jointpool_ftp_logins_total", result="ok") == 0
    # The address, the (address, account) pair, and the account (whose ban only slows its
    # logins down, never locks it).
    assert bans == 3
    promtool_check(after.text)
