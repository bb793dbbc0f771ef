"""The key=value log format: values and messages quoted and escaped, read back exactly."""

from __future__ import annotations

import logging
import sys

import pytest

from pool_core.logs import KeyValueFormatter, parse_line

NASTY = [
    "",
    "plain",
    "with space",
    "a=b",
    'say "hi"',
    "back\\slash",
    "line\nbreak",
    "cr\rlf",
    "tab\there",
    "nel\x85sep\u2028par\u2029",
    "nul\x00bell\x07",
    "Қазақстан Azərbaycan",
    "x user=admin ok=1\nforged=1",
    '\\" forged="1',
    "\\u2028 literal",
]


def _format(msg: str, *args: object, exc: bool = False, **extra: object) -> str:
    record = logging.makeLogRecord(
        {"name": "pool_server.auth", "levelname": "INFO", "msg": msg, "args": args, **extra}
    )
    if exc:
        try:
            raise ValueError("bad\n2026-12-01T00:00:00Z INFO ftp forged: line")
        except ValueError:
            record.exc_info = sys.exc_info()
    return KeyValueFormatter("ftp").format(record)


@pytest.mark.parametrize("value", NASTY)
def test_any_value_is_one_field_read_back_exactly(value: str) -> None:
    line = _format("ftp login failed", user=value, ip="127.0.0.1")
    assert "\n" not in line and "\r" not in line and len(line.splitlines()) == 1
    message, fields = parse_line(line)
    assert message == "ftp login failed"
    assert fields == {"user": value, "ip": "127.0.0.1"}


@pytest.mark.parametrize("value", NASTY)
def test_a_message_cannot_forge_fields_or_lines(value: str) -> None:
    line = _format("could not write %s", value, asset_id="a1")
    assert len(line.splitlines()) == 1
    message, fields = parse_line(line)
    assert message == f"could not write {value}"
    assert fields == {"asset_id": "a1"}


def test_traceback_lines_are_indented() -> None:
    lines = _format("command failed", exc=True, cmd="STOR").splitlines()
    assert parse_line(lines[0]) == ("command failed", {"cmd": "STOR"})
    assert len(lines) > 1 and all(line.startswith("    ") for line in lines[1:])


def test_safe_values_stay_bare() -> None:
    line = _format("ftp login", user="aztv-ops", ip="127.0.0.1", port=2121)
    assert line.endswith("ftp login user=aztv-ops ip=127.0.0.1 port=2121")
