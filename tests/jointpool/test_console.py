"""The console of `jointpool`: INFO shows what a person acts on, not polling or plumbing."""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pool_core.seaweed import free_port_block, port_is_free

PLUGIN_LINE = "alembic.runtime.plugins"
# Parts of a line that differ between two otherwise identical events.
_VARIABLE = re.compile(
    r"^\S+Z "  # the timestamp
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # job ids
    r"|\d+(\.\d+)?"  # counts, ports, pids, times
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env["JOINTPOOL_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def _log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\S+Z [A-Z]+ ", line)]


def _repeated(lines: list[str], times: int) -> dict[str, int]:
    """Lines (with ids, numbers and stamps blanked) seen at least `times` times."""
    counts = collections.Counter(_VARIABLE.sub("#", line) for line in lines)
    return {line: n for line, n in counts.items() if n >= times}


def _db_upgrade(data_dir: Path, level: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "jointpool", "db", "upgrade"],
        env=_clean_env(data_dir, JOINTPOOL_LOG_LEVEL=level),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_migration_plumbing_is_debug_and_the_level_is_a_setting(tmp_path: Path) -> None:
    quiet = _db_upgrade(tmp_path / "info", "INFO")
    assert PLUGIN_LINE not in quiet
    assert "Context impl" not in quiet
    # The upgrade steps are what changed; they stay visible.
    assert re.search(r"INFO db alembic\.runtime\.migration: Running upgrade\s+-> 0001", quiet)

    verbose = _db_upgrade(tmp_path / "debug", "debug")
    assert re.search(rf"DEBUG db {re.escape(PLUGIN_LINE)}: setup plugin", verbose)
    assert "DEBUG db alembic.runtime.migration: Context impl SQLiteImpl." in verbose

    assert _db_upgrade(tmp_path / "info", "WARNING") == ""


def test_unknown_log_level_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jointpool", "db", "upgrade"],
        env=_clean_env(tmp_path, JOINTPOOL_LOG_LEVEL="chatty"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "log level must be one of" in result.stderr


def _succeeded_dispatches(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE kind = 'webhook_dispatch' AND status = 'succeeded'"
            ).fetchone()
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0
    return int(row[0])


@pytest.mark.slow
def test_an_idle_stack_repeats_no_line(tmp_path: Path) -> None:
    s3_port, base_port = free_port_block()
    ftp_port, api_port, passive = _free_port(), _free_port(), _free_port()
    data_dir = tmp_path / "var"
    env = _clean_env(
        data_dir,
        JOINTPOOL_FTP_PORT=str(ftp_port),
        JOINTPOOL_FTP_PASSIVE_PORTS=f"{passive}-{passive}",
        JOINTPOOL_API_PORT=str(api_port),
        JOINTPOOL_S3_EMBEDDED_PORT=str(s3_port),
        JOINTPOOL_S3_EMBEDDED_BASE_PORT=str(base_port),
        # The dispatcher polls every 0.5 s instead of 5 s: many rounds in a short test.
        JOINTPOOL_WEBHOOK_POLL_SECONDS="0.5",
        # Off: the default metrics ports may be taken on a shared machine.
        JOINTPOOL_FTP_METRICS_PORT="0",
        JOINTPOOL_WORKER_METRICS_PORT="0",
    )
    output = tmp_path / "console.txt"
    with open(output, "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "jointpool", "up"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    rounds = 8
    try:
        deadline = time.monotonic() + 180
        while _succeeded_dispatches(data_dir / "pool.db") < rounds:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "the dispatcher did not run:\n" + (
                output.read_text()
            )
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    text = output.read_text()
    assert process.returncode == 0, text
    assert "Joint FTP Pool is running" in text
    lines = _log_lines(text)
    assert lines, text
    assert not [line for line in lines if PLUGIN_LINE in line], text
    assert not [line for line in lines if "webhook_dispatch" in line], text
    # Each dispatch round would add its lines; the stack's own start and stop lines appear
    # once (uvicorn's "Waiting for application ..." twice: startup and shutdown).
    assert _repeated(lines, 3) == {}, text
    deadline = time.monotonic() + 20
    while not all(port_is_free(p) for p in (ftp_port, api_port, s3_port)):
        assert time.monotonic() < deadline, "a service still holds its port after stop"
        time.sleep(0.2)
