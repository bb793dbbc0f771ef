"""The virtual tree over FTP: navigation, listings, changes, checksums, hostile names."""

from __future__ import annotations

import ftplib
import hashlib
import io
import socket
import unicodedata

import pytest

from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain


@pytest.fixture
def client(ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]) -> ftplib.FTP:
    ftp = connect_plain(ftp_server, ftp_accounts["aztv"])
    yield ftp
    ftp.close()


def _put(client: ftplib.FTP, path: str, data: bytes) -> None:
    assert client.storbinary(f"STOR {path}", io.BytesIO(data)).startswith("226")


def _error(call, *args: object) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ftplib.Error) as info:
        call(*args)
    return str(info.value)


def test_navigation_and_listings(client: ftplib.FTP) -> None:
    client.cwd("/incoming")
    assert client.pwd() == "/incoming"
    client.mkd("series")
    _put(client, "series/ep01.mxf", b"a" * 1000)
    client.cwd("series")
    assert client.pwd() == "/incoming/series"
    client.cwd("..")
    assert client.pwd() == "/incoming"
    lines: list[str] = []
    client.retrlines("LIST", lines.append)
    assert len(lines) == 1 and lines[0].startswith("d") and lines[0].endswith(" series")
    lines = []
    client.retrlines("LIST series", lines.append)
    assert lines[0].startswith("-rw") and " 1000 " in lines[0] and lines[0].endswith("ep01.mxf")
    facts = dict(client.mlsd("/incoming/series"))
    assert facts["ep01.mxf"]["type"] == "file" and facts["ep01.mxf"]["size"] == "1000"
    mlst = client.sendcmd("MLST /incoming/series/ep01.mxf")
    assert "type=file;size=1000;" in mlst and "/incoming/series/ep01.mxf" in mlst
    stat = client.sendcmd("STAT /incoming/series")
    assert stat.startswith("213") and "ep01.mxf" in stat
    assert client.sendcmd("STAT").startswith("211")
    assert client.size("/incoming/series/ep01.mxf") == 1000
    assert _error(client.cwd, "/incoming/nope").startswith("550")


def test_root_and_licensed_are_read_only(client: ftplib.FTP) -> None:
    assert _error(client.mkd, "/mine").startswith("550")
    assert _error(client.mkd, "/licensed/mine").startswith("550")
    assert _error(_put, client, "/licensed/x.mxf", b"x").startswith("550")
    assert _error(_put, client, "/x.mxf", b"x").startswith("550")
    assert _error(client.rmd, "/incoming").startswith("550")
    assert _error(client.rename, "/incoming", "/inbox").startswith("550")
    facts = dict(client.mlsd("/"))
    assert facts["licensed"]["perm"] == "el"


def test_rename_moves_non_empty_folders_atomically(client: ftplib.FTP) -> None:
    client.mkd("/incoming/a")
    client.mkd("/incoming/a/b")
    _put(client, "/incoming/a/b/clip.mov", b"payload")
    client.rename("/incoming/a", "/incoming/z")
    assert client.nlst("/incoming") == ["z"]
    out = io.BytesIO()
    client.retrbinary("RETR /incoming/z/b/clip.mov", out.write)
    assert out.getvalue() == b"payload"
    client.rename("/incoming/z/b/clip.mov", "/incoming/clip.mov")
    assert sorted(client.nlst("/incoming")) == ["clip.mov", "z"]
    assert _error(client.rename, "/incoming/missing", "/incoming/x").startswith("550")


def test_delete_and_remove_folders(client: ftplib.FTP) -> None:
    client.mkd("/incoming/tmp")
    _put(client, "/incoming/tmp/f.txt", b"1")
    assert _error(client.rmd, "/incoming/tmp").startswith("550")
    client.delete("/incoming/tmp/f.txt")
    client.rmd("/incoming/tmp")
    assert client.nlst("/incoming") == []
    assert _error(client.delete, "/incoming/tmp/f.txt").startswith("550")


def test_mdtm_and_mfmt(client: ftplib.FTP) -> None:
    _put(client, "/incoming/old.mxf", b"x")
    reply = client.sendcmd("MFMT 20200102030405 /incoming/old.mxf")
    assert reply.startswith("213") and "20200102030405" in reply
    assert client.sendcmd("MDTM /incoming/old.mxf") == "213 20200102030405"
    assert dict(client.mlsd("/incoming"))["old.mxf"]["modify"] == "20200102030405"


def test_checksums_come_from_the_database(client: ftplib.FTP) -> None:
    data = b"broadcast master" * 4096
    _put(client, "/incoming/m.mxf", data)
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert client.sendcmd("XSHA256 /incoming/m.mxf") == f"250 {sha.upper()}"
    assert client.sendcmd("XMD5 /incoming/m.mxf") == f"250 {md5.upper()}"
    assert client.sendcmd("OPTS HASH") == "200 SHA-256"
    assert client.sendcmd("HASH /incoming/m.mxf") == (
        f"213 SHA-256 0-{len(data)} {sha} /incoming/m.mxf"
    )
    assert client.sendcmd("OPTS HASH MD5") == "200 MD5"
    assert md5 in client.sendcmd("HASH /incoming/m.mxf")
    assert _error(client.sendcmd, "OPTS HASH CRC32").startswith("501")
    assert _error(client.sendcmd, "HASH /incoming").startswith("550")


def test_feat_lists_the_extensions(client: ftplib.FTP) -> None:
    feat = client.sendcmd("FEAT")
    for feature in (
        "AUTH TLS", "EPSV", "MDTM", "MFMT", "MLST", "SIZE", "REST STREAM", "UTF8",
        "HASH SHA-256*;MD5", "XMD5", "XSHA256",
    ):  # fmt: skip
        assert f" {feature}" in feat


@pytest.mark.parametrize(
    "name",
    [
        "bad\x01name.mxf",
        "nul\x00.mxf",
        "x" * 256 + ".mxf",
        "trailing-dot.",
        "evil\u202excm.mxf",
        "back\\slash.mxf",
    ],
)
def test_hostile_names_are_refused_with_553(client: ftplib.FTP, name: str) -> None:
    assert _error(_put, client, f"/incoming/{name}", b"x").startswith("553")
    assert _error(client.mkd, f"/incoming/{name}").startswith("553")
    assert client.nlst("/incoming") == []


def test_dotdot_never_leaves_the_tree(client: ftplib.FTP) -> None:
    client.cwd("/incoming/../../../..")
    assert client.pwd() == "/"
    _put(client, "/incoming/../../incoming/ok.mxf", b"x")
    assert client.nlst("/incoming") == ["ok.mxf"]


def test_names_are_nfc_normalised_utf8(client: ftplib.FTP) -> None:
    decomposed = unicodedata.normalize("NFD", "Gənc ölkə — Қазақ.mxf")
    _put(client, f"/incoming/{decomposed}", b"x")
    assert client.nlst("/incoming") == [unicodedata.normalize("NFC", decomposed)]
    assert client.size(f"/incoming/{unicodedata.normalize('NFC', decomposed)}") == 1


def test_invalid_utf8_is_refused(ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]) -> None:
    account = ftp_accounts["aztv"]
    with socket.create_connection((ftp_server.host, ftp_server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(f"USER {account.username}\r\nPASS {account.password}\r\n".encode())
        reader.readline()
        assert reader.readline().startswith(b"230")
        sock.sendall(b"MKD /incoming/\xff\xfe\r\n")
        assert reader.readline().startswith(b"501")


def test_two_organizations_never_see_each_other(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    aztv = connect_plain(ftp_server, ftp_accounts["aztv"])
    trt = connect_plain(ftp_server, ftp_accounts["trt"])
    try:
        aztv.mkd("/incoming/secret")
        _put(aztv, "/incoming/secret/ep.mxf", b"aztv only")
        assert trt.nlst("/incoming") == []
        assert _error(trt.size, "/incoming/secret/ep.mxf").startswith("550")
        assert _error(trt.cwd, "/incoming/secret").startswith("550")
        assert _error(trt.retrbinary, "RETR /incoming/secret/ep.mxf", print).startswith("550")
        assert _error(trt.sendcmd, "HASH /incoming/secret/ep.mxf").startswith("550")
        assert _error(trt.delete, "/incoming/secret/ep.mxf").startswith("550")
        assert _error(trt.rename, "/incoming/secret", "/incoming/mine").startswith("550")
        # Same path, separate trees: each org has its own file there.
        _put(trt, "/incoming/ep.mxf", b"trt")
        _put(aztv, "/incoming/ep.mxf", b"aztv")
        out = io.BytesIO()
        trt.retrbinary("RETR /incoming/ep.mxf", out.write)
        assert out.getvalue() == b"trt"
    finally:
        aztv.quit()
        trt.quit()
