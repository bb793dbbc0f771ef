"""Uploads and downloads with real clients: ftplib plain and TLS, curl, lftp."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from pool_core.db import Database
from pool_core.files import tree
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    connect_tls,
    requires_lftp,
    run_lftp,
)

MIB = 1 << 20


def _payload(size: int, seed: int = 1) -> bytes:
    # Incompressible and different per seed, so a misplaced byte range cannot pass.
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size) if size else b""


def _retrieve(client: object, path: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {path}", out.write, rest=rest)  # type: ignore[attr-defined]
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 5, 3 * MIB, 20 * MIB + 7])
def test_stor_and_retr_plain_byte_identical(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    size: int,
) -> None:
    data = _payload(size, seed=size)
    client = connect_plain(ftp_server, ftp_accounts["aztv"])
    try:
        assert client.storbinary("STOR /incoming/clip.bin", io.BytesIO(data)).startswith("226")
        assert client.size("/incoming/clip.bin") == size
        assert _retrieve(client, "/incoming/clip.bin") == data
        if size:
            assert _retrieve(client, "/incoming/clip.bin", rest=size // 2) == data[size // 2 :]
    finally:
        client.quit()
    with database.session() as session:
        view = tree.stat(session, org_id=ftp_accounts["aztv"].org_id, path="/incoming/clip.bin")
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    assert view.md5 == hashlib.md5(data).hexdigest()


def test_stor_and_retr_over_tls_with_session_reuse(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    data = _payload(9 * MIB + 3, seed=7)
    client = connect_tls(ftp_server, ftp_accounts["aztv"])
    try:
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert client.storbinary("STOR /incoming/tls.bin", io.BytesIO(data)).startswith("226")
        assert client.last_data_session_reused
        assert _retrieve(client, "/incoming/tls.bin") == data
        assert client.last_data_session_reused
        assert client.nlst("/incoming") == ["tls.bin"]
    finally:
        client.quit()


def test_a_cleanly_closed_data_connection_ends_the_file(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # In FTP stream mode end-of-file *is* the data connection closing: the server cannot tell
    # a client that stopped early and closed cleanly from a finished upload.
    data = _payload(12 * MIB, seed=3)
    client = connect_plain(ftp_server, ftp_accounts["aztv"])
    try:
        client.voidcmd("TYPE I")
        conn = client.transfercmd("STOR /incoming/ep01.mxf")
        conn.sendall(data)
        conn.close()
        assert client.voidresp().startswith("226")
        assert client.size("/incoming/ep01.mxf") == len(data)
        assert _retrieve(client, "/incoming/ep01.mxf") == data
    finally:
        client.quit()


def _interrupted_upload(server: RunningFTP, account: FtpLogin, path: str, data: bytes) -> int:
    """Start an upload, ABOR it mid-way, and return the committed size the server reports."""
    client = connect_plain(server, account)
    try:
        client.voidcmd("TYPE I")
        conn = client.transfercmd(f"STOR {path}")
        conn.sendall(data)
        client.putcmd("ABOR")
        conn.close()
        # RFC 959: 426 for the aborted transfer, then 226 for the ABOR. The server checks for
        # a waiting ABOR before it takes the end of the data as the end of the file, so this
        # holds however the IO loop orders the two sockets; only if the ABOR had not arrived
        # yet is the transfer complete (226), and the ABOR then finds nothing to abort (225).
        # Both replies are read: one left unread would answer the SIZE below.
        first, second = client.getline(), client.getline()
        assert (first[:3], second[:3]) in {("426", "226"), ("226", "225")}, (first, second)
        size = client.size(path)
        assert size is not None
        return size
    finally:
        client.quit()


def test_abort_keeps_the_upload_resumable_with_rest_and_appe(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database
) -> None:
    account = ftp_accounts["aztv"]
    data = _payload(40 * MIB + 5, seed=11)
    committed = _interrupted_upload(ftp_server, account, "/incoming/ep02.mxf", data[: 25 * MIB])
    assert 0 <= committed <= 25 * MIB
    client = connect_plain(ftp_server, account)
    try:
        # A wrong offset is refused with a clear 5xx, never written at the wrong place.
        with pytest.raises(Exception, match=r"^554 .*resume at"):
            client.storbinary("STOR /incoming/ep02.mxf", io.BytesIO(b"x"), rest=committed + 1)
        # REST + STOR continues up to 33 MiB...
        middle = data[committed : 33 * MIB]
        client.storbinary("STOR /incoming/ep02.mxf", io.BytesIO(middle), rest=committed)
    finally:
        client.quit()
    # ...which completed the file at 33 MiB: APPE then needs a fresh interrupted upload.
    committed = _interrupted_upload(ftp_server, account, "/incoming/ep03.mxf", data[: 20 * MIB])
    client = connect_plain(ftp_server, account)
    try:
        client.storbinary("APPE /incoming/ep03.mxf", io.BytesIO(data[committed:]))
        assert _retrieve(client, "/incoming/ep03.mxf") == data
        assert _retrieve(client, "/incoming/ep02.mxf") == data[: 33 * MIB]
        client.sendcmd("OPTS HASH SHA-256")
        reply = client.sendcmd("HASH /incoming/ep03.mxf")
        assert hashlib.sha256(data).hexdigest() in reply
    finally:
        client.quit()


# --- curl ---------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def _curl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "120", *args],
        capture_output=True,
        check=check,
        timeout=180,
    )


@needs_curl
def test_curl_upload_list_and_resume(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    account = ftp_accounts["aztv"]
    data = _payload(18 * MIB + 1, seed=21)
    source = tmp_path / "master.mov"
    source.write_bytes(data)
    user = f"{account.username}:{account.password}"
    base = f"{ftp_server.url}/incoming/"
    _curl("--user", user, "-T", str(source), base)
    listing = _curl("--user", user, base).stdout.decode()
    assert "master.mov" in listing and str(len(data)) in listing
    assert _curl("--user", user, base + "master.mov").stdout == data
    # Resume: an interrupted upload of the same file continues with `-C -` (SIZE + APPE).
    committed = _interrupted_upload(ftp_server, account, "/incoming/again.mov", data[: 9 * MIB])
    _curl("--user", user, "-C", "-", "-T", str(source), base + "again.mov")
    assert _curl("--user", user, base + "again.mov").stdout == data
    assert committed <= 9 * MIB


@needs_curl
def test_curl_ssl_reqd(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    account = ftp_accounts["trt"]
    data = _payload(2 * MIB, seed=5)
    source = tmp_path / "news.mp4"
    source.write_bytes(data)
    tls = ["--ssl-reqd", "--insecure", "--user", f"{account.username}:{account.password}"]
    _curl(*tls, "-T", str(source), f"{ftp_server.url}/incoming/")
    assert "news.mp4" in _curl(*tls, "--list-only", f"{ftp_server.url}/incoming/").stdout.decode()
    assert _curl(*tls, f"{ftp_server.url}/incoming/news.mp4").stdout == data


# --- lftp ---------------------------------------------------------------------------------


@requires_lftp
def test_lftp_put_get_over_tls(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    data = _payload(7 * MIB + 9, seed=8)
    source = tmp_path / "doc.mxf"
    source.write_bytes(data)
    result = run_lftp(
        ftp_server,
        ftp_accounts["aztv"],
        f"cd /incoming; put {source} -o doc.mxf; get doc.mxf -o {tmp_path / 'back.mxf'}; cls -l",
        home=tmp_path,
        tls=True,
    )
    assert (tmp_path / "back.mxf").read_bytes() == data
    assert b"doc.mxf" in result.stdout


def test_retr_of_a_missing_file_is_550(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], storage: S3Storage
) -> None:
    client = connect_plain(ftp_server, ftp_accounts["aztv"])
    try:
        with pytest.raises(Exception, match=r"^550"):
            _retrieve(client, "/incoming/nothing.mxf")
    finally:
        client.quit()


def test_concurrent_uploads_of_several_sessions(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    payloads = {n: _payload(9 * MIB + n, seed=100 + n) for n in range(6)}

    def upload(n: int) -> None:
        account = ftp_accounts["aztv" if n % 2 else "trt"]
        client = connect_plain(ftp_server, account)
        try:
            client.storbinary(f"STOR /incoming/par{n}.mxf", io.BytesIO(payloads[n]))
        finally:
            client.quit()

    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as pool:
        list(pool.map(upload, payloads))
    for n, data in payloads.items():
        client = connect_plain(ftp_server, ftp_accounts["aztv" if n % 2 else "trt"])
        try:
            assert client.sendcmd(f"XSHA256 /incoming/par{n}.mxf")[4:].lower() == (
                hashlib.sha256(data).hexdigest()
            )
        finally:
            client.quit()
