"""Searches run on a few threads per worker process, not on the web server's shared pool.

A sync route runs on anyio's default pool of 40 threads. Eight concurrent searches in one
worker then take turns on the GIL every few milliseconds: every one of them finishes late,
and each costs more CPU than alone. Two search threads per worker let one run Python while
the other waits for the database; the rest queue in the event loop and are served in
order. Measured with 16 clients on 2 workers at 100,000 titles (SQLite, two runs each):
p95 291 / 300 ms -> 196 / 213 ms, 88 / 117 -> 115 / 123 req/s.

Other routes keep the shared pool, so a slow download or readiness check never waits behind
searches, and searches never wait behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread

SEARCH_THREADS_PER_WORKER = 2

T = TypeVar("T")

# One limiter per event loop: a limiter belongs to the loop it is used in, and tests run
# an app on several loops one after another.
_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()


def search_limiter() -> anyio.CapacityLimiter:
    """This event loop's search threads."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(SEARCH_THREADS_PER_WORKER)
    return limiter


async def run_search(work: Callable[[], T]) -> T:
    """Run a search (blocking database work) on one of the search threads."""
    return await anyio.to_thread.run_sync(work, limiter=search_limiter())
