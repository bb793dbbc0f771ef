"""Run promtool (Debian package `prometheus`; .ci/run installs it) and fail with its output."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures.ftp import requires_tool

requires_promtool = requires_tool("promtool")


def promtool(*args: str | Path, expect_success: bool = True) -> str:
    """Run `promtool args...`; return its output, asserting it succeeded (or failed)."""
    result = subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_success, output
    return output
