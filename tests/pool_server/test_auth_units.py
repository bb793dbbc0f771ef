"""The login cache, the ban table and the reply table, with a controllable clock."""

from __future__ import annotations

import pytest

from pool_core import errors
from pool_core.login_guard import LoginGuard
from pool_core.models import Role
from pool_server.auth import LoginCache, Principal
from pool_server.replies import reply_for, rest_refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_cache_remembers_only_the_exact_password_until_ttl() -> None:
    clock = Clock()
    cache = LoginCache(5.0, clock=clock)
    who = Principal(user_id=1, org_id=2, username="aztv-ops", role=Role.UPLOADER)
    cache.put("aztv-ops", "right-password-123", who)
    assert cache.get("aztv-ops", "right-password-123") == who
    assert cache.get("aztv-ops", "wrong-password-123") is None
    assert cache.get("other", "right-password-123") is None
    clock.now += 5.1
    assert cache.get("aztv-ops", "right-password-123") is None


def test_login_cache_never_stores_the_password() -> None:
    cache = LoginCache(5.0)
    cache.put("aztv-ops", "right-password-123", Principal(1, 2, "aztv-ops", Role.UPLOADER))
    assert b"right-password-123" not in b"".join(cache._entries)


def test_login_cache_disabled_with_zero_ttl() -> None:
    cache = LoginCache(0)
    cache.put("u", "p", Principal(1, 2, "u", Role.UPLOADER))
    assert cache.get("u", "p") is None


def test_bans_start_at_threshold_and_double_up_to_the_maximum() -> None:
    clock = Clock()
    guard = LoginGuard(threshold=3, window=60, base_ban=10, max_ban=25, clock=clock)
    assert [guard.record_failure("ip:1") for _ in range(3)] == [0.0, 0.0, 10.0]
    assert guard.banned_for("ip:1") == pytest.approx(10.0)
    assert guard.banned_for("ip:2") == 0.0
    clock.now += 10.5
    assert guard.banned_for("ip:1") == 0.0
    assert [guard.record_failure("ip:1") for _ in range(3)] == [0.0, 0.0, 20.0]
    clock.now += 21
    assert [guard.record_failure("ip:1") for _ in range(3)] == [0.0, 0.0, 25.0]


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    guard = LoginGuard(threshold=3, window=60, base_ban=10, max_ban=100, clock=clock)
    guard.record_failure("user:a")
    guard.record_failure("user:a")
    clock.now += 61
    assert guard.record_failure("user:a") == 0.0
    assert guard.banned_for("user:a") == 0.0


def test_success_clears_failures() -> None:
    guard = LoginGuard(threshold=3, window=60, base_ban=10, max_ban=100)
    guard.record_failure("user:a")
    guard.record_failure("user:a")
    guard.record_success("user:a")
    assert guard.record_failure("user:a") == 0.0


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidInput("names must not contain NUL bytes"), "553"),
        (errors.AlreadyExists("exists"), "553"),
        (errors.NotFound("no such file"), "550"),
        (errors.PermissionDenied("/licensed is read-only"), "550"),
        (errors.Conflict("folder not empty"), "550"),
        (errors.QuotaExceeded("quota used up"), "552"),
        (errors.StorageUnavailable("http://10.0.0.1:8333 timed out"), "451"),
        (errors.ObjectNotFound("masters/1/x"), "550"),
        (RuntimeError("boom"), "451"),
    ],
)
def test_reply_table(error: BaseException, code: str) -> None:
    reply = reply_for(error)
    assert reply.startswith(code + " ")
    assert "\n" not in reply and "\r" not in reply


def test_reply_table_hides_storage_internals() -> None:
    reply = reply_for(errors.StorageUnavailable("endpoint http://10.1.2.3:8333 refused"))
    assert "10.1.2.3" not in reply
    assert "resumed" in reply


def test_reply_lines_cannot_be_forged_with_newlines() -> None:
    assert "\r\n" not in reply_for(errors.InvalidInput("bad\r\n230 Logged in"))


def test_rest_refusal_is_a_5xx_with_the_offset() -> None:
    reply = rest_refused(1234, errors.Conflict("committed size is 1000"))
    assert reply.startswith("554 ") and "1234" in reply and "1000" in reply
