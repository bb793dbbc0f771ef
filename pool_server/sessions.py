"""Live sessions follow their account: a disabled or re-passworded account's sessions end.

A login is checked once, but an FTP session can live for hours. One thread per server asks
the database, every `ftp_session_recheck_seconds`, whether each logged-in user may still use
FTP with the password they logged in with (one query for all sessions). A session whose
account changed is marked; the session's own thread notices the mark within a second and
ends the session with a 421, since only that thread may touch its sockets.

The login cache is checked the same way, so a changed password stops working for new
logins of this process too, not only after the cache's TTL.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from pool_core.db import Database
from pool_core.services.accounts import live_ftp_credentials
from pool_server.auth import LoginCache, Principal

log = logging.getLogger(__name__)

# How often a session's own thread looks for the mark the watch left on it.
MARK_POLL_SECONDS = 1.0
ENDED_TEXT = "421 Your account was disabled or its password changed; log in again."


class WatchedSession(Protocol):
    """What the watch needs of a session: who it acts for, and a place for the mark."""

    principal: Principal | None
    account_revoked: bool


class SessionWatch:
    """Re-checks every logged-in session's account in the background."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float,
        cache: LoginCache | None = None,
        fetch: Callable[[Database, set[int]], dict[int, str]] | None = None,
    ) -> None:
        self.db = db
        self.interval = interval
        self.cache = cache
        self._fetch = fetch or _fetch_credentials
        self._sessions: weakref.WeakSet[WatchedSession] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, session: WatchedSession) -> None:
        """Watch a session that has just logged in."""
        with self._lock:
            self._sessions.add(session)

    def discard(self, session: WatchedSession) -> None:
        """Stop watching a session (it closed or logged out)."""
        with self._lock:
            self._sessions.discard(session)

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ftp-session-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the background thread."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.check_now()
            except Exception:
                # A database outage must not end the watch: the next round tries again.
                log.exception("could not re-check ftp sessions")

    def check_now(self) -> int:
        """Mark every session whose account changed; return how many were marked."""
        with self._lock:
            sessions = list(self._sessions)
        principals = [s.principal for s in sessions if s.principal is not None]
        cached = self.cache.principals() if self.cache is not None else []
        user_ids = {p.user_id for p in principals} | {p.user_id for p in cached}
        if not user_ids:
            return 0
        live = self._fetch(self.db, user_ids)

        def stale(principal: Principal) -> bool:
            return live.get(principal.user_id) != principal.credential

        if self.cache is not None:
            self.cache.forget_if(stale)
        marked = 0
        for session in sessions:
            principal = session.principal
            if principal is not None and not session.account_revoked and stale(principal):
                session.account_revoked = True
                marked += 1
                log.warning(
                    "ftp session ends: account changed",
                    extra={"user": principal.username, "user_id": principal.user_id},
                )
        return marked


class WatchedHandler:
    """Mixin for the FTP handler: a logged-in session is watched and ends when marked.

    Kept out of the handler so the handler only says when a login starts and ends.
    """

    # Set per server by `build_server` (pyftpdlib configures handlers by class attributes).
    session_watch: ClassVar[SessionWatch | None] = None
    principal: Principal | None
    ioloop: Any
    _closing: bool
    account_revoked: bool = False
    _revocation_poll: Any = None

    def watch_account(self) -> None:
        """Start watching the account this session just logged in as."""
        if self.session_watch is None:
            return
        self.account_revoked = False
        self.session_watch.add(self)
        if self._revocation_poll is None:
            self._revocation_poll = self.ioloop.call_every(
                MARK_POLL_SECONDS, self._end_if_account_revoked
            )

    def unwatch_account(self) -> None:
        """Stop watching (logout, REIN, or the session closing)."""
        if self.session_watch is not None:
            self.session_watch.discard(self)
        if self._revocation_poll is not None:
            self._revocation_poll.cancel()
            self._revocation_poll = None

    def close(self) -> None:
        """Stop watching, then close as pyftpdlib does."""
        self.unwatch_account()
        super().close()  # type: ignore[misc]  # the handler class this is mixed into

    def _end_if_account_revoked(self) -> None:
        # Runs in this session's thread: only it may write to and close its sockets.
        if self.account_revoked and not self._closing:
            self.respond(ENDED_TEXT)  # type: ignore[attr-defined]  # pyftpdlib's handler
            self.close_when_done()  # type: ignore[attr-defined]  # pyftpdlib's handler


def _fetch_credentials(db: Database, user_ids: set[int]) -> dict[int, str]:
    with db.session() as session:
        return live_ftp_credentials(session, user_ids=user_ids)
