"""Live FTP sessions follow their account: a password change, a disabled user or a disabled
organization ends them within seconds (421), through the operator CLI or the admin API."""

from __future__ import annotations

import ftplib
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pool_core.db import Database
from pool_core.services.accounts import create_user, get_organization_by_code
from pool_core.settings import Settings
from pool_server.sessions import ENDED_TEXT
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, connect_tls, wait_until
from tests.pool_sync.harness import build_app, serve

# Well above the 10 s promise: the machine running the tests is shared and noisy.
SESSION_END_TIMEOUT = 60


def jointpool(database: Database, tmp_path: Path, *args: str) -> str:
    """Run the operator's `jointpool` command on this test's database; return its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env["JOINTPOOL_DATA_DIR"] = str(tmp_path / "cli")
    env["JOINTPOOL_DATABASE_URL"] = database.url
    result = subprocess.run(
        [sys.executable, "-m", "jointpool", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Session:
    """A logged-in client whose end the test waits for, keeping the reply that ended it."""

    def __init__(self, client: ftplib.FTP) -> None:
        self.client = client
        self.ending: str | None = None

    def ended(self) -> bool:
        """Send NOOP; True once the server has ended the session."""
        try:
            self.client.voidcmd("NOOP")
        except ftplib.error_temp as exc:
            self.ending = str(exc)
            return True
        except (EOFError, OSError) as exc:
            self.ending = repr(exc)
            return True
        return False

    def assert_ends(self) -> None:
        """Wait for the end; the reply was the 421, and the next command fails too."""
        wait_until(self.ended, "the FTP session to end", timeout=SESSION_END_TIMEOUT, interval=0.2)
        assert self.ending is not None and self.ending.startswith("421"), self.ending
        assert ENDED_TEXT[4:] in self.ending
        with pytest.raises((ftplib.Error, EOFError, OSError)):
            self.client.pwd()
        self.client.close()


def _still_works(client: ftplib.FTP) -> bool:
    return client.pwd() == "/"


def test_a_password_change_ends_live_sessions(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database, tmp_path: Path
) -> None:
    # Attack: a former operator who knew the password keeps a session open after the
    # password was changed. Before the fix, the session went on working indefinitely.
    account, other = ftp_accounts["aztv"], ftp_accounts["trt"]
    old = Session(connect_plain(ftp_server, account))
    old_tls = Session(connect_tls(ftp_server, account))
    bystander = connect_plain(ftp_server, other)
    out = jointpool(database, tmp_path, "user", "password", account.username)
    found = re.search(r": (\S+)$", out.strip())
    assert found
    new_password = found.group(1)
    old.assert_ends()
    old_tls.assert_ends()
    assert _still_works(bystander)
    bystander.quit()
    # The old password no longer logs in (not even from this process's login cache)...
    refused = ftplib.FTP(timeout=30)
    refused.connect(ftp_server.host, ftp_server.port)
    with pytest.raises(ftplib.error_perm, match=r"^530"):
        refused.login(account.username, account.password)
    refused.close()
    # ...and the new one does, and stays logged in.
    fresh = connect_plain(
        ftp_server,
        FtpLogin(account.org_id, account.user_id, account.username, new_password),
    )
    assert _still_works(fresh)
    fresh.quit()


def test_an_admin_disabling_a_user_over_http_ends_their_sessions(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    storage_settings: Settings,
) -> None:
    account, other = ftp_accounts["aztv"], ftp_accounts["trt"]
    with database.write_session() as session:
        org = get_organization_by_code(session, code="aztv")
        admin_token = create_user(session, org=org, username="aztv-admin", role="admin").api_token
    victim = Session(connect_plain(ftp_server, account))
    bystander = connect_plain(ftp_server, other)
    with serve(build_app(storage_settings, database, ftp_server.storage)) as base:
        response = httpx.post(
            f"{base}/v1/users/{account.user_id}/disable",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    victim.assert_ends()
    assert _still_works(bystander)
    bystander.quit()
    refused = ftplib.FTP(timeout=30)
    refused.connect(ftp_server.host, ftp_server.port)
    with pytest.raises(ftplib.error_perm, match=r"^530"):
        refused.login(account.username, account.password)
    refused.close()


def test_disabling_the_user_or_the_organization_from_the_cli_ends_their_sessions(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database, tmp_path: Path
) -> None:
    aztv, trt = ftp_accounts["aztv"], ftp_accounts["trt"]
    with database.write_session() as session:
        org = get_organization_by_code(session, code="trt")
        colleague = create_user(session, org=org, username="trt-night", role="uploader")
    colleague_login = FtpLogin(trt.org_id, colleague.user.id, "trt-night", colleague.ftp_password)
    user_session = Session(connect_plain(ftp_server, aztv))
    org_sessions = [
        Session(connect_plain(ftp_server, trt)),
        Session(connect_plain(ftp_server, colleague_login)),
    ]

    assert "disabled" in jointpool(database, tmp_path, "user", "disable", aztv.username)
    user_session.assert_ends()
    for session in org_sessions:
        assert _still_works(session.client)

    assert "disabled" in jointpool(database, tmp_path, "org", "disable", "trt")
    for session in org_sessions:
        session.assert_ends()
