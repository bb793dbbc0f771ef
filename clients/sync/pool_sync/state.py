"""What the sync remembers between runs: the feed cursor and a manifest of synced files.

The state file is UTF-8 JSON whatever the machine's locale (a Windows server in a Russian
locale would otherwise read it as cp1251), keyed by the server's `/`-separated paths, so the
same file means the same thing on Linux and Windows; where a path lands is decided by
`pool_sync.paths` at each run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pool_sync.errors import LockedError, SyncError


@dataclass
class SyncState:
    """Cursor plus `{relative path: {asset_id, license_id, sha256, size}}`."""

    cursor: str = ""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SyncState:
        """Read the state file (a missing one is a first run)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise SyncError(
                f"state file {path} is unreadable ({exc}); move it away to resync"
            ) from exc
        return cls(cursor=str(data.get("cursor") or ""), files=dict(data.get("files") or {}))

    def save(self, path: Path) -> None:
        """Write the state atomically."""
        data = {"cursor": self.cursor, "files": self.files}
        write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False))


def write_atomic(path: Path, text: str) -> None:
    """Replace a small file so readers see the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    replace(tmp, path)


def replace(source: Path, target: Path, *, patience: float = 2.0) -> None:
    """`os.replace`, retried briefly where Windows refuses while another process reads target."""
    deadline = time.monotonic() + patience
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            # On Windows a virus scanner or an indexer holding the target open makes the
            # rename fail for a moment; on POSIX a PermissionError is final.
            if sys.platform != "win32" or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> None:
        # msvcrt locks a byte range from the current position; byte 0 is the lock's token.
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from exc

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the destination's run lock; refuse if another sync holds it (two runs never overlap).

    The lock belongs to the open file, so the system releases it when the process dies: a
    killed run never leaves a stale lock behind.
    """
    handle = open(path, "a+b")  # noqa: SIM115 - held open for the lifetime of the lock.
    try:
        try:
            _try_lock(handle)
        except BlockingIOError as exc:
            raise LockedError(f"another sync is running on this destination ({path})") from exc
        yield
    finally:
        handle.close()
