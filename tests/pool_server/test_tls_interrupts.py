"""TLS rows of the interrupted-upload matrix (issue 12): how an FTPS data connection ends.

A reset under TLS and the idle data-connection timeout leave the upload pending and
resumable byte-identical; a bare FIN without close_notify completes it by default (as vsftpd
does, most clients never send close_notify) and keeps it pending with
`ftp_strict_tls_eof`. ABOR racing the data end is not here: over TLS it cannot be seen
early (see pool_server/link.py).
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, PendingUpload
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_tls,
    ftp_test_settings,
    live_upload_size,
    make_account,
    start_ftp_server,
    wait_received,
    wait_until,
)

MIB = 1 << 20
PART = 5 * MIB
DATA = hashlib.shake_256(b"tls interrupts").digest(2 * PART + MIB + 7)
CUT = PART + 3 * MIB  # in the second part


def _pending(db: Database, path: str) -> PendingUpload | None:
    with db.session() as session:
        return session.scalar(select(PendingUpload).where(PendingUpload.path == path))


def _assets(db: Database, path: str) -> list[tuple[int, str, int]]:
    with db.session() as session:
        rows = session.scalars(select(Asset).where(Asset.source_path == path))
        return [(a.size, a.sha256, a.version) for a in rows]


@contextmanager
def _server(
    database: Database, storage: S3Storage, storage_settings: Settings, **overrides: object
) -> Iterator[tuple[RunningFTP, FtpLogin]]:
    account = make_account(database, "kyrgyztv", country="KG")
    settings = ftp_test_settings(
        storage_settings, upload_part_size=PART, upload_settle_seconds=600, **overrides
    )
    with start_ftp_server(settings, database, storage) as running:
        yield running, account


def _start(
    ftp: tuple[RunningFTP, FtpLogin], path: str, data: bytes
) -> tuple[ftplib.FTP_TLS, socket.socket]:
    client = connect_tls(*ftp)
    client.voidcmd("TYPE I")
    conn = client.transfercmd(f"STOR {path}")
    conn.sendall(data)
    wait_received(path, len(data))
    return client, conn


def _resume_and_check(db: Database, ftp: tuple[RunningFTP, FtpLogin], path: str) -> None:
    """REST + STOR from SIZE; byte-identical, one version with the full SHA-256."""
    client = connect_tls(*ftp)
    try:
        size = client.size(path)
        assert size is not None and 0 < size <= CUT
        reply = client.storbinary(f"STOR {path}", io.BytesIO(DATA[size:]), rest=size)
        assert reply.startswith("226")
        out = io.BytesIO()
        client.retrbinary(f"RETR {path}", out.write)
        assert out.getvalue() == DATA
        digest = hashlib.sha256(DATA).hexdigest()
        assert client.sendcmd(f"XSHA256 {path}") == f"250 {digest.upper()}"
    finally:
        client.quit()
    assert _assets(db, path) == [(len(DATA), digest, 1)]
    assert _pending(db, path) is None


def test_tls_data_reset_stays_pending_then_resumes(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    path = "/incoming/tls-reset.mxf"
    with _server(database, storage, storage_settings) as ftp:
        client, conn = _start(ftp, path, DATA[:CUT])
        # SO_LINGER 0 under the TLS socket: close() sends RST, no close_notify.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        assert client.getline().startswith("426")
        client.close()
        wait_until(lambda: live_upload_size(path) is None, "the interrupted writer to end")
        assert _assets(database, path) == []
        pending = _pending(database, path)
        assert pending is not None and 0 < pending.committed_size <= CUT
        _resume_and_check(database, ftp, path)


def test_idle_data_connection_timeout_stays_pending_then_resumes(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    path = "/incoming/tls-idle.mxf"
    # The idle data-connection timeout, short for this server only.
    with _server(database, storage, storage_settings, ftp_data_idle_timeout=1) as ftp:
        client, conn = _start(ftp, path, DATA[:CUT])
        # The sender stalls: the server gives up on the data connection.
        assert client.getline() == "421 Data connection timed out."
        conn.close()
        client.close()
        wait_until(lambda: live_upload_size(path) is None, "the timed-out writer to end")
        assert _assets(database, path) == []
        pending = _pending(database, path)
        assert pending is not None and pending.committed_size == CUT
        _resume_and_check(database, ftp, path)


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_tls_fin_without_close_notify(
    database: Database, storage: S3Storage, storage_settings: Settings, strict: bool
) -> None:
    path = "/incoming/tls-fin.mxf"
    with _server(database, storage, storage_settings, ftp_strict_tls_eof=strict) as ftp:
        client, conn = _start(ftp, path, DATA[:CUT])
        # A bare TCP FIN under the TLS layer: SSLSocket.shutdown sends no close_notify.
        conn.shutdown(socket.SHUT_WR)
        reply = client.getline()
        conn.close()
        if strict:
            assert reply.startswith("426") and "close_notify" in reply
            assert _assets(database, path) == []
            pending = _pending(database, path)
            assert pending is not None and pending.committed_size == CUT
        else:
            # Taken as the end of the file (then continued at its size, as a client would).
            assert reply.startswith("226")
            assert [a[0] for a in _assets(database, path)] == [CUT]
        client.quit()
        _resume_and_check(database, ftp, path)
