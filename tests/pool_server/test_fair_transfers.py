"""Issue 15, finding 3: one member cannot stall another's uploads or take every passive port.

Attacks through real FTP (ftplib). Nothing here measures time: each test inspects the
server's state (live writers, the memory budget, the passive port ledger). The speed
claim (30 trickling uploads slow another member's upload by at most 20 %) is measured in
`bench/ftp.py --fairness`.
"""

from __future__ import annotations

import ftplib
import gc
import io
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.plan import shared_budget
from pool_core.uploads.writer import UploadWriter
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    live_upload_size,
    start_ftp_server,
    wait_until,
)

PART = 6 << 20  # the smallest part size the settings allow
TRICKLE = b"t" * 1000


def _settings(storage_settings: Settings, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "upload_part_size": PART,
        "upload_memory_budget": 4 * PART,
        "upload_memory_org_share": 0.5,
        "upload_memory_wait_seconds": 120.0,
    }
    values.update(overrides)
    return ftp_test_settings(storage_settings, **values)


def _trickling_upload(
    stack: ExitStack, server: RunningFTP, account: FtpLogin, path: str
) -> socket.socket:
    """Start an upload and send its first few bytes; it then pauses, holding its buffer."""
    client = connect_plain(server, account)
    stack.callback(client.close)
    client.voidcmd("TYPE I")
    conn = client.transfercmd(f"STOR {path}")
    stack.callback(conn.close)
    conn.sendall(TRICKLE)
    return conn


def _writers(paths: list[str]) -> list[UploadWriter]:
    """The server's writers for these paths, those still waiting in their constructor too."""
    return [
        obj
        for obj in gc.get_objects()
        # type(), not isinstance(): a dead weakref proxy in the heap raises on isinstance.
        if type(obj) is UploadWriter and getattr(obj, "path", None) in paths
    ]


def _streaming(paths: list[str]) -> list[str]:
    """Those of the paths whose upload took its bytes (it holds a part buffer)."""
    return [path for path in paths if live_upload_size(path) == len(TRICKLE)]


def _pasv_port(reply: str) -> int:
    found = re.search(r"\(([\d,]+)\)", reply)
    assert found is not None, reply
    numbers = [int(n) for n in found.group(1).split(",")]
    return numbers[4] * 256 + numbers[5]


@pytest.fixture
def budget_server(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> Iterator[RunningFTP]:
    with start_ftp_server(_settings(storage_settings), database, storage) as running:
        yield running


def test_trickling_uploads_of_one_member_leave_another_members_upload_its_share(
    budget_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    a, b = ftp_accounts["aztv"], ftp_accounts["trt"]
    settings = budget_server.settings
    with ExitStack() as stack:
        # Member A: more slow uploads than the whole budget has buffers for.
        paths = [f"/incoming/slow-{n}.bin" for n in range(6)]
        for path in paths:
            _trickling_upload(stack, budget_server, a, path)
        # Every one of A's uploads has reached the memory budget: streaming (holding a part
        # buffer) or waiting in its writer's constructor for room.
        wait_until(lambda: len(_writers(paths)) == len(paths), "A's uploads to reach the budget")
        wait_until(lambda: len(_streaming(paths)) >= 2, "A's uploads to stream")
        # Member B's upload starts and completes while A's uploads are still open.
        client = connect_plain(budget_server, b)
        try:
            reply = client.storbinary("STOR /incoming/b.bin", io.BytesIO(b"b" * (1 << 20)))
            assert reply.startswith("226")
            assert client.size("/incoming/b.bin") == 1 << 20
        finally:
            client.quit()
        # A's uploads were open and holding memory all along: A kept its share (two of the
        # four buffers), no more; the others are still waiting.
        streaming = _streaming(paths)
        assert len(streaming) == 2
        assert all(live_upload_size(path) == len(TRICKLE) for path in streaming)
        assert len(_writers(paths)) == len(paths)
        budget = shared_budget(settings.upload_memory_budget, settings.upload_memory_org_share)
        assert budget.held_by(a.org_id) == 2 * PART
        assert budget.held_by(b.org_id) == 0


def test_a_wait_for_upload_memory_ends_with_451_and_the_upload_resumable(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    account = ftp_accounts["aztv"]
    settings = _settings(
        storage_settings, upload_memory_budget=2 * PART, upload_memory_wait_seconds=0.5
    )
    with start_ftp_server(settings, database, storage) as server, ExitStack() as stack:
        holder = _trickling_upload(stack, server, account, "/incoming/holder.bin")
        wait_until(lambda: live_upload_size("/incoming/holder.bin") is not None, "the holder")
        # The member's next upload finds no room in its share: a 4xx reply, not a hang.
        client = connect_plain(server, account)
        stack.callback(client.close)
        client.voidcmd("TYPE I")
        conn = client.transfercmd("STOR /incoming/waits.bin")
        with pytest.raises(ftplib.error_temp, match=r"^451 .*upload memory.*try again later"):
            client.getresp()
        conn.close()
        # Once the first upload is done, the same upload goes through.
        holder.close()
        wait_until(lambda: live_upload_size("/incoming/holder.bin") is None, "the holder's end")
        client.storbinary("STOR /incoming/waits.bin", io.BytesIO(b"w" * 4096))
        assert client.size("/incoming/waits.bin") == 4096


def test_one_members_unconnected_pasvs_cannot_take_the_passive_ports_of_another(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    settings = ftp_test_settings(storage_settings)
    low = settings.passive_port_range.start
    settings = ftp_test_settings(storage_settings, ftp_passive_ports=f"{low}-{low + 7}")
    ports = settings.passive_port_range
    a, b = ftp_accounts["aztv"], ftp_accounts["trt"]
    with start_ftp_server(settings, database, storage) as server, ExitStack() as stack:
        # Member A: one session sending PASV after PASV, never connecting...
        first = connect_plain(server, a)
        stack.callback(first.close)
        for _ in range(10):
            first.sendcmd("PASV")
        # ... and as many more sessions as the range has ports, each with a PASV.
        refused = 0
        for _ in range(len(ports)):
            session = connect_plain(server, a)
            stack.callback(session.close)
            try:
                assert _pasv_port(session.sendcmd("PASV")) in ports
            except ftplib.error_temp as exc:
                assert str(exc).startswith("425")
                refused += 1
        assert refused > 0
        ledger = server.server.handler.passive_ledger
        assert ledger.held_by(a.org_id) == settings.passive_ports_per_org < len(ports)
        # Member B still gets a port of the range, and a transfer over it.
        client = connect_plain(server, b)
        try:
            assert _pasv_port(client.sendcmd("PASV")) in ports
            client.storbinary("STOR /incoming/b.bin", io.BytesIO(b"b" * 1000))
            assert client.size("/incoming/b.bin") == 1000
        finally:
            client.quit()


def test_an_unconnected_passive_port_is_released_after_its_timeout(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    settings = ftp_test_settings(storage_settings, ftp_passive_connect_timeout=0.3)
    account = ftp_accounts["aztv"]
    with start_ftp_server(settings, database, storage) as server:
        client = connect_plain(server, account)
        try:
            client.sendcmd("PASV")
            ledger = server.server.handler.passive_ledger
            assert client.getline().startswith("421 Passive data channel timed out")
            wait_until(lambda: ledger.held_by(account.org_id) == 0, "the port to be released")
            client.storbinary("STOR /incoming/after.bin", io.BytesIO(b"a" * 10))
        finally:
            client.close()
