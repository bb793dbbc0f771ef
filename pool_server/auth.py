"""Logins against the database: a verified-login cache, failure counting with bans, audit.

Failed logins ban the client address and the (address, account) pair; an account guessed at
from many addresses is slowed down, never locked, so nobody can lock its owner out.

scrypt costs tens of milliseconds by design; a login storm (300 robots reconnecting at
midnight) would queue behind it, so a successful verification is remembered for a few
seconds under a keyed hash of the password, never the password itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyftpdlib.exceptions import AuthenticationFailed as FTPAuthenticationFailed

from pool_core.db import Database
from pool_core.errors import AuthenticationFailed
from pool_core.login_guard import (
    LoginGuard,
    account_under_attack,
    count_failure,
    count_success,
    refused,
)
from pool_core.models import Role
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.services.accounts import check_ftp_login, record_ftp_logins
from pool_core.services.audit import record_audit
from pool_server.units import writing

log = logging.getLogger(__name__)

AUDIT_CHANNEL = "ftp"
# One reply for unknown users and wrong passwords, so replies never tell which it was.
LOGIN_FAILED_TEXT = "Authentication failed."
BANNED_TEXT = "Too many failed logins; try again later."
DISABLED_TEXT = "Account disabled."
# Everything a pool user may do; what they may do *where* the files service decides.
ALL_PERMS = "elradfmwMT"


@dataclass(frozen=True)
class Principal:
    """Who an FTP session acts for."""

    user_id: int
    org_id: int
    username: str
    # What the session may do (pool_core.roles); read at login, like the rest.
    role: Role
    # Fingerprint of the password hash the session logged in with: a later change ends it.
    credential: str = ""
    # The organization's code, for metric labels (ids mean nothing on a dashboard).
    org_code: str = ""


class LoginCache:
    """Remembers verified (username, password) pairs for a few seconds."""

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl_seconds
        self._clock = clock
        # A per-process key: the cache holds HMACs that are useless outside this process.
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def key(self, username: str, password: str) -> bytes:
        """The keyed hash these credentials are remembered under."""
        return self._digest(username, password)

    def _digest(self, username: str, password: str) -> bytes:
        message = username.encode() + b"\0" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, username: str, password: str) -> Principal | None:
        """Return the cached principal for these credentials, if still fresh."""
        if self.ttl <= 0:
            return None
        digest = self._digest(username, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, principal = entry
            if expires <= self._clock():
                del self._entries[digest]
                return None
            return principal

    def put(self, username: str, password: str, principal: Principal) -> None:
        """Remember verified credentials until the TTL runs out."""
        if self.ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[self._digest(username, password)] = (now + self.ttl, principal)

    def principals(self) -> list[Principal]:
        """Every principal still remembered (for the session watch's re-check)."""
        with self._lock:
            return [principal for _, principal in self._entries.values()]

    def forget_if(self, stale: Callable[[Principal], bool]) -> None:
        """Drop the cached logins of principals whose account changed."""
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if not stale(v[1])}

    def forget_user(self, username: str) -> None:
        """Drop every cached login (used after a failure so a changed password bites)."""
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v[1].username != username}


@dataclass(frozen=True)
class _AuditRecord:
    action: str
    name: str
    ip: str
    principal: Principal | None
    detail: dict[str, Any] | None


class AuditWriter:
    """Writes login audit rows in batches from one background thread.

    A login storm would otherwise queue every login behind one small write transaction
    (SQLite has a single writer). Rows reach the database within `interval` seconds; a
    process killed with -9 can lose at most that last fraction of a second of login rows.
    """

    def __init__(self, db: Database, *, interval: float = 0.5) -> None:
        self.db = db
        self.interval = interval
        self._queue: deque[_AuditRecord] = deque()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Held from taking a batch until it is written, so a flush() returns only once every
        # row queued before it is in the database, even while the thread writes a batch.
        self._flush_lock = threading.Lock()

    def add(self, record: _AuditRecord) -> None:
        """Queue one audit row (starting the writer thread on first use)."""
        self._queue.append(record)
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopped.is_set():
                    self._thread = threading.Thread(target=self._run, name="ftp-audit", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.interval)
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write every queued row now, in one unit of work."""
        with self._flush_lock:
            self._write_queued()

    def _write_queued(self) -> None:
        batch: list[_AuditRecord] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        try:
            with writing(self.db) as session:
                record_ftp_logins(
                    session,
                    user_ids=[
                        r.principal.user_id
                        for r in batch
                        if r.action == "login" and r.principal is not None
                    ],
                )
                for record in batch:
                    record_audit(
                        session,
                        channel=AUDIT_CHANNEL,
                        action=record.action,
                        org_id=record.principal.org_id if record.principal else None,
                        user_id=record.principal.user_id if record.principal else None,
                        subject=record.name,
                        remote_addr=record.ip,
                        detail=record.detail,
                    )
        except Exception:
            log.exception("could not write login audit rows", extra={"rows": len(batch)})

    def stop(self) -> None:
        """Flush what is queued and end the thread."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()


class PoolAuthorizer:
    """pyftpdlib authorizer backed by the pool's accounts; every session's home is `/`."""

    def __init__(
        self,
        db: Database,
        *,
        cache: LoginCache,
        guard: LoginGuard,
        audit: AuditWriter,
        account_slowdown: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.cache = cache
        self.guard = guard
        self.audit = audit
        self.account_slowdown = account_slowdown
        self._sleep = sleep
        # Verifications in progress by credentials: a storm of one robot's N connections
        # costs one scrypt, not N (the others wait for it and then hit the cache).
        self._inflight: dict[bytes, threading.Event] = {}
        self._inflight_lock = threading.Lock()

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        """Log the handler in as `username` or raise pyftpdlib's AuthenticationFailed."""
        ip: str = handler.remote_ip
        name = username.strip().lower()
        if refused(self.guard, ip, name):
            self._audit("login_refused", name, ip, detail={"reason": "banned"})
            _count_login("banned")
            raise FTPAuthenticationFailed(BANNED_TEXT)
        if self.account_slowdown and account_under_attack(self.guard, name):
            # Guessed at from many addresses: every attempt waits, the owner's included, so
            # a botnet gets few guesses a minute while the owner still gets in. Only this
            # session's thread waits.
            log.info(
                "ftp login slowed",
                extra={"user": name, "ip": ip, "seconds": self.account_slowdown},
            )
            self._sleep(self.account_slowdown)
        principal = self.cache.get(name, password)
        if principal is None:
            principal = self._verify_once(name, password, ip)
        else:
            self._audit("login", name, ip, principal=principal, detail={"cached": True})
        count_success(self.guard, ip, name)
        handler.principal = principal
        _count_login("ok")

    def _verify_once(self, name: str, password: str, ip: str) -> Principal:
        key = self.cache.key(name, password)
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                self._inflight[key] = threading.Event()
        if running is not None:
            running.wait(timeout=60)
            principal = self.cache.get(name, password)
            if principal is not None:
                self._audit("login", name, ip, principal=principal, detail={"cached": True})
                return principal
            # The leader failed: verify ourselves so this attempt is counted too.
            return self._verify(name, password, ip)
        try:
            return self._verify(name, password, ip)
        finally:
            with self._inflight_lock:
                self._inflight.pop(key).set()

    def _verify(self, name: str, password: str, ip: str) -> Principal:
        try:
            # Read-only: scrypt checks of a storm run in parallel even on SQLite; the login
            # time is written with the audit rows, in the audit writer's next batch.
            with self.db.session() as session:
                check = check_ftp_login(session, username=name, password=password)
                principal = Principal(
                    user_id=check.user.id,
                    org_id=check.user.org_id,
                    username=name,
                    role=check.user.role,
                    credential=check.credential,
                    org_code=check.user.organization.code,
                )
        except AuthenticationFailed as exc:
            disabled = "disabled" in str(exc)
            self.cache.forget_user(name)
            banned = count_failure(self.guard, ip, name)
            detail: dict[str, Any] = {"reason": "disabled" if disabled else "bad credentials"}
            if banned:
                detail["banned"] = banned
                log.warning("login ban", extra={"ip": ip, "user": name, "bans": detail["banned"]})
            self._audit("login_failed", name, ip, detail=detail)
            _count_login("disabled" if disabled else "bad_password")
            raise FTPAuthenticationFailed(DISABLED_TEXT if disabled else LOGIN_FAILED_TEXT) from exc
        self._audit("login", name, ip, principal=principal)
        self.cache.put(name, password, principal)
        return principal

    def _audit(
        self,
        action: str,
        name: str,
        ip: str,
        *,
        principal: Principal | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        # The console shows every login and every refusal: an operator acts on both (a
        # broken robot, an attack). The audit table keeps the same facts for later.
        fields = {"user": name, "ip": ip, **(detail or {})}
        if action == "login":
            log.info("ftp login", extra=fields)
        else:
            log.warning("ftp %s", action.replace("_", " "), extra=fields)
        self.audit.add(_AuditRecord(action, name, ip, principal, detail))

    # --- the rest of pyftpdlib's authorizer contract

    def get_home_dir(self, username: str) -> str:
        """Every session starts at its organization's virtual root."""
        return "/"

    def has_user(self, username: str) -> bool:
        """Unknown and known users look alike until PASS."""
        return True

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        """Allow every command here: the session's role is checked per command against
        `pool_core.roles` (`check_ftp_command`), and the files service refuses what a path
        does not permit."""
        return perm in ALL_PERMS

    def get_perms(self, username: str) -> str:
        """The permission letters shown in MLSx `perm` facts."""
        return ALL_PERMS

    def get_msg_login(self, username: str) -> str:
        """The 230 greeting."""
        return "Welcome to the Joint FTP Pool."

    def get_msg_quit(self, username: str) -> str:
        """The 221 farewell."""
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        """No OS users are involved: nothing to switch."""

    def terminate_impersonation(self, username: str) -> None:
        """No OS users are involved: nothing to switch back."""


def _count_login(result: str) -> None:
    if metrics_enabled():
        metrics.ftp_logins.labels(result=result).inc()
