"""Failed-login counting with growing bans: one rule for every way a person signs in.

The FTP server and the web UI both use it, with the same settings (`ftp_ban_*`): failed
logins ban the client address and the (address, account) pair; an account guessed at from
many addresses is slowed down, never locked, so nobody can lock its owner out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pool_core.settings import Settings


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    bans: int = 0
    banned_until: float = 0.0


class LoginGuard:
    """Counts failed logins per key (an IP, a pair, an account) and bans with growing durations.

    `threshold` failures inside `window` seconds ban the key for `base_ban` seconds; each
    further ban of the same key doubles, up to `max_ban`.
    """

    def __init__(
        self,
        *,
        threshold: int,
        window: float,
        base_ban: float,
        max_ban: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.base_ban = base_ban
        self.max_ban = max_ban
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def active_bans(self) -> int:
        """Keys banned right now (for the `jointpool_ftp_bans_active` gauge)."""
        now = self._clock()
        with self._lock:
            return sum(1 for record in self._records.values() if record.banned_until > now)

    def banned_for(self, key: str) -> float:
        """Seconds left on the key's ban, 0 when it is not banned."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return 0.0
            return max(0.0, record.banned_until - self._clock())

    def record_failure(self, key: str) -> float:
        """Count one failure; return the new ban's length when this one triggered a ban."""
        now = self._clock()
        with self._lock:
            if len(self._records) > 50_000:
                self._prune(now)
            record = self._records.setdefault(key, _Record())
            record.failures.append(now)
            while record.failures and record.failures[0] <= now - self.window:
                record.failures.popleft()
            if len(record.failures) < self.threshold or record.banned_until > now:
                return 0.0
            length = float(min(self.max_ban, self.base_ban * (2**record.bans)))
            record.bans += 1
            record.banned_until = now + length
            record.failures.clear()
            return length

    def record_success(self, key: str) -> None:
        """Forget the key's recent failures (its ban history stays, so repeat bans grow)."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.failures.clear()

    def _prune(self, now: float) -> None:
        self._records = {
            key: rec
            for key, rec in self._records.items()
            if rec.banned_until > now or (rec.failures and rec.failures[-1] > now - self.window)
        }


def ip_key(ip: str) -> str:
    """The guard key of a client address."""
    return f"ip:{ip}"


def account_key(username: str) -> str:
    """The guard key of an account name (known or not: unknown names are counted alike)."""
    return f"user:{username.strip().lower()}"


def pair_key(ip: str, username: str) -> str:
    """The guard key of one address guessing at one account."""
    return f"pair:{ip}:{username.strip().lower()}"


def guard_from_settings(settings: Settings) -> LoginGuard:
    """A guard with the configured threshold, window and ban lengths."""
    return LoginGuard(
        threshold=settings.ftp_ban_threshold,
        window=settings.ftp_ban_window_seconds,
        base_ban=settings.ftp_ban_seconds,
        max_ban=settings.ftp_ban_max_seconds,
    )


def refused(guard: LoginGuard, ip: str, username: str) -> bool:
    """Whether a login from this address for this account is refused without checking it.

    Bans fall on the guessing address (and its pair with the account), never on the account
    alone: a ban on the account would let anyone lock its owner out.
    """
    name = username.strip().lower()
    return bool(guard.banned_for(ip_key(ip)) or guard.banned_for(pair_key(ip, name)))


def account_under_attack(guard: LoginGuard, username: str) -> bool:
    """Whether the account had `threshold` recent failures from anywhere (slow its logins)."""
    return bool(guard.banned_for(account_key(username.strip().lower())))


def count_failure(guard: LoginGuard, ip: str, username: str) -> dict[str, float]:
    """Count a failed login against the address, the pair and the account; the new bans."""
    name = username.strip().lower()
    return {
        key: length
        for key in (ip_key(ip), pair_key(ip, name), account_key(name))
        if (length := guard.record_failure(key))
    }


def count_success(guard: LoginGuard, ip: str, username: str) -> None:
    """Forget the address's and the pair's failures.

    The account's failures stay counted: a success from its owner must not hand a guesser
    elsewhere a fresh set of fast attempts.
    """
    name = username.strip().lower()
    guard.record_success(ip_key(ip))
    guard.record_success(pair_key(ip, name))
