"""`jointpool status` on the stack `make run` starts (`jointpool up`) shows its three nodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pool_core.seaweed import free_port_block
from tests.fixtures.api import free_loopback_port
from tests.fixtures.ftp import wait_until
from tests.jointpool.test_up import _wait_for_banner


def _status(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jointpool", "status", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _live_kinds(env: dict[str, str]) -> list[str]:
    result = _status(env, "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return sorted(node["kind"] for node in report["nodes"] if node["live"])


@pytest.mark.slow
def test_status_shows_the_ftp_api_and_worker_nodes_of_jointpool_up(tmp_path: Path) -> None:
    s3_port, base_port = free_port_block()
    passive = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(tmp_path / "var"),
        JOINTPOOL_FTP_PORT=str(free_loopback_port()),
        JOINTPOOL_FTP_PASSIVE_PORTS=f"{passive}-{passive}",
        JOINTPOOL_API_PORT=str(free_loopback_port()),
        JOINTPOOL_S3_EMBEDDED_PORT=str(s3_port),
        JOINTPOOL_S3_EMBEDDED_BASE_PORT=str(base_port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "jointpool", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait_for_banner(process, timeout=180)
        wait_until(
            lambda: _live_kinds(env) == ["api", "ftp", "worker"],
            "the three nodes heartbeat",
            timeout=120,
            interval=0.5,
        )
        screen = _status(env)
        assert screen.returncode == 0, screen.stderr
        text = screen.stdout
        assert "Nodes: 3 live, 0 stale" in text, text
        for kind in ("ftp", "api", "worker"):
            assert any(line.split()[:1] == [kind] and "live" in line for line in text.splitlines())
        assert "Queue:" in text and "Storage per member" in text
        # The demo members `up` seeded are listed against their quota.
        assert "demo-az" in text, text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    # A clean stop takes the nodes' rows with it: nothing is left to look stale.
    assert _live_kinds(env) == []
    assert json.loads(_status(env, "--json").stdout)["nodes"] == []
