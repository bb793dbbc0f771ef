"""The server distribution requires the sync client from this checkout, never from PyPI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _checkout(into: Path, *, client: bool) -> Path:
    """A copy of what the build reads, somewhere else than this worktree (a fresh clone)."""
    into.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, into / name)
    if client:
        shutil.copytree(
            ROOT / "clients" / "sync",
            into / "clients" / "sync",
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
    return into


def _pip_install_dry_run(source: Path, report: Path) -> subprocess.CompletedProcess[str]:
    """`pip install .` as a user runs it (isolated build), stopping before it installs."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_client_is_required_by_its_path_in_the_checkout(tmp_path: Path) -> None:
    source = _checkout(tmp_path / "clone", client=True)
    built = _pip_install_dry_run(source, tmp_path / "report.json")
    assert built.returncode == 0, built.stderr[-2000:]
    [server] = json.loads((tmp_path / "report.json").read_text())["install"]
    requires = server["metadata"]["requires_dist"]
    client = [r for r in requires if r.lower().startswith("jointpool-sync")]
    # A direct reference to this checkout's copy: pip never asks PyPI for the name.
    uri = (source / "clients" / "sync").as_uri()
    assert [c.replace(" ", "") for c in client] == [f"jointpool-sync@{uri}"], client
    assert any(r.startswith("fastapi") for r in requires)  # the rest of the list is there too


def test_a_copy_without_the_client_refuses_to_build_saying_why(tmp_path: Path) -> None:
    source = _checkout(tmp_path / "sdist-like", client=False)
    built = _pip_install_dry_run(source, tmp_path / "report.json")
    assert built.returncode != 0
    assert "the sync client is missing from" in built.stderr
    assert "full checkout" in built.stderr
