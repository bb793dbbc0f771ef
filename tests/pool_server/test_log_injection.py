"""A crafted FTP user name cannot forge fields or lines in the structured log (finding 10)."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import pytest

from pool_core.logs import KeyValueFormatter, parse_line
from tests.fixtures.ftp import RunningFTP

CRAFTED = 'x user=admin ok=1\nforged=1 "quoted" back\\slash\u2028sep'


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything pool_server logs during the test, as the console formats it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(KeyValueFormatter("ftp"))
    logger = logging.getLogger("pool_server")
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def test_crafted_ftp_username_stays_one_field(
    ftp_server: RunningFTP, log_lines: io.StringIO
) -> None:
    # ftplib refuses to send a bare LF; an attacker's own client does not.
    with socket.create_connection((ftp_server.host, ftp_server.port), timeout=30) as sock:
        replies = sock.makefile("rb")
        assert replies.readline().startswith(b"220")
        sock.sendall(f"USER {CRAFTED}\r\n".encode())
        assert replies.readline().startswith(b"331")
        sock.sendall(b"PASS wrong-password\r\n")
        assert replies.readline().startswith(b"530")
    lines = log_lines.getvalue().splitlines()
    # One record, one line: the newline and U+2028 in the name did not start another.
    records = [line for line in lines if "ftp login failed" in line]
    assert len(records) == 1, lines
    assert all(line.startswith("20") for line in lines), lines
    message, fields = parse_line(records[0])
    assert message == "ftp login failed"
    assert fields["user"] == CRAFTED.strip().lower()
    assert "forged" not in fields and "ok" not in fields
    assert set(fields) == {"user", "ip", "reason"}, fields
