"""The sync client installed the way a broadcaster installs it: a fresh venv, `pip install`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "sync"


@dataclass(frozen=True)
class ClientVenv:
    """A virtual environment holding only `jointpool-sync` and what it pulls."""

    root: Path
    source: Path  # a copy of clients/sync: builds write build/ and egg-info beside the sources

    @property
    def bin(self) -> Path:
        """Its scripts folder."""
        return self.root / "bin"

    @property
    def python(self) -> Path:
        """Its interpreter."""
        return self.bin / "python"

    @property
    def command(self) -> Path:
        """The console script the broadcaster runs."""
        return self.bin / "jointpool-sync"


@pytest.fixture(scope="session")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> ClientVenv:
    """Create a fresh venv and `pip install ./clients/sync` into it (from PyPI, as users do)."""
    root = tmp_path_factory.mktemp("client-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    source = tmp_path_factory.mktemp("client-src") / "sync"
    venv = ClientVenv(root, source)
    shutil.copytree(
        CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    installed = subprocess.run(
        [
            str(venv.python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv
