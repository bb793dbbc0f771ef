"""`JOINTPOOL_LOG_FORMAT=json` and the correlation ids every line carries."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading

import pytest

from pool_core import tracing
from pool_core.logs import JsonFormatter, KeyValueFormatter, configure_logging, parse_line
from tests.pool_core.test_logs import NASTY


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "pool_server.auth", "levelname": "INFO", "msg": msg, "args": args, **extra}
    )


@pytest.mark.parametrize("value", NASTY)
def test_one_json_object_per_line_whatever_the_values(value: str) -> None:
    line = JsonFormatter("ftp").format(_record("login %s", value, user=value, n=3))
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert entry["message"] == f"login {value}" and entry["user"] == value and entry["n"] == 3
    assert (entry["level"], entry["logger"], entry["component"]) == (
        "INFO",
        "pool_server.auth",
        "ftp",
    )
    assert entry["time"].endswith("Z")


def test_a_traceback_is_one_field_of_the_same_line() -> None:
    record = _record("failed")
    try:
        raise ValueError("bad\nsecond line")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter("worker").format(record)
    assert len(line.splitlines()) == 1
    entry = json.loads(line)
    assert "ValueError: bad\nsecond line" in entry["traceback"]


def test_non_ascii_text_stays_readable() -> None:
    line = JsonFormatter("ftp").format(_record("x", path="/incoming/Қазақстан.mxf"))
    assert "Қазақстан" in line


def test_values_json_cannot_hold_are_written_as_text() -> None:
    entry = json.loads(JsonFormatter("api").format(_record("x", path=object(), size=None)))
    assert entry["path"].startswith("<object object") and entry["size"] is None


def test_bound_ids_are_fields_of_every_line_in_both_formats() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(tracing.TraceFilter())
    record = _record("upload complete")
    with tracing.bound(session_id="s1", upload_id="u1"):
        handler.filter(record)
    entry = json.loads(JsonFormatter("ftp").format(record))
    assert (entry["session_id"], entry["upload_id"]) == ("s1", "u1")
    assert parse_line(KeyValueFormatter("ftp").format(record))[1] == {
        "session_id": "s1",
        "upload_id": "u1",
    }
    # A field the caller passed itself is not overwritten.
    own = _record("x", upload_id="explicit")
    with tracing.bound(upload_id="bound"):
        handler.filter(own)
    assert own.upload_id == "explicit"


def test_ids_belong_to_their_thread_and_unbind() -> None:
    seen: dict[str, dict[str, str]] = {}

    def other() -> None:
        seen["other"] = tracing.current()

    with tracing.bound(request_id="r1"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        seen["here"] = tracing.current()
        token = tracing.bind(upload_id="u", request_id=None)
        seen["rebound"] = tracing.current()
        tracing.reset(token)
    assert seen == {"other": {}, "here": {"request_id": "r1"}, "rebound": {"upload_id": "u"}}
    assert tracing.current() == {}
    with pytest.raises(ValueError, match="unknown trace field"):
        tracing.bind(user="x")


def test_a_jobs_payload_gives_back_only_the_known_ids() -> None:
    payload = {"asset_id": "a", "trace": {"upload_id": "u", "evil": "x", "request_id": ""}}
    assert tracing.from_payload(payload) == {"upload_id": "u"}
    assert tracing.from_payload({"trace": "nonsense"}) == {}
    assert tracing.from_payload({}) == {}


def test_the_setting_chooses_the_format_of_a_command() -> None:
    probe = (
        "import logging; from pool_core.logs import configure_logging; "
        "from pool_core.settings import Settings; s = Settings(); "
        "configure_logging(level='INFO', component='cli', log_format=s.log_format); "
        "logging.getLogger('x').info('hello', extra={'k': 'v'})"
    )
    env = {"JOINTPOOL_LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stderr
    entry = json.loads(out)
    assert (entry["message"], entry["k"], entry["component"]) == ("hello", "v", "cli")
    bad = subprocess.run(
        [sys.executable, "-m", "jointpool", "status"],
        env={**env, "JOINTPOOL_LOG_FORMAT": "yaml"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2, bad.stderr
    assert "invalid settings" in bad.stderr and "'json'" in bad.stderr


def test_configure_logging_defaults_to_key_value_text() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(level="INFO", component="api")
        assert isinstance(root.handlers[0].formatter, KeyValueFormatter)
        configure_logging(level="INFO", component="api", log_format="json")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
