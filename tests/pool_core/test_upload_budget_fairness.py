"""The upload memory budget is shared fairly between organizations and never waits forever."""

from __future__ import annotations

import threading

import pytest

from pool_core.errors import Busy
from pool_core.settings import Settings
from pool_core.uploads.plan import MemoryBudget


def test_one_owner_keeps_its_share_and_the_rest_stays_for_others() -> None:
    budget = MemoryBudget(8, org_share=0.5)
    a, b = budget.for_owner("a", timeout=0.05), budget.for_owner("b", timeout=0.05)
    assert a.acquire(2) == 2 and a.acquire(2) == 2
    # A alone is capped at half the budget, although the other half is free.
    with pytest.raises(Busy, match="try again later"):
        a.acquire(2)
    assert b.acquire(2) == 2 and b.acquire(2) == 2
    assert budget.used == 8 and a.held_by("a") == 4 and b.held_by("b") == 4


def test_a_newcomer_shrinks_the_share_of_those_over_it() -> None:
    budget = MemoryBudget(12, org_share=1.0)
    a = budget.for_owner("a", timeout=0.05)
    for _ in range(3):
        a.acquire(2)  # 6 of 12: within A's share while alone
    b, c = budget.for_owner("b", timeout=0.05), budget.for_owner("c", timeout=0.05)
    b.acquire(2)
    c.acquire(2)
    # Three owners now: A (6) is over its third (4) and gets nothing more until it drops.
    with pytest.raises(Busy):
        a.acquire(2)
    assert b.acquire(2) == 2  # B (4) is within its third


def test_every_owner_gets_its_first_buffer_whenever_the_total_allows() -> None:
    budget = MemoryBudget(4, org_share=0.25)
    a = budget.for_owner("a", timeout=0.05)
    assert a.acquire(3) == 3  # larger than its share, but its first


def test_a_waiter_gets_room_when_its_own_upload_gives_some_back() -> None:
    budget = MemoryBudget(4, org_share=0.5)
    a = budget.for_owner("a", timeout=30)
    a.acquire(2)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(a.acquire(2)))
    waiter.start()
    a.release(2)
    waiter.join(timeout=30)
    assert got == [2] and budget.used == 2


def test_the_settings_bind_owner_and_wait() -> None:
    from pool_core.uploads.plan import budget_for

    settings = Settings(upload_memory_budget=8 << 20, upload_memory_wait_seconds=0.05)
    share = budget_for(settings, 7)
    assert share.owner == 7 and share.timeout == 0.05 and share.limit == 8 << 20
