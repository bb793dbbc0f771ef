"""FTPS: generated certificate, TLS 1.2+, session reuse on data connections, FTP_REQUIRE_TLS."""

from __future__ import annotations

import ftplib
import io
import os
import ssl
import stat

import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_server.tls import SELF_SIGNED_CERT, SELF_SIGNED_KEY, ensure_certificate
from tests.fixtures.ftp import (
    FtpLogin,
    ReusingFTP_TLS,
    RunningFTP,
    client_tls_context,
    connect_tls,
    ftp_test_settings,
    start_ftp_server,
)


def test_self_signed_certificate_is_generated_once_with_a_private_key(
    storage_settings: Settings,
) -> None:
    cert, key = ensure_certificate(storage_settings)
    assert cert == storage_settings.data_dir / SELF_SIGNED_CERT
    assert key == storage_settings.data_dir / SELF_SIGNED_KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = cert.read_bytes()
    assert ensure_certificate(storage_settings) == (cert, key)
    assert cert.read_bytes() == first


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_data_connections_resume_the_control_session(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], version: ssl.TLSVersion
) -> None:
    context = client_tls_context()
    context.minimum_version = context.maximum_version = version
    client = ReusingFTP_TLS(context=context, timeout=30)
    client.connect(ftp_server.host, ftp_server.port)
    client.auth()
    client.login(ftp_accounts["aztv"].username, ftp_accounts["aztv"].password)
    client.prot_p()
    try:
        assert client.sock.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        for _ in range(3):
            client.storbinary("STOR /incoming/a.txt", io.BytesIO(b"hello"))
            assert client.last_data_session_reused
            assert client.nlst("/incoming") == ["a.txt"]
            assert client.last_data_session_reused
    finally:
        client.quit()


# TLS record content type 22 (handshake) and handshake type 4 (NewSessionTicket), RFC 8446.
_HANDSHAKE = 22
_NEW_SESSION_TICKET = 4


def test_tls_1_3_tickets_come_on_the_control_connection_only(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # A ticket on a data connection that the client never reads turns its close into RST and
    # truncates uploads (rclone, golang/go#25228); pool_server/tls.py stops those tickets
    # through an OpenSSL behaviour that this test pins down.
    tickets: list[object] = []

    def count(conn: object, direction: str, _v: object, kind: int, message: int, _d: bytes) -> None:
        if direction == "read" and kind == _HANDSHAKE and message == _NEW_SESSION_TICKET:
            tickets.append(conn)

    context = client_tls_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    # The standard library's message hook (private, used by CPython's own TLS tests) is the
    # only way for an ssl client to see post-handshake messages.
    setattr(context, "_msg_callback", count)  # noqa: B010 - typeshed does not declare it
    client = ReusingFTP_TLS(context=context, timeout=30)
    client.connect(ftp_server.host, ftp_server.port)
    client.auth()
    client.login(ftp_accounts["aztv"].username, ftp_accounts["aztv"].password)
    client.prot_p()
    try:
        assert client.sock.version() == "TLSv1.3"
        data = os.urandom(1_000_000)
        # Every data connection is read to its end, so a ticket sent on it would be counted.
        for _ in range(2):
            client.storbinary("STOR /incoming/t.bin", io.BytesIO(data))
            assert client.last_data_session_reused
            received = io.BytesIO()
            client.retrbinary("RETR /incoming/t.bin", received.write)
            assert client.last_data_session_reused
            assert received.getvalue() == data
            assert client.nlst("/incoming") == ["t.bin"]
            assert client.last_data_session_reused
        assert tickets, "the control connection must still get tickets to resume from"
        assert all(conn is client.sock for conn in tickets)
    finally:
        client.quit()


# The client must offer the deprecated protocols to prove the server refuses them, and the
# standard library warns when a context enables them.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(ftp_server: RunningFTP) -> None:
    context = client_tls_context()
    # Lower the client's own floor (OpenSSL 3 forbids TLS 1.1 at security level 1+).
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    client = ftplib.FTP_TLS(context=context, timeout=30)
    client.connect(ftp_server.host, ftp_server.port)
    try:
        with pytest.raises((ssl.SSLError, OSError)):
            client.auth()
    finally:
        client.close()


@pytest.fixture
def tls_only_server(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> RunningFTP:
    settings = ftp_test_settings(storage_settings, ftp_require_tls=True)
    with start_ftp_server(settings, database, storage) as running:
        yield running


def test_require_tls_refuses_plain_logins(
    tls_only_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    plain = ftplib.FTP(timeout=30)
    plain.connect(tls_only_server.host, tls_only_server.port)
    try:
        with pytest.raises(ftplib.error_perm, match=r"^550 SSL/TLS required"):
            plain.login(ftp_accounts["aztv"].username, ftp_accounts["aztv"].password)
    finally:
        plain.close()
    client = connect_tls(tls_only_server, ftp_accounts["aztv"])
    try:
        client.storbinary("STOR /incoming/secure.bin", io.BytesIO(b"x" * 1000))
        assert client.size("/incoming/secure.bin") == 1000
        # A clear data channel is refused too: PROT C itself (534, RFC 2228).
        with pytest.raises(ftplib.error_perm, match=r"^534 PROT C refused"):
            client.prot_c()
        assert client.nlst("/incoming") == ["secure.bin"]
    finally:
        client.quit()
