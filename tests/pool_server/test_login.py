"""Logins against the database: replies, bans, disabled accounts, audit, connection limits."""

from __future__ import annotations

import ftplib
import socket
import threading
from typing import Any

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.login_guard import pair_key
from pool_core.models import AuditEvent, FtpAccount, User
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_server import auth
from tests.fixtures.ftp import (
    HOST,
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    start_ftp_server,
)

# A second loopback address: on Linux all of 127.0.0.0/8 is local, so an "attacker" can have
# its own IP while the legitimate users keep 127.0.0.1.
ATTACKER_IP = "127.0.0.2"


def _login_reply(server: RunningFTP, username: str, password: str, source: str = HOST) -> str:
    client = ftplib.FTP(timeout=30, source_address=(source, 0))
    try:
        client.connect(server.host, server.port)
        try:
            return client.login(username, password)
        except ftplib.error_perm as exc:
            return str(exc)
    finally:
        client.close()


def test_login_lands_in_the_org_root_with_its_folders(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    client = connect_plain(ftp_server, ftp_accounts["aztv"])
    try:
        assert client.pwd() == "/"
        assert sorted(client.nlst()) == ["incoming", "licensed"]
    finally:
        client.quit()


def test_unknown_user_and_wrong_password_get_the_same_reply(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    account = ftp_accounts["aztv"]
    wrong = _login_reply(ftp_server, account.username, "not-the-password-at-all")
    unknown = _login_reply(ftp_server, "nobody-here", "not-the-password-at-all")
    assert wrong == unknown
    assert wrong.startswith("530 ")


def test_logins_are_audited(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database
) -> None:
    account = ftp_accounts["aztv"]
    _login_reply(ftp_server, account.username, "not-the-password-at-all")
    assert _login_reply(ftp_server, account.username, account.password).startswith("230")
    ftp_server.server.audit.flush()  # rows are written in batches; do not wait for the next
    with database.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.channel == "ftp").order_by(AuditEvent.id)
        ).all()
        actions = [(e.action, e.subject, e.remote_addr, e.user_id) for e in events]
    assert ("login_failed", account.username, HOST, None) in actions
    assert ("login", account.username, HOST, account.user_id) in actions


def test_logins_and_refusals_reach_the_console(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], caplog: pytest.LogCaptureFixture
) -> None:
    account = ftp_accounts["aztv"]
    caplog.set_level("INFO", logger=auth.log.name)
    _login_reply(ftp_server, account.username, "not-the-password-at-all")
    assert _login_reply(ftp_server, account.username, account.password).startswith("230")
    lines = [
        (r.levelname, r.getMessage(), getattr(r, "user", None))
        for r in caplog.records
        if r.name == auth.log.name
    ]
    assert ("WARNING", "ftp login failed", account.username) in lines
    assert ("INFO", "ftp login", account.username) in lines


def test_audit_flush_returns_only_once_a_batch_being_written_is_in(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer thread may have taken the queued rows and not yet committed them when a
    # caller flushes: that flush must wait for the batch, not return on an empty queue.
    inside, release = threading.Event(), threading.Event()
    record_logins = auth.record_ftp_logins

    def slow_record_logins(session: Any, **kw: Any) -> None:
        inside.set()
        assert release.wait(30)
        record_logins(session, **kw)

    monkeypatch.setattr(auth, "record_ftp_logins", slow_record_logins)
    writer = auth.AuditWriter(database, interval=3600)
    writer.add(auth._AuditRecord("login_failed", "someone", HOST, None, None))
    first = threading.Thread(target=writer.flush)
    first.start()
    try:
        assert inside.wait(30)
        seen: list[int] = []

        def flush_then_count() -> None:
            writer.flush()
            with database.session() as session:
                seen.append(len(session.scalars(select(AuditEvent)).all()))

        second = threading.Thread(target=flush_then_count)
        second.start()
        second.join(0.5)  # without the lock it returns at once, having seen no row
        release.set()
        second.join(30)
        assert seen == [1]
    finally:
        release.set()
        first.join(30)
        writer.stop()


def test_guessing_bans_the_address_but_never_locks_the_owner_out(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    # Attack: anyone who knows a robot's username guesses wrong passwords from their own
    # address. Before the fix, five failures banned the account itself for up to an hour,
    # and the robot, with the right password from its own address, was refused.
    victim, other = ftp_accounts["aztv"], ftp_accounts["trt"]
    threshold = ftp_server.settings.ftp_ban_threshold
    for attempt in range(threshold):
        reply = _login_reply(ftp_server, victim.username, f"guess-{attempt:08d}", ATTACKER_IP)
        assert reply.startswith("530 ")
    # The attacker's address is now refused at connect time.
    banned = ftplib.FTP(timeout=30, source_address=(ATTACKER_IP, 0))
    with pytest.raises(ftplib.error_temp, match=r"^421"):
        banned.connect(ftp_server.host, ftp_server.port)
    banned.close()
    # The robot logs in from its own address with the right password, and works.
    robot = connect_plain(ftp_server, victim, source_address=(HOST, 0))
    try:
        assert robot.pwd() == "/"
        assert sorted(robot.nlst()) == ["incoming", "licensed"]
    finally:
        robot.quit()
    # Every other user still logs in from the same network.
    assert _login_reply(ftp_server, other.username, other.password).startswith("230")


def test_a_pair_ban_holds_even_when_the_address_has_other_users(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    # An office behind one NAT address: one member's broken script guesses at the victim's
    # account; the pair (address, victim) is banned before the address is, and the
    # attacker's right guess afterwards from that address is refused.
    settings = ftp_test_settings(storage_settings, ftp_ban_threshold=3)
    victim = ftp_accounts["aztv"]
    with start_ftp_server(settings, database, storage) as server:
        guard = server.server.handler.pool.guard
        for attempt in range(3):
            reply = _login_reply(server, victim.username, f"guess-{attempt:08d}", ATTACKER_IP)
            assert reply.startswith("530 ")
        assert guard.banned_for(pair_key(ATTACKER_IP, victim.username))
        assert not guard.banned_for(pair_key(HOST, victim.username))
        assert _login_reply(server, victim.username, victim.password).startswith("230")


def test_guessing_from_many_addresses_slows_the_account_without_locking_it(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One wrong guess from each of several addresses bans none of them, but the account
    # is now slowed for everyone: the owner still logs in, after the wait.
    settings = ftp_test_settings(storage_settings, ftp_account_slowdown_seconds=0.2)
    victim = ftp_accounts["aztv"]
    caplog.set_level("INFO", logger=auth.log.name)
    with start_ftp_server(settings, database, storage) as server:
        for n in range(settings.ftp_ban_threshold):
            source = f"127.0.0.{10 + n}"
            reply = _login_reply(server, victim.username, f"guess-{n:08d}", source)
            assert reply.startswith("530 ") and "later" not in reply
        assert _login_reply(server, victim.username, victim.password).startswith("230")
    slowed = [
        r
        for r in caplog.records
        if r.getMessage() == "ftp login slowed" and r.user == victim.username
    ]
    assert slowed


def test_disabled_accounts_are_refused(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database
) -> None:
    account = ftp_accounts["trt"]
    with database.session() as session:
        ftp_account = session.scalar(
            select(FtpAccount).join(User).where(User.username == account.username)
        )
        assert ftp_account is not None
        ftp_account.disabled = True
    reply = _login_reply(ftp_server, account.username, account.password)
    assert reply.startswith("530 ") and "disabled" in reply.lower()


def test_max_connections_per_ip(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    settings = ftp_test_settings(storage_settings, ftp_max_connections_per_ip=2)
    with start_ftp_server(settings, database, storage) as server:
        first = connect_plain(server, ftp_accounts["aztv"])
        second = connect_plain(server, ftp_accounts["trt"])
        third = ftplib.FTP(timeout=30)
        try:
            with pytest.raises(ftplib.error_temp, match=r"^421"):
                third.connect(server.host, server.port)
            # Another address is not affected by this one's limit.
            other = ftplib.FTP(timeout=30, source_address=(ATTACKER_IP, 0))
            assert other.connect(server.host, server.port).startswith("220")
            other.close()
        finally:
            third.close()
            first.quit()
            second.quit()


def test_server_stops_cleanly_from_another_thread(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    with start_ftp_server(ftp_test_settings(storage_settings), database, storage) as server:
        port = server.port
        idle = socket.create_connection((HOST, port), timeout=10)
        assert idle.recv(100).startswith(b"220")
        server.stop()
        assert server.thread is not None and not server.thread.is_alive()
        # The idle session was disconnected and the port is closed.
        idle.settimeout(10)
        assert idle.recv(100) == b""
        idle.close()
        with pytest.raises(OSError):
            socket.create_connection((HOST, port), timeout=5).close()
