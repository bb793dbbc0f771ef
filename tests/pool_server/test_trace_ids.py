"""FTP log lines carry the session's id, and an upload's lines its pending id, across a resume."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Job
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, live_upload_size, wait_until
from tests.fixtures.logs import JsonLines, json_log_lines


@pytest.fixture
def captured() -> Iterator[JsonLines]:
    with json_log_lines("ftp") as lines:
        yield lines


def test_a_resumed_upload_keeps_its_id_in_a_new_session(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    captured: JsonLines,
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
