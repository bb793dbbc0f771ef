"""Roles over FTP: every write command for every role, from the one table in pool_core.roles;
uploaders change only what they uploaded (finding 7 of issue 15)."""

from __future__ import annotations

import ftplib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from pool_core.db import Database
from pool_core.files.tree import get_entry
from pool_core.models import Asset, Role
from pool_core.roles import FTP_COMMANDS, may
from pool_core.services.accounts import create_organization, create_user
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_server.handler import PoolFTPHandler
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    start_ftp_server,
)

# The organization's users: one per role, and a second uploader.
LOGINS = (*(role.value for role in Role), "uploader2")


@dataclass
class Team:
    """One organization with a user of every role, and its FTP server."""

    server: RunningFTP
    db: Database
    org_id: int
    logins: dict[str, FtpLogin]

    def client(self, who: str) -> ftplib.FTP:
        """A logged-in plain client of that user."""
        return connect_plain(self.server, self.logins[who])


@pytest.fixture
def team(database: Database, storage: S3Storage, storage_settings: Settings) -> Iterator[Team]:
    logins: dict[str, FtpLogin] = {}
    with database.write_session() as session:
        org = create_organization(session, code="rolz", name="Roles TV", country="KG")
        for who in LOGINS:
            role = "uploader" if who == "uploader2" else who
            new = create_user(session, org=org, username=f"rolz-{who}".replace("_", "-"), role=role)
            logins[who] = FtpLogin(org.id, new.user.id, new.user.username, new.ftp_password)
        org_id = org.id
    with start_ftp_server(ftp_test_settings(storage_settings), database, storage) as server:
        yield Team(server, database, org_id, logins)


def _put(client: ftplib.FTP, path: str, data: bytes, command: str = "STOR") -> str:
    return client.storbinary(f"{command} {path}", io.BytesIO(data))


def _reply(call, *args: object) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(call(*args))
    except ftplib.Error as exc:
        return str(exc)


def _run(client: ftplib.FTP, command: str, allowed: bool) -> str:
    """Send one write command at the prepared state; return the final reply."""
    if command in ("STOR", "APPE"):
        target = "/incoming/new.bin" if command == "STOR" else "/incoming/plain.bin"
        return _reply(_put, client, target, b"more bytes", command)
    if command in ("MKD", "XMKD"):
        return _reply(client.sendcmd, f"{command} /incoming/newdir")
    if command in ("RMD", "XRMD"):
        return _reply(client.sendcmd, f"{command} /incoming/empty")
    if command == "MFMT":
        return _reply(client.sendcmd, "MFMT 20200102030405 /incoming/plain.bin")
    if command == "RNTO" and allowed:
        assert client.sendcmd("RNFR /incoming/plain.bin").startswith("350")
    if command == "RNTO":
        return _reply(client.sendcmd, "RNTO /incoming/renamed.bin")
    return _reply(client.sendcmd, f"{command} /incoming/plain.bin")


@pytest.mark.parametrize("role", [role.value for role in Role])
@pytest.mark.parametrize("command", sorted(FTP_COMMANDS))
def test_ftp_write_command_follows_the_roles_table(team: Team, command: str, role: str) -> None:
    # The admin prepares a plain file (the pool records no uploader for it) and a folder.
    with team.client("admin") as admin:
        assert _put(admin, "/incoming/plain.bin", b"plain").startswith("226")
        admin.mkd("/incoming/empty")
    allowed = may(role, FTP_COMMANDS[command])
    with team.client(role) as client:
        reply = _run(client, command, allowed)
        # Reading stays open to every role.
        assert client.nlst("/incoming")
    if allowed:
        assert reply[:1] in ("2", "3"), (command, role, reply)
    else:
        assert reply.startswith("550"), (command, role, reply)
        assert f"the {role} role may not" in reply
        with team.db.session() as session:
            for path in ("/incoming/new.bin", "/incoming/newdir", "/incoming/renamed.bin"):
                assert get_entry(session, org_id=team.org_id, path=path) is None
            assert get_entry(session, org_id=team.org_id, path="/incoming/plain.bin") is not None
            assert get_entry(session, org_id=team.org_id, path="/incoming/empty") is not None


def test_editor_cannot_upload_over_ftp(team: Team) -> None:
    """Attack: an editor, read-only on FTP, stores a file into /incoming."""
    with team.client("editor") as editor:
        reply = _reply(_put, editor, "/incoming/smuggled.mxf", b"not from an uploader")
        assert reply.startswith("550") and "editor role may not upload" in reply
        assert _reply(editor.mkd, "/incoming/stash").startswith("550")
        # It can still read what the organization has.
        assert editor.nlst("/incoming") == []
    with team.db.session() as session:
        assert get_entry(session, org_id=team.org_id, path="/incoming/smuggled.mxf") is None
        assert session.scalar(select(func.count()).select_from(Asset)) == 0


def _masters(team: Team) -> list[tuple[str, int | None]]:
    with team.db.session() as session:
        rows = session.execute(
            select(Asset.source_path, Asset.uploaded_by).where(Asset.org_id == team.org_id)
        ).all()
        return sorted((row.source_path, row.uploaded_by) for row in rows)


def test_uploader_cannot_delete_rename_or_overwrite_another_uploaders_master(team: Team) -> None:
    """Attack: a second uploader deletes, moves or replaces the first one's delivery."""
    owner = team.logins["uploader"]
    with team.client("uploader") as first:
        first.mkd("/incoming/show")
        assert _put(first, "/incoming/show/ep01.mxf", b"M" * 4096).startswith("226")
        assert _put(first, "/incoming/ep02.mxf", b"N" * 4096).startswith("226")
    before = _masters(team)
    assert before == [
        ("/incoming/ep02.mxf", owner.user_id),
        ("/incoming/show/ep01.mxf", owner.user_id),
    ]
    with team.client("uploader2") as other:
        refusals = [
            _reply(other.delete, "/incoming/ep02.mxf"),
            _reply(other.sendcmd, "RNFR /incoming/ep02.mxf"),
            _reply(_put, other, "/incoming/ep02.mxf", b"evil"),
            _reply(_put, other, "/incoming/ep02.mxf", b"evil", "APPE"),
            _reply(other.sendcmd, "MFMT 20000101000000 /incoming/ep02.mxf"),
            # A folder holding another user's master cannot be moved away either.
            _reply(other.sendcmd, "RNFR /incoming/show"),
        ]
        # Relative paths resolve like any other command's.
        other.cwd("/incoming/show")
        refusals.append(_reply(other.delete, "ep01.mxf"))
        for reply in refusals:
            assert reply.startswith("550") and "another user" in reply, reply
        # The second uploader's own files are theirs to change.
        assert _put(other, "/incoming/mine.mxf", b"O" * 4096).startswith("226")
        assert other.sendcmd("RNFR /incoming/mine.mxf").startswith("350")
        assert other.sendcmd("RNTO /incoming/mine2.mxf").startswith("250")
        assert other.delete("/incoming/mine2.mxf").startswith("250")
    # Nothing of the first uploader's moved.
    assert _masters(team)[:1] == before[:1] and before[1] in _masters(team)
    with team.client("uploader") as first:
        assert first.size("/incoming/ep02.mxf") == 4096
        assert first.size("/incoming/show/ep01.mxf") == 4096
        # The uploader changes their own delivery; the admin may change anyone's.
        assert first.sendcmd("RNFR /incoming/ep02.mxf").startswith("350")
        assert first.sendcmd("RNTO /incoming/ep02-final.mxf").startswith("250")
    with team.client("admin") as admin:
        assert admin.delete("/incoming/ep02-final.mxf").startswith("250")
        assert admin.sendcmd("RNFR /incoming/show").startswith("350")
        assert admin.sendcmd("RNTO /incoming/show-archive").startswith("250")


def test_every_write_command_the_server_offers_has_a_row() -> None:
    # pyftpdlib's permission letters of commands that change something: a (APPE), d (DELE,
    # RMD), f (RNFR, RNTO), m (MKD), w (STOR, STOU), M (SITE CHMOD), T (MFMT).
    writes = {
        command
        for command, spec in PoolFTPHandler.proto_cmds.items()
        if spec["perm"] and set(spec["perm"]) & set("adfmwMT")
    }
    assert writes == set(FTP_COMMANDS), "a write command without a row in pool_core.roles"


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_commands_not_offered_are_refused_to_every_role(team: Team, role: str) -> None:
    with team.client(role) as client:
        for line in ("SITE CHMOD 777 /incoming", "STOU"):
            assert _reply(client.sendcmd, line)[:1] == "5", line
