"""FTP log lines carry the session's id, and an upload's lines its pending id, across a resume."""

from __future__ import annotations

import json
import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.logs import JsonFormatter
from pool_core.models import Job
from pool_core.tracing import TraceFilter
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, live_upload_size, wait_until


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter("ftp"))
        self.addFilter(TraceFilter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured() -> Iterator[_Captured]:
    handler = _Captured()
    root = logging.getLogger()
    # pyftpdlib's own lines (the session's end) at INFO, whatever an earlier test in this
    # process left (`configure_logging` quiets pyftpdlib to WARNING).
    ftp_lines = logging.getLogger("pyftpdlib")
    levels = root.level, ftp_lines.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ftp_lines.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(levels[0])
    ftp_lines.setLevel(levels[1])


def test_a_resumed_upload_keeps_its_id_in_a_new_session(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    captured: _Captured,
) -> None:
    account = ftp_accounts["aztv"]
    path = "/incoming/resumed.mxf"
    first_half, second_half = b"a" * 300_000, b"b" * 200_000

    client = connect_plain(ftp_server, account)
    client.voidcmd("TYPE I")
    conn = client.transfercmd(f"STOR {path}")
    conn.sendall(first_half)
    wait_until(lambda: live_upload_size(path) == len(first_half), "the server took the bytes")
    # SO_LINGER 0: close() sends RST, as a dropped connection does; the upload stays pending.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    client.close()
    wait_until(
        lambda: any(line["message"] == "upload interrupted" for line in captured.lines),
        "the server to record the interrupted upload",
    )

    again = connect_plain(ftp_server, account)
    again.voidcmd("TYPE I")
    offset = int(again.sendcmd(f"SIZE {path}").split()[1])
    assert offset == len(first_half)
    again.sendcmd(f"REST {offset}")
    conn = again.transfercmd(f"STOR {path}")
    conn.sendall(second_half)
    conn.close()
    again.voidresp()
    again.quit()

    started = [line for line in captured.lines if line["message"] == "upload started"]
    assert [line["offset"] for line in started] == [0, len(first_half)]
    # Two sessions, one upload.
    assert started[0]["session_id"] != started[1]["session_id"]
    assert started[0]["upload_id"] == started[1]["upload_id"]
    upload_id = started[0]["upload_id"]
    ends = {line["message"]: line for line in captured.lines if line.get("upload_id") == upload_id}
    assert ends["upload interrupted"]["session_id"] == started[0]["session_id"]
    assert ends["upload complete"]["session_id"] == started[1]["session_id"]
    with database.session() as session:
        jobs = list(session.scalars(select(Job)))
    assert jobs and all(job.payload["trace"]["upload_id"] == upload_id for job in jobs)
    # Once its upload ended, a session's lines no longer name it (pyftpdlib's own lines too).
    sessions = {started[0]["session_id"], started[1]["session_id"]}

    def closed() -> list[dict[str, Any]]:
        return [line for line in captured.lines if "FTP session closed" in line["message"]]

    # The server logs a session's end after the client's QUIT has been answered.
    wait_until(lambda: len(closed()) >= 2, "both sessions' closing lines")
    assert {line.get("session_id") for line in closed()} == sessions
    assert all("upload_id" not in line for line in closed())
