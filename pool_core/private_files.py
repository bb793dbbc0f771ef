"""Files and folders only the pool's own OS user may read: the data dir, SQLite, secrets.

Modes are given when a path is created (`mkdir(mode=…)`, `os.open(…, mode)`), never fixed
with a chmod afterwards, so there is no moment in which another local user can open a file
and keep the descriptor. Paths that already exist (a data dir made by an older version) are
tightened once. Creating a secret refuses to follow a planted file or symlink (`O_EXCL`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# SQLite's companions of a database file (it creates them with the database file's mode).
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create a folder (and missing parents) mode 0700; tighten it if it already exists."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure a file exists with mode 0600 (created empty so, or tightened)."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace a secret file atomically; the bytes are only ever in a 0600 file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_sqlite(database: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would use the umask)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for suffix in SQLITE_SUFFIXES[1:]:
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            _tighten(companion, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    # Only the owner can chmod; a path owned by someone else is left for the operator.
    with contextlib.suppress(PermissionError):
        if path.stat().st_mode & 0o777 & ~mode:
            path.chmod(mode)
