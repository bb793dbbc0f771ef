"""What the parts of an FTP session see of each other.

`PoolContext` is what every session of one server shares; `FtpSession` is what the filesystem
needs of its session (the handler satisfies it). Typing `fs.py` against the Protocol keeps
the filesystem from importing the handler that imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pool_core.db import Database
from pool_core.login_guard import LoginGuard
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_server.auth import Principal


@dataclass(frozen=True)
class PoolContext:
    """What every session of one server shares."""

    settings: Settings
    db: Database
    storage: ObjectStorage
    guard: LoginGuard
    # Organizations whose /incoming and /licensed this process has made sure of: a login
    # storm then costs one write (the audit row) per login, not two.
    orgs_with_roots: set[int] = field(default_factory=set)


class FtpSession(Protocol):
    """The session a `PoolFilesystem` serves (the FTP handler)."""

    principal: Principal | None
    # The control connection's character set (UTF-8 after OPTS UTF8 ON; latin-1 otherwise).
    encoding: str

    @property
    def pool(self) -> PoolContext:
        """The server's shared context."""
        ...
