"""Searches share a worker's CPU on a few threads of their own (`run_search`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pool_core.ops.search_threads import SEARCH_THREADS_PER_WORKER, run_search

T = TypeVar("T")


def _run_in_new_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run` on a thread of its own: a session-wide browser fixture (Playwright's sync
    API) may already run an event loop on the test's thread."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _run_many(count: int) -> tuple[list[int], int]:
    """`count` concurrent searches on one event loop: their answers and the peak concurrency."""
    lock = threading.Lock()
    running = peak = 0

    def search(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * n

    async def main() -> list[int]:
        return await asyncio.gather(*(run_search(lambda n=n: search(n)) for n in range(count)))

    return _run_in_new_loop(main), peak


def test_at_most_the_search_threads_run_at_once_and_every_search_is_answered() -> None:
    answers, peak = _run_many(8)
    assert answers == [n * n for n in range(8)]
    assert peak == SEARCH_THREADS_PER_WORKER


def test_each_event_loop_gets_its_own_threads() -> None:
    # A limiter bound to a finished loop must not be reused by the next one (tests, reloads).
    for _ in range(2):
        answers, peak = _run_many(3)
        assert answers == [0, 1, 4]
        assert peak <= SEARCH_THREADS_PER_WORKER


def test_an_exception_reaches_the_caller_and_frees_its_thread() -> None:
    def broken() -> int:
        raise ValueError("bad query")

    async def main() -> list[object]:
        failures = await asyncio.gather(
            *(run_search(broken) for _ in range(SEARCH_THREADS_PER_WORKER + 1)),
            return_exceptions=True,
        )
        return [*failures, await run_search(lambda: 42)]

    results = _run_in_new_loop(main)
    assert all(isinstance(r, ValueError) for r in results[:-1])
    assert results[-1] == 42
