"""The session watch's decisions, with the database answer given (the FTP tests run it live)."""

from __future__ import annotations

from dataclasses import dataclass

from pool_core.db import Database
from pool_core.models import Role
from pool_core.settings import Settings
from pool_server.auth import LoginCache, Principal
from pool_server.sessions import MARK_POLL_SECONDS, SessionWatch

# pyftpdlib's threaded sessions wake at least once a second to run their scheduled calls.
SESSION_LOOP_SECONDS = 1.0


@dataclass(eq=False)
class FakeSession:
    principal: Principal | None
    account_revoked: bool = False


def _principal(user_id: int, credential: str) -> Principal:
    return Principal(
        user_id=user_id, org_id=1, username=f"u{user_id}", role=Role.EDITOR, credential=credential
    )


def test_marks_sessions_of_disabled_or_re_passworded_accounts_only() -> None:
    live = {1: "same", 2: "new"}  # 3 is missing: disabled
    watch = SessionWatch(Database("sqlite://"), interval=1, fetch=lambda db, ids: live)
    kept = FakeSession(_principal(1, "same"))
    re_passworded = FakeSession(_principal(2, "old"))
    disabled = FakeSession(_principal(3, "any"))
    not_logged_in = FakeSession(None)
    for session in (kept, re_passworded, disabled, not_logged_in):
        watch.add(session)
    assert watch.check_now() == 2
    assert (kept.account_revoked, re_passworded.account_revoked) == (False, True)
    assert disabled.account_revoked and not not_logged_in.account_revoked
    # A closed session is no longer looked at.
    watch.discard(kept)
    live.clear()
    assert watch.check_now() == 0 and not kept.account_revoked


def test_forgets_cached_logins_of_changed_accounts() -> None:
    cache = LoginCache(ttl_seconds=60)
    cache.put("u1", "old-password-1", _principal(1, "old"))
    cache.put("u2", "password-2222", _principal(2, "same"))
    watch = SessionWatch(
        Database("sqlite://"), interval=1, cache=cache, fetch=lambda db, ids: {1: "new", 2: "same"}
    )
    watch.check_now()
    assert cache.get("u1", "old-password-1") is None
    assert cache.get("u2", "password-2222") is not None


def test_by_default_a_session_ends_within_ten_seconds_of_the_change() -> None:
    # The promise of the README and of issue 15, from the settings a fresh install gets.
    interval = Settings.model_fields["ftp_session_recheck_seconds"].default
    assert interval + MARK_POLL_SECONDS + SESSION_LOOP_SECONDS <= 10
