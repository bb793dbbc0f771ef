"""kill -9 of the FTP server mid-upload, restart, resume: the file ends byte-identical."""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import PendingUpload
from pool_core.settings import Settings
from tests.fixtures.ftp import FtpLogin, FtpSubprocess, connect_plain, ftp_test_settings

MIB = 1 << 20


@pytest.fixture
def server_process(
    database: Database, storage_settings: Settings, tmp_path: Path
) -> Iterator[FtpSubprocess]:
    settings = ftp_test_settings(
        storage_settings,
        database_url=database.url,
        # A killed server cannot release its lease; keep the wait for its expiry short.
        upload_lease_seconds=5,
    )
    process = FtpSubprocess(settings, tmp_path)
    process.start()
    yield process
    process.stop()


def _committed(db: Database, org_id: int, path: str) -> int:
    with db.session() as session:
        row = session.scalar(
            select(PendingUpload).where(PendingUpload.org_id == org_id, PendingUpload.path == path)
        )
        return row.committed_size if row is not None else 0


def _send_then_kill(
    process: FtpSubprocess, account: FtpLogin, db: Database, path: str, data: bytes
) -> None:
    """Stream `data` into STOR, wait until some of it is durable, then SIGKILL the server."""
    client = connect_plain((process.host, process.port), account)
    client.voidcmd("TYPE I")
    conn = client.transfercmd(f"STOR {path}")
    conn.sendall(data)
    deadline = time.monotonic() + 60
    while _committed(db, account.org_id, path) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _committed(db, account.org_id, path) > 0, "no part became durable in 60 s"
    process.kill9()
    conn.close()
    client.close()


def _resume(process: FtpSubprocess, account: FtpLogin, command: str, path: str, data: bytes) -> int:
    """Reconnect, ask SIZE, continue with REST+STOR or APPE; retry while the dead lease holds."""
    deadline = time.monotonic() + 60
    while True:
        client = connect_plain((process.host, process.port), account)
        try:
            committed = client.size(path)
            assert committed is not None and 0 < committed < len(data)
            rest = committed if command == "STOR" else None
            client.storbinary(f"{command} {path}", io.BytesIO(data[committed:]), rest=rest)
            return committed
        except ftplib.error_perm as exc:
            # 550 "being uploaded by another session": the killed server's lease has not run out.
            if "another session" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            with contextlib.suppress(OSError, EOFError, ftplib.Error):
                client.quit()


@pytest.mark.parametrize("command", ["STOR", "APPE"])
def test_kill_9_mid_upload_then_resume_is_byte_identical(
    server_process: FtpSubprocess,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    command: str,
) -> None:
    account = ftp_accounts["aztv"]
    data = hashlib.shake_256(command.encode()).digest(45 * MIB + 123)
    path = f"/incoming/crash-{command.lower()}.mxf"
    _send_then_kill(server_process, account, database, path, data[: 30 * MIB])
    server_process.start()
    committed = _resume(server_process, account, command, path, data)
    assert 0 < committed <= 30 * MIB
    client = connect_plain((server_process.host, server_process.port), account)
    try:
        out = io.BytesIO()
        client.retrbinary(f"RETR {path}", out.write)
        assert hashlib.sha256(out.getvalue()).hexdigest() == hashlib.sha256(data).hexdigest()
        assert (
            client.sendcmd(f"XSHA256 {path}") == f"250 {hashlib.sha256(data).hexdigest().upper()}"
        )
        assert client.size(path) == len(data)
    finally:
        client.quit()
