# ruff: noqa: RUF001 - the fullwidth colon is the look-alike a Windows mirror would show.
"""Names written into the pool must be portable: a Windows mirror stores them as given.

Attack: a member uploads `C:evil.mxf`, `CON.mxf` or `a?b.mxf`. On a Windows archive the first
is drive-relative (it lands outside the mirror's folder), the second opens the console device,
the third cannot be created at all. The pool refuses such names at every door that creates
one (STOR, APPE, MKD, RNTO) with 553 and the reason, before anything is stored.
"""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain

NON_PORTABLE = [
    "C:evil.mxf",
    "ep1.mxf:Zone.Identifier",
    "CON.mxf",
    "con",
    "NUL .mxf",
    "Com1.tar.gz",
    "LPT9",
    "COM¹.mxf",
    "CONOUT$.txt",
    "a<b.mxf",
    "a>b.mxf",
    'say "hi".mxf',
    "a|b.mxf",
    "what?.mxf",
    "star*.mxf",
]


@pytest.fixture
def client(ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]) -> ftplib.FTP:
    ftp = connect_plain(ftp_server, ftp_accounts["aztv"])
    yield ftp
    ftp.close()


def _refusal(call, *args: object) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ftplib.error_perm) as info:
        call(*args)
    return str(info.value)


@pytest.mark.parametrize("name", NON_PORTABLE)
def test_non_portable_names_are_refused_at_every_door(client: ftplib.FTP, name: str) -> None:
    stor = _refusal(client.storbinary, f"STOR /incoming/{name}", io.BytesIO(b"x"))
    assert stor.startswith("553") and "Windows" in stor
    assert _refusal(client.storbinary, f"APPE /incoming/{name}", io.BytesIO(b"x")).startswith("553")
    assert _refusal(client.mkd, f"/incoming/{name}").startswith("553")
    # As a folder on the way to a file, too.
    assert _refusal(
        client.storbinary, f"STOR /incoming/{name}/ep1.mxf", io.BytesIO(b"x")
    ).startswith("553")
    client.storbinary("STOR /incoming/fine.mxf", io.BytesIO(b"x"))
    assert _refusal(client.rename, "/incoming/fine.mxf", f"/incoming/{name}").startswith("553")
    # Nothing was stored under the hostile name, and the session goes on.
    assert client.nlst("/incoming") == ["fine.mxf"]
    client.rename("/incoming/fine.mxf", "/incoming/still fine.mxf")
    assert client.nlst("/incoming") == ["still fine.mxf"]


@pytest.mark.parametrize(
    "name", ["CONSOLE.mxf", "COM10.mxf", "nullable.mxf", "Işık, Gölge (2024) — 1.mxf", ".hidden"]
)
def test_names_that_only_look_reserved_are_kept(client: ftplib.FTP, name: str) -> None:
    client.storbinary(f"STOR /incoming/{name}", io.BytesIO(b"x"))
    client.mkd(f"/incoming/{name}.d")
    assert sorted(client.nlst("/incoming")) == sorted([name, f"{name}.d"])
