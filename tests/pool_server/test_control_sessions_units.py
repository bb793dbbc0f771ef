"""`ControlSessions`: which account's TLS sessions a data connection may resume."""

from __future__ import annotations

import threading

from pool_server.tls import ControlSessions

AZTV = (1, 1)
TRT = (2, 2)
SESSION = b"s" * 32


class Control:
    """Stands in for a control connection: only its identity matters here."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_logged_in_connections_session_is_its_accounts_only() -> None:
    sessions = ControlSessions()
    sessions.record(Control(), AZTV, frozenset({SESSION}))
    assert sessions.belongs_to(AZTV, SESSION)
    assert not sessions.belongs_to(TRT, SESSION)
    assert not sessions.belongs_to(AZTV, b"other" * 8)


def test_a_closed_connections_sessions_stay_valid_for_the_grace_period_only() -> None:
    clock = Clock()
    sessions = ControlSessions(clock=clock)
    control = Control()
    sessions.record(control, AZTV, frozenset({SESSION}))
    sessions.forget(control)
    clock.now += ControlSessions.CLOSED_GRACE_SECONDS - 1
    assert sessions.belongs_to(AZTV, SESSION)
    clock.now += 2
    assert not sessions.belongs_to(AZTV, SESSION)


def test_a_new_connection_does_not_take_over_a_closed_ones_grace() -> None:
    # Keys are our own, not id(): many short-lived connections must not overwrite one
    # another's sessions while they are in their grace period.
    sessions = ControlSessions()
    closed = Control()
    sessions.record(closed, AZTV, frozenset({SESSION}))
    sessions.forget(closed)
    for n in range(50):
        sessions.record(Control(), AZTV, frozenset({bytes([n]) * 32}))
    assert sessions.belongs_to(AZTV, SESSION)


def _ask(sessions: ControlSessions, answers: list[bool]) -> None:
    answers.append(sessions.belongs_to(AZTV, SESSION, wait=30))


def test_a_session_still_logging_in_counts_once_its_login_succeeds() -> None:
    sessions = ControlSessions()
    sibling = Control()
    sessions.record(sibling, None, frozenset({SESSION}))  # handshake done, no PASS yet
    assert not sessions.belongs_to(AZTV, SESSION)  # no wait: not (yet) the account's

    answers: list[bool] = []
    waiter = threading.Thread(target=_ask, args=(sessions, answers))
    waiter.start()
    sessions.record(sibling, AZTV, frozenset({SESSION}))  # the sibling logged in
    waiter.join(timeout=30)
    assert answers == [True]


def test_a_session_logging_in_as_another_account_or_giving_up_is_refused() -> None:
    sessions = ControlSessions()
    for ending in ("other account", "closed"):
        sibling = Control()
        sessions.record(sibling, None, frozenset({SESSION}))
        answers: list[bool] = []
        waiter = threading.Thread(target=_ask, args=(sessions, answers))
        waiter.start()
        if ending == "other account":
            sessions.record(sibling, TRT, frozenset({SESSION}))
        else:
            sessions.forget(sibling)
        waiter.join(timeout=30)
        assert answers == [False], ending
        assert not waiter.is_alive()
        sessions.forget(sibling)


def test_a_session_nobody_is_logging_in_with_is_refused_without_waiting() -> None:
    sessions = ControlSessions()
    # An unknown session: the answer comes at once, whatever the wait allowed.
    done = threading.Event()
    result: list[bool] = []

    def ask() -> None:
        result.append(sessions.belongs_to(AZTV, SESSION, wait=3600))
        done.set()

    threading.Thread(target=ask, daemon=True).start()
    assert done.wait(timeout=30)
    assert result == [False]
