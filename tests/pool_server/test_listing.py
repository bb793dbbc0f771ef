# ruff: noqa: RUF001 - Azerbaijani and Turkish names use the dotless i on purpose.
"""FTP replies as clients expect them: 550 for missing paths, valid RFC 3659 facts, UTF-8 names.

The MLSD/MLST lines are checked with a strict RFC 3659 (section 7) parser written here, not
with ftplib's lenient `mlsd()`, which splits at the first space and accepts anything.
"""

from __future__ import annotations

import dataclasses
import datetime
import ftplib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from pool_core.db import Database
from pool_core.files import tree
from pool_core.models import Asset
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.service import open_upload
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_tls,
    ftp_test_settings,
    start_ftp_server,
)
from tests.pool_core.test_licensing import build_world, grant, make_asset, make_title, open_window

# --- a strict RFC 3659 entry parser (section 7.2 and 7.5)

# RCHAR of RFC 3659 7.2; SCHAR adds "=". Neither has space or ";".
_RCHAR = r"[A-Za-z0-9,.:!@#$%^&()\-_+?/\\'\"]"
_VALUE = re.compile(rf"(?:{_RCHAR}|=)*")
_FACT_NAME = re.compile(rf"{_RCHAR}+")
REQUIRED_FACTS = ("type", "size", "modify", "perm", "unique")
_PERMS = {"file": set("adfrw"), "dir": set("cdeflmp")}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One parsed MLSx entry: facts (lower-case names) and the pathname."""

    facts: dict[str, str]
    name: str


def parse_entry(line: str) -> Entry:
    """Parse `fact=value;...; pathname` strictly, or fail naming what is wrong."""
    facts_text, space, name = line.partition(" ")
    assert space, f"no space before the pathname: {line!r}"
    assert name and not name.startswith(" "), f"not exactly one space before the name: {line!r}"
    assert facts_text.endswith(";"), f"the fact list does not end with ';': {line!r}"
    facts: dict[str, str] = {}
    for fact in facts_text[:-1].split(";"):
        key, equals, value = fact.partition("=")
        assert equals, f"fact without '=': {fact!r} in {line!r}"
        assert _FACT_NAME.fullmatch(key), f"bad fact name {key!r} in {line!r}"
        assert _VALUE.fullmatch(value), f"bad value {value!r} of {key} in {line!r}"
        # Fact names are case-insensitive (7.1): a repeat under another case is a repeat.
        assert key.lower() not in facts, f"fact {key} given twice in {line!r}"
        facts[key.lower()] = value
    missing = [f for f in REQUIRED_FACTS if f not in facts]
    assert not missing, f"facts {missing} missing in {line!r}"
    kind = facts["type"].lower()
    assert kind in ("file", "dir", "cdir", "pdir"), f"bad type in {line!r}"
    assert re.fullmatch(r"[0-9]+", facts["size"]), f"bad size in {line!r}"
    assert re.fullmatch(r"[0-9]{14}(\.[0-9]+)?", facts["modify"]), f"bad modify in {line!r}"
    datetime.datetime.strptime(facts["modify"][:14], "%Y%m%d%H%M%S")
    perms = set(facts["perm"].lower())
    allowed = _PERMS["file" if kind == "file" else "dir"]
    assert perms <= allowed, f"perm {facts['perm']} not valid for a {kind}: {line!r}"
    assert facts["unique"], f"empty unique in {line!r}"
    return Entry(facts, name)


def parse_listing(data: bytes) -> list[Entry]:
    """Parse a whole MLSD data transfer: UTF-8 lines, each ending in CRLF."""
    assert data == b"" or data.endswith(b"\r\n"), "the last line does not end with CRLF"
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines), "bare CR or LF"
    entries = [parse_entry(line.decode("utf-8", "strict")) for line in lines]
    uniques = [e.facts["unique"] for e in entries]
    assert len(set(uniques)) == len(uniques), f"unique fact repeated: {uniques}"
    return entries


def mlsd(client: ftplib.FTP, path: str) -> dict[str, Entry]:
    """MLSD a folder, strictly parsed, by name."""
    chunks: list[bytes] = []
    client.retrbinary(f"MLSD {path}", chunks.append)
    return {e.name: e for e in parse_listing(b"".join(chunks))}


def mlst(client: ftplib.FTP, path: str) -> Entry:
    """MLST one path: the single entry line of the 250 reply, strictly parsed."""
    reply = client.sendcmd(f"MLST {path}")
    lines = reply.split("\n")
    assert len(lines) == 3 and lines[0].startswith("250-") and lines[2].startswith("250 ")
    # 7.2: the entry line of MLST starts with one space.
    assert lines[1].startswith(" ") and not lines[1].startswith("  ")
    entry = parse_entry(lines[1][1:].rstrip("\r"))
    assert entry.name == path
    return entry


def test_the_strict_parser_refuses_what_clients_misread() -> None:
    good = "type=file;size=3;modify=20260101120000;perm=r;unique=a1f; Dədə Qorqud.mxf"
    assert parse_entry(good).name == "Dədə Qorqud.mxf"
    bad = [
        # The bug clients met: the title (with its space) as the unique token.
        "type=dir;size=0;modify=20260101120000;perm=el;unique=Dədə Qorqud; Dədə Qorqud",
        "type=file;size=3;modify=20260101120000;perm=r;unique=a1f;  two spaces",
        "type=file;size=3;modify=20260101120000;perm=r; no unique",
        "type=file;size=3;modify=2026-01-01;perm=r;unique=a; bad modify",
        "type=file;size=3;modify=20260101120000;perm=elc;unique=a; dir perms on a file",
        "type=file;Type=file;size=3;modify=20260101120000;perm=r;unique=a; twice",
    ]
    for line in bad:
        with pytest.raises(AssertionError):
            parse_entry(line)


# --- 550 for missing paths, facts of every folder kind, UTF-8 names in /incoming


@pytest.fixture
def client(ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]) -> Iterator[ftplib.FTP]:
    ftp = connect_tls(ftp_server, ftp_accounts["aztv"])
    yield ftp
    ftp.close()


def _put(client: ftplib.FTP, path: str, data: bytes) -> None:
    assert client.storbinary(f"STOR {path}", io.BytesIO(data)).startswith("226")


def _get(client: ftplib.FTP, path: str) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {path}", out.write)
    return out.getvalue()


def _reply_code(client: ftplib.FTP, command: str) -> str:
    """The final reply code of a command, data commands included."""
    try:
        if command.split()[0] in ("MLSD", "LIST", "NLST", "RETR"):
            client.retrbinary(command, lambda _: None)
            return "2xx"
        return client.sendcmd(command)[:3]
    except ftplib.Error as exc:
        return str(exc)[:3]


MISSING = [
    "/nope",
    "/incoming/nope",
    "/incoming/no/such/folder",
    "/incoming/Dədə Qorqud/ep 1.mxf",
    "/licensed/nope",
    "/licensed/nope/deeper",
]
COMMANDS = ["MLSD", "MLST", "LIST", "NLST", "CWD", "SIZE", "MDTM", "RETR", "DELE", "STAT", "RNFR"]


def test_every_command_answers_550_for_a_missing_path(client: ftplib.FTP) -> None:
    client.mkd("/incoming/folder")
    _put(client, "/incoming/folder/file.mxf", b"abc")
    answers = {
        (command, path): _reply_code(client, f"{command} {path}")
        for command in COMMANDS
        for path in MISSING
    }
    wrong = {key: code for key, code in answers.items() if code != "550"}
    assert not wrong, wrong
    # The session is intact and the codes that do exist still work.
    assert _reply_code(client, "MLSD /incoming/folder") == "2xx"
    # RFC 3659 7.2.1: MLSD of something that is not a folder is a 501, not a 550.
    assert _reply_code(client, "MLSD /incoming/folder/file.mxf") == "501"
    # A folder has no SIZE (RFC 3659 4.2) and no MDTM here.
    assert _reply_code(client, "SIZE /incoming/folder") == "550"
    assert _reply_code(client, "MDTM /incoming/folder") == "550"
    # RFC 959 has no 553 for MKD; 550 is what clients take for "exists already".
    assert _reply_code(client, "MKD /incoming/folder") == "550"


def test_facts_of_every_folder_kind(
    client: ftplib.FTP, ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    client.mkd("/incoming/series")
    _put(client, "/incoming/series/ep01.mxf", b"x" * 10)
    # An interrupted upload: listed with its committed size, continued, not yet read.
    account = ftp_accounts["aztv"]
    writer = open_upload(
        ftp_server.db,
        ftp_server.storage,
        ftp_server.settings,
        org_id=account.org_id,
        user_id=account.user_id,
        path="/incoming/series/ep02.mxf",
    )
    writer.write(b"y" * 7)
    writer.interrupt()
    pending = mlsd(client, "/incoming/series")["ep02.mxf"].facts
    assert pending["size"] == "7" and set(pending["perm"]) == set("adfw")
    root = mlsd(client, "/")
    assert set(root) == {"incoming", "licensed"}
    assert root["incoming"].facts["type"] == "dir"
    # /incoming takes files and folders but is not itself deleted or renamed.
    assert set(root["incoming"].facts["perm"]) == set("elcmp")
    assert root["licensed"].facts["perm"] == "el"
    incoming = mlsd(client, "/incoming")
    assert set(incoming["series"].facts["perm"]) == set("elcmfdp")
    episode = mlsd(client, "/incoming/series")["ep01.mxf"].facts
    assert episode["type"] == "file" and episode["size"] == "10"
    assert set(episode["perm"]) == set("adfrw")
    assert mlst(client, "/").facts["perm"] == "el"
    assert mlst(client, "/incoming").facts["unique"] == root["incoming"].facts["unique"]
    assert mlst(client, "/licensed").facts["perm"] == "el"
    assert mlst(client, "/incoming/series").facts == incoming["series"].facts
    # The unique token follows the object, not the name: a rename keeps it.
    before = incoming["series"].facts["unique"]
    client.rename("/incoming/series", "/incoming/Серіал")
    assert mlsd(client, "/incoming")["Серіал"].facts["unique"] == before
    # FEAT offers exactly the facts the listings give.
    feat = client.sendcmd("FEAT")
    assert " MLST type*;perm*;size*;modify*;unique*;" in feat and " UTF8" in feat


NAMES = ["Dədə Qorqud", "Кыз Жибек", "Bamsı Beyrək", "two  spaces"]


def test_utf8_names_are_listed_and_reachable(client: ftplib.FTP) -> None:
    assert client.sendcmd("OPTS UTF8 ON").startswith("200")
    for index, name in enumerate(NAMES):
        folder = f"/incoming/{name}"
        client.mkd(folder)
        _put(client, f"{folder}/{name} ep.mxf", bytes([index]) * 5)
    assert set(mlsd(client, "/incoming")) == set(NAMES)
    lines: list[str] = []
    client.retrlines("LIST /incoming", lines.append)
    assert {line.split(maxsplit=8)[8] for line in lines} == set(NAMES)
    assert set(client.nlst("/incoming")) == set(NAMES)
    for index, name in enumerate(NAMES):
        client.cwd(f"/incoming/{name}")
        assert client.pwd() == f"/incoming/{name}"
        file = f"{name} ep.mxf"
        assert set(mlsd(client, ".")) == {file}
        assert client.nlst() == [file]
        assert client.size(file) == 5
        assert _get(client, file) == bytes([index]) * 5
        assert mlst(client, f"/incoming/{name}/{file}").facts["size"] == "5"
        client.rename(file, f"ı {file}")
        assert _get(client, f"ı {file}") == bytes([index]) * 5
        client.delete(f"ı {file}")
        assert mlsd(client, ".") == {}
        client.cwd("/")
        client.rmd(f"/incoming/{name}")
    assert mlsd(client, "/incoming") == {}


# --- /licensed, with titles in Azerbaijani Latin and Kazakh Cyrillic


def licensed_world(database: Database, storage: S3Storage) -> FtpLogin:
    """A buyer licensed two titles, "Dədə Qorqud" (2 episodes) and a Kazakh Cyrillic one.

    Every master's bytes are `b"x" * size` in storage; returns the buyer's FTP login.
    """
    with database.session() as session:
        w = build_world(session)
        w.title.original_title = "Dədə Qorqud"
        tree.ensure_roots(session, org_id=w.buyer.id)
        open_window(session, w)
        grant(session, w, w.buyer_editor)
        cyrillic = make_title(session, w.owner, "Қыз Жібек; 1970")
        master = make_asset(session, w.owner, cyrillic, None, "Қыз Жібек.mxf", b"kyz")
        other = dataclasses.replace(w, title=cyrillic, episodes=[], assets=[master])
        open_window(session, other)
        grant(session, other, w.buyer_editor)
        for asset_id in (*(a.id for a in w.assets), master.id):
            asset = session.get(Asset, asset_id)
            assert asset is not None and asset.object_key is not None
            storage.put(asset.object_key, b"x" * asset.size)
        password = accounts.set_ftp_password(session, user=w.buyer_editor)
        return FtpLogin(w.buyer.id, w.buyer_editor.id, w.buyer_editor.username, password)


def test_licensed_listing_is_strict_rfc3659_and_stable(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    login = licensed_world(database, storage)
    with start_ftp_server(ftp_test_settings(storage_settings), database, storage) as server:
        client = connect_tls(server, login)
        try:
            first = _walk(client, "/licensed")
            second = _walk(client, "/licensed")
        finally:
            client.close()
    files_seen = [path for path, e in first.items() if e.facts["type"] == "file"]
    assert len(files_seen) == 3, first.keys()
    titles = {path.split("/")[3] for path in files_seen}
    assert any(t == "Dədə Qorqud" for t in titles), titles
    assert any(t.startswith("Қыз Жібек") for t in titles), titles
    # Stable: the same paths with the same unique tokens, and unique across the whole tree.
    assert {p: e.facts["unique"] for p, e in first.items()} == {
        p: e.facts["unique"] for p, e in second.items()
    }
    uniques = [e.facts["unique"] for e in first.values()]
    assert len(set(uniques)) == len(uniques)
    for path, entry in first.items():
        expected = "r" if entry.facts["type"] == "file" else "el"
        assert entry.facts["perm"] == expected, (path, entry.facts)


def _walk(client: ftplib.FTP, folder: str) -> dict[str, Entry]:
    """Every entry below a folder by path, each folder listed with MLSD and checked by MLST."""
    found: dict[str, Entry] = {}
    for name, entry in mlsd(client, folder).items():
        path = f"{folder}/{name}"
        found[path] = entry
        assert mlst(client, path).facts == entry.facts
        if entry.facts["type"] == "dir":
            client.cwd(path)
            found.update(_walk(client, path))
        else:
            assert client.size(path) == int(entry.facts["size"])
            assert _get(client, path) == b"x" * int(entry.facts["size"])
    return found


# --- the same names through curl and wget (LIST parsers of their own), over explicit TLS

needs_curl_and_wget = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("wget") is None,
    reason="curl or wget is not installed",
)


@needs_curl_and_wget
def test_curl_and_wget_reach_utf8_names(
    client: ftplib.FTP, ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    tree = {f"{name}/{name} ep.mxf": name.encode() * 3 for name in NAMES}
    for path, data in tree.items():
        folder = "/incoming/" + path.split("/")[0]
        client.mkd(folder)
        _put(client, f"/incoming/{path}", data)
    account = ftp_accounts["aztv"]
    user = f"{account.username}:{account.password}"
    base = f"{ftp_server.host}:{ftp_server.port}/incoming/"
    tls = ["--ssl-reqd", "--insecure", "--silent", "--show-error", "--max-time", "60"]
    for path, data in tree.items():
        url = f"ftp://{base}{quote(path)}"
        got = subprocess.run(["curl", *tls, "--user", user, url], capture_output=True, timeout=90)
        assert got.returncode == 0 and got.stdout == data, got.stderr
    # curl's exit code 78 is "the server said the file does not exist" (a 550 to RETR).
    missing = subprocess.run(
        ["curl", *tls, "--user", user, f"ftp://{base}{quote('Dədə Qorqud/nope.mxf')}"],
        capture_output=True,
        timeout=90,
    )
    assert missing.returncode == 78, missing.stderr
    # wget -r walks the tree through LIST, parsing the `ls -l` lines itself.
    target = tmp_path / "wget"
    credentials = f"{quote(account.username)}:{quote(account.password, safe='')}"
    result = subprocess.run(
        [
            "wget",
            "--recursive",
            "--no-host-directories",
            "--no-check-certificate",
            "--tries=1",
            "--timeout=60",
            "--quiet",
            f"--directory-prefix={target}",
            f"ftps://{credentials}@{base}",
        ],
        capture_output=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr.decode()
    got_tree = {
        p.relative_to(target / "incoming").as_posix(): p.read_bytes()
        for p in (target / "incoming").rglob("*")
        if p.is_file() and p.name != ".listing"
    }
    assert got_tree == tree
