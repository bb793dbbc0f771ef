"""What the sync remembers between runs: the feed cursor and a manifest of synced files."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise SyncError(
                f"state file {path} is unreadable ({exc}); move it away to resync"
            ) from exc
        return cls(cursor=str(data.get("cursor") or ""), files=dict(data.get("files") or {}))

    def save(self, path: Path) -> None:
        """Write the state atomically."""
        write_atomic(path, json.dumps({"cursor": self.cursor, "files": self.files}, indent=1))


def write_atomic(path: Path, text: str) -> None:
    """Replace a small file so readers see the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the destination's lock for the run; refuse if another sync holds it."""
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lifetime of the lock.
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LockedError(f"another sync is running on this destination ({path})") from exc
        yield
    finally:
        handle.close()
