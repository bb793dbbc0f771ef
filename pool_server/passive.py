"""Passive ports: how many one organization may hold, and how long each waits.

pyftpdlib gives a session at most one listening passive port (a new PASV closes the one
before), but nothing stops one member from opening many sessions that each PASV and never
connect: each port then stays taken for the connect timeout, and once the range is used up
pyftpdlib silently falls back to a random kernel port outside it, which a firewall in front
of the pool drops. So every other member's transfers fail. Here:

- one organization holds at most `passive_ports_per_org` listening ports at once; a PASV
  over that answers 425 and the member's other sessions keep theirs;
- a port waits `ftp_passive_connect_timeout` for its connection, then is released;
- a full range answers 425 instead of announcing a port outside it.
"""

from __future__ import annotations

import threading
from typing import Any

from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP


class NoPassivePort(Exception):
    """Every port of the passive range is in use."""


class PortLedger:
    """Listening passive ports per owner (organization), for one server."""

    def __init__(self, per_owner: int) -> None:
        self.per_owner = per_owner
        self._lock = threading.Lock()
        self._held: dict[object, int] = {}

    def take(self, owner: object) -> bool:
        """Count one more port for `owner`; False (and nothing counted) when at its limit."""
        with self._lock:
            held = self._held.get(owner, 0)
            if held >= self.per_owner:
                return False
            self._held[owner] = held + 1
            return True

    def give_back(self, owner: object) -> None:
        """Forget one port of `owner`."""
        with self._lock:
            left = self._held.get(owner, 0) - 1
            if left > 0:
                self._held[owner] = left
            else:
                self._held.pop(owner, None)

    def held_by(self, owner: object) -> int:
        """Ports `owner` holds now."""
        with self._lock:
            return self._held.get(owner, 0)


class PoolPassiveDTP(PassiveDTP):  # type: ignore[misc]
    """A passive port counted against its organization, bound only inside the range."""

    def __init__(self, cmd_channel: Any, extmode: bool = False) -> None:
        self.ledger: PortLedger | None = None
        self.owner: object = None
        # Read by PassiveDTP.__init__ when it arms the connect timer.
        self.timeout = cmd_channel.pool.settings.ftp_passive_connect_timeout
        super().__init__(cmd_channel, extmode)

    def counted_for(self, ledger: PortLedger, owner: object) -> None:
        """Give the port back to `ledger` when it closes (taken by the caller)."""
        self.ledger, self.owner = ledger, owner

    def bind(self, address: tuple[str, int]) -> None:
        """Refuse pyftpdlib's fallback to a kernel-chosen port outside the passive range."""
        if address[1] == 0 and self.cmd_channel.passive_ports:
            self.close()
            raise NoPassivePort()
        super().bind(address)

    def close(self) -> None:
        """Release the port and its count (connected, timed out, replaced or session gone)."""
        ledger, self.ledger = self.ledger, None
        if ledger is not None:
            ledger.give_back(self.owner)
        super().close()
