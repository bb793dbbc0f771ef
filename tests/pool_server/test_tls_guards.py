"""Issue 15, finding 11: a TLS-required session keeps its data connections to itself.

Attacks through real FTP: a clear data connection after `PROT P` + `PASV` + `PROT C`, and a
second client that reaches another session's passive port first.
"""

from __future__ import annotations

import ftplib
import io
import re
import socket
import ssl
from collections.abc import Iterator

import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    client_tls_context,
    connect_tls,
    ftp_test_settings,
    start_ftp_server,
)

SECRET = b"the master nobody else may read " * 64


@pytest.fixture
def tls_server(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> Iterator[RunningFTP]:
    """TLS required, and with it (by default) TLS session reuse on data connections."""
    settings = ftp_test_settings(
        storage_settings, ftp_require_tls=True, ftp_require_tls_reuse=None
    )  # reuse: the default when TLS is required
    with start_ftp_server(settings, database, storage) as running:
        yield running


def _pasv_port(reply: str) -> int:
    found = re.search(r"\(([\d,]+)\)", reply)
    assert found is not None, reply
    numbers = [int(n) for n in found.group(1).split(",")]
    return numbers[4] * 256 + numbers[5]


def test_prot_c_after_pasv_cannot_downgrade_a_tls_required_session(
    tls_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    client = connect_tls(tls_server, ftp_accounts["aztv"])
    try:
        client.storbinary("STOR /incoming/secret.bin", io.BytesIO(SECRET))
        client.voidcmd("TYPE I")
        port = _pasv_port(client.sendcmd("PASV"))
        # The downgrade: PROT C after the passive port was given out.
        with pytest.raises(ftplib.error_perm, match=r"^534 PROT C refused"):
            client.sendcmd("PROT C")
        # A clear data connection to that port carries nothing readable: the server
        # expects a TLS handshake on it (PROT P still holds).
        with socket.create_connection((tls_server.host, port), timeout=30) as raw:
            assert client.sendcmd("RETR /incoming/secret.bin")[:3] in ("125", "150")
            # A clear client just reads; the end of its side makes the server give up on
            # the handshake it waits for, so the read below ends.
            raw.shutdown(socket.SHUT_WR)
            received = b""
            try:
                while chunk := raw.recv(65536):
                    received += chunk
            except (TimeoutError, ConnectionError):
                pass
            assert SECRET[:32] not in received
    finally:
        client.close()


def test_another_client_cannot_take_a_sessions_passive_port(
    tls_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    victim = connect_tls(tls_server, ftp_accounts["aztv"])
    # The attacker has a TLS session of its own with the same server (another member).
    attacker = connect_tls(tls_server, ftp_accounts["trt"])
    try:
        victim.storbinary("STOR /incoming/secret.bin", io.BytesIO(SECRET))
        victim.voidcmd("TYPE I")
        port = _pasv_port(victim.sendcmd("PASV"))
        assert victim.sendcmd("RETR /incoming/secret.bin").startswith("150")
        # The attacker reaches the victim's passive port first, offering its own session.
        received = b""
        with socket.create_connection((tls_server.host, port), timeout=30) as raw:
            try:
                with attacker.context.wrap_socket(
                    raw, server_hostname=tls_server.host, session=attacker.sock.session
                ) as stolen:
                    while chunk := stolen.recv(65536):
                        received += chunk
            except (ssl.SSLError, ConnectionError, TimeoutError):
                pass
        assert received == b""
        # The victim is told why its transfer did not happen, and can try again.
        with pytest.raises(ftplib.error_perm, match=r"^522 TLS session reuse required"):
            victim.voidresp()
        buffer = io.BytesIO()
        victim.retrbinary("RETR /incoming/secret.bin", buffer.write)
        assert buffer.getvalue() == SECRET
    finally:
        victim.close()
        attacker.close()


def test_plain_ftplib_tls_without_session_reuse_is_refused_with_a_clear_reply(
    tls_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # Python's ftplib.FTP_TLS does not resume the session on data connections
    # (python/cpython#63699); the README tells its users to pass the session, as the
    # fixtures' ReusingFTP_TLS does.
    client = ftplib.FTP_TLS(context=client_tls_context(), timeout=30)
    client.connect(tls_server.host, tls_server.port)
    client.auth()
    client.login(ftp_accounts["aztv"].username, ftp_accounts["aztv"].password)
    client.prot_p()
    try:
        with pytest.raises((ftplib.error_perm, ssl.SSLError, OSError)):
            client.nlst("/incoming")
    finally:
        client.close()


def _tls_handshake_only(
    server: RunningFTP, username: str, context: ssl.SSLContext
) -> ftplib.FTP_TLS:
    """A sibling control connection that did AUTH TLS and USER, but not PASS yet.

    Its client has read the reply after the handshake, so it holds the session's tickets
    (a Go client puts them in the cache its other connections resume from).
    """
    sibling = ftplib.FTP_TLS(context=context, timeout=30)
    sibling.connect(server.host, server.port)
    sibling.auth()
    assert sibling.sendcmd(f"USER {username}").startswith("331")
    return sibling


@pytest.mark.parametrize("then", ["logs in", "logs in as another member", "gives up"])
def test_a_data_connection_may_resume_a_sibling_that_is_still_logging_in(
    then: str, tls_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # rclone: connection B's ticket reaches the shared cache before B sent PASS, and
    # connection A's data connection offers it. The server waits for B's login: B logging
    # in as the same account lets the listing through; anything else is a 522.
    account = ftp_accounts["aztv"]
    other = ftp_accounts["trt"]
    client = connect_tls(tls_server, account)
    sibling = _tls_handshake_only(tls_server, account.username, client.context)
    try:
        client.storbinary("STOR /incoming/seen.bin", io.BytesIO(b"x"))
        client.voidcmd("TYPE A")
        port = _pasv_port(client.sendcmd("PASV"))
        assert client.sendcmd("NLST /incoming")[:3] in ("125", "150")
        received = b""
        with (
            socket.create_connection((tls_server.host, port), timeout=30) as raw,
            client.context.wrap_socket(
                raw, server_hostname=tls_server.host, session=sibling.sock.session
            ) as data,
        ):
            assert data.session_reused
            # The server now waits for the sibling's login before sending anything.
            if then == "logs in":
                sibling.sendcmd(f"PASS {account.password}")
            elif then == "logs in as another member":
                sibling.sendcmd(f"USER {other.username}")
                sibling.sendcmd(f"PASS {other.password}")
            else:
                sibling.close()
            try:
                while chunk := data.recv(65536):
                    received += chunk
            except (ssl.SSLError, ConnectionError, TimeoutError):
                pass
        if then == "logs in":
            assert received == b"seen.bin\r\n"
            assert client.voidresp().startswith("226")
        else:
            assert received == b""
            with pytest.raises(ftplib.error_perm, match=r"^522 TLS session reuse required"):
                client.voidresp()
    finally:
        client.close()
        sibling.close()
