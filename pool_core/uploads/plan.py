"""How big each S3 part is, and how much memory all uploads of a process may hold.

Part `n` (1-based) is `base * 2**((n - 1) // 1000)`, capped at S3's 5 GiB: with the default
8 MiB base, the first 1000 parts (7.8 GiB) are 8 MiB, the next 1000 are 16 MiB, and so on,
so one stream of unknown length reaches S3's 5 TiB object limit well within 10,000 parts
(about 7.8 TiB in total), while typical masters keep small parts.

Memory per upload is at most `upload_parts_in_flight` + 1 parts: the one filling while up to
`upload_parts_in_flight` before it are sent (32 MiB with the defaults for files up to 7.8
GiB). On top of that, a per-process budget (`upload_memory_budget`) bounds the sum over all
uploads: every part buffer is reserved from it first, a writer that cannot reserve its next
part waits, and TCP slows its client down. So under contention each upload has fewer bytes in
flight, never smaller parts (S3 wants >= 5 MiB but for the last). The budget is shared
fairly between organizations, and a wait for room ends after `upload_memory_wait_seconds`
(see `MemoryBudget`).
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time

from pool_core.errors import Busy
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.settings import Settings

MAX_PARTS = 10_000
GROWTH_EVERY = 1000
MAX_PART_SIZE = 5 << 30
MAX_OBJECT_SIZE = 5 << 40


def part_size(number: int, base: int) -> int:
    """Size in bytes of part `number` (1-based) of a streamed upload."""
    return min(MAX_PART_SIZE, base << ((number - 1) // GROWTH_EVERY))


def max_stream_size(base: int) -> int:
    """The largest stream the part plan can hold within 10,000 parts."""
    return sum(part_size(n, base) for n in range(1, MAX_PARTS + 1))


class _Pool:
    """The state one process's budget shares between all its views (one per organization)."""

    def __init__(self, limit: int, org_share: float) -> None:
        self.limit = limit
        self.org_share = org_share
        self.used = 0
        self.cond = threading.Condition()
        self.free: list[bytearray] = []
        self.free_bytes = 0
        # Bytes reserved and reservations waiting, per owner (organization).
        self.held: dict[object, int] = {}
        self.waiting: dict[object, int] = {}

    def fits(self, owner: object, amount: int) -> bool:
        """Whether `owner` may reserve `amount` now (call with the condition held)."""
        # Alone, a part goes even if larger than what is left (never waits on itself).
        if self.used and self.used + amount > self.limit:
            return False
        if owner is None:
            return True
        held = self.held.get(owner, 0)
        if not held:
            return True  # every organization's first buffer goes as soon as the total allows
        # An equal share among the organizations holding or waiting, and never more than
        # `org_share` of the whole: so another organization always finds room.
        active = len(self.held.keys() | self.waiting.keys() | {owner})
        share = self.limit * min(self.org_share, 1 / active)
        return held + amount <= share

    def add(self, owner: object, amount: int) -> None:
        self.used += amount
        if owner is not None:
            self.held[owner] = self.held.get(owner, 0) + amount

    def remove(self, owner: object, amount: int) -> None:
        self.used -= amount
        if owner is not None:
            left = self.held.get(owner, 0) - amount
            if left > 0:
                self.held[owner] = left
            else:
                self.held.pop(owner, None)


class MemoryBudget:
    """Bytes the uploads of one process may buffer at once; `acquire` waits for room.

    Fair between organizations: `for_owner(org_id)` gives the view a writer reserves
    through. An organization gets its first buffer whenever the total allows; beyond that
    it holds at most an equal share among the organizations holding or waiting, and never
    more than `org_share` of the limit. So one member's many slow uploads cannot hold
    every byte, and another member's upload goes at once. A wait longer than `timeout`
    raises `Busy` (the FTP client is told 451 and can resume) instead of hanging forever.

    It also keeps the part buffers given back, for the next part of any upload: a buffer is
    allocated (and its pages faulted in) once, not per part, and freed buffers never pile up
    in the allocator. Reserved plus kept bytes stay within the limit.
    """

    def __init__(
        self,
        limit: int,
        *,
        org_share: float = 1.0,
        owner: object = None,
        timeout: float | None = None,
        _pool: _Pool | None = None,
    ) -> None:
        self._pool = _pool or _Pool(limit, org_share)
        self.owner = owner
        self.timeout = timeout

    def for_owner(self, owner: object, timeout: float | None = None) -> MemoryBudget:
        """The view of this budget that one organization's writers reserve through."""
        return MemoryBudget(self.limit, owner=owner, timeout=timeout, _pool=self._pool)

    @property
    def limit(self) -> int:
        """The budget in bytes (0 = unlimited)."""
        return self._pool.limit

    @property
    def used(self) -> int:
        """Bytes reserved now, by every owner."""
        return self._pool.used

    def held_by(self, owner: object) -> int:
        """Bytes `owner` has reserved now."""
        with self._pool.cond:
            return self._pool.held.get(owner, 0)

    def acquire(self, amount: int) -> int:
        """Reserve up to `amount` bytes (waiting if needed) and return what was reserved.

        Raises `Busy` when no room came within the view's timeout.
        """
        pool = self._pool
        if pool.limit <= 0:
            return 0
        # A part larger than the whole budget still goes, alone, instead of waiting forever.
        amount = min(amount, pool.limit)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        owner = self.owner
        with pool.cond:
            if not pool.fits(owner, amount):
                if metrics_enabled():
                    metrics.ftp_buffer_waits.inc()
                pool.waiting[owner] = pool.waiting.get(owner, 0) + 1
                try:
                    while not pool.fits(owner, amount):
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise Busy(
                                "the server's upload memory is taken by other uploads; try "
                                "again later (the upload can be resumed)"
                            )
                        pool.cond.wait(remaining)
                finally:
                    pool.waiting[owner] -= 1
                    if not pool.waiting[owner]:
                        del pool.waiting[owner]
                    # The set of active owners changed: others' shares may have grown.
                    pool.cond.notify_all()
            pool.add(owner, amount)
        return amount

    def release(self, amount: int) -> None:
        """Give back a reservation made by `acquire`."""
        if amount <= 0:
            return
        with self._pool.cond:
            self._pool.remove(self.owner, amount)
            self._pool.cond.notify_all()

    def take_buffer(self, size: int) -> tuple[bytearray, int]:
        """Reserve `size` bytes (waiting for room) and return a buffer of exactly that size.

        A kept buffer is reused when one fits; otherwise kept ones of other sizes are let go
        as far as needed to stay within the limit, and a new one is allocated.
        """
        reserved = self.acquire(size)
        pool = self._pool
        with pool.cond:
            for index, buffer in enumerate(pool.free):
                if len(buffer) == size:
                    del pool.free[index]
                    pool.free_bytes -= size
                    return buffer, reserved
            while pool.free and pool.used + pool.free_bytes > pool.limit:
                pool.free_bytes -= len(pool.free.pop(0))
        return bytearray(size), reserved

    def give_buffer(self, buffer: bytearray, reserved: int) -> None:
        """Return a buffer from `take_buffer` and its reservation; it is kept if it fits."""
        pool = self._pool
        with pool.cond:
            pool.remove(self.owner, reserved)
            if (
                pool.limit > 0
                and len(buffer)
                and pool.used + pool.free_bytes + len(buffer) <= pool.limit
            ):
                pool.free.append(buffer)
                pool.free_bytes += len(buffer)
            pool.cond.notify_all()


_budgets: dict[tuple[int, float], MemoryBudget] = {}
_budgets_lock = threading.Lock()


def keep_heap_small() -> None:
    """Make glibc return freed part buffers to the system (once per process).

    glibc raises its mmap threshold after large blocks are freed, after which 8 MiB part
    buffers come from per-thread heap arenas and stay resident when freed: with dozens of
    concurrent uploads RSS then grows far past the memory budget. Fixing the threshold at
    1 MiB keeps every part buffer in its own mapping, returned when freed.
    """
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        return  # not glibc (musl, ...): nothing to tune


_M_MMAP_THRESHOLD = -3
_heap_tuned = False


def shared_budget(limit: int, org_share: float = 1.0) -> MemoryBudget:
    """The process-wide budget for these settings (one per distinct pair of values)."""
    keep_heap_small()
    with _budgets_lock:
        budget = _budgets.get((limit, org_share))
        if budget is None:
            budget = _budgets[(limit, org_share)] = MemoryBudget(limit, org_share=org_share)
        return budget


def budget_for(settings: Settings, org_id: int) -> MemoryBudget:
    """What one organization's upload reserves through: its fair share, with a wait limit."""
    shared = shared_budget(settings.upload_memory_budget, settings.upload_memory_org_share)
    return shared.for_owner(org_id, timeout=settings.upload_memory_wait_seconds)
