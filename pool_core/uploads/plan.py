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
flight, never smaller parts (S3 wants >= 5 MiB but for the last).
"""

from __future__ import annotations

import ctypes
import sys
import threading

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


class MemoryBudget:
    """Bytes the uploads of one process may buffer at once; `acquire` waits for room.

    It also keeps the part buffers given back, for the next part of any upload: a buffer is
    allocated (and its pages faulted in) once, not per part, and freed buffers never pile up
    in the allocator. Reserved plus kept bytes stay within the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()
        self._free: list[bytearray] = []
        self._free_bytes = 0

    def acquire(self, amount: int) -> int:
        """Reserve up to `amount` bytes (waiting if needed) and return what was reserved."""
        if self.limit <= 0:
            return 0
        # A part larger than the whole budget still goes, alone, instead of waiting forever.
        amount = min(amount, self.limit)
        with self._cond:
            while self.used and self.used + amount > self.limit:
                self._cond.wait()
            self.used += amount
        return amount

    def release(self, amount: int) -> None:
        """Give back a reservation made by `acquire`."""
        if amount <= 0:
            return
        with self._cond:
            self.used -= amount
            self._cond.notify_all()

    def take_buffer(self, size: int) -> tuple[bytearray, int]:
        """Reserve `size` bytes (waiting for room) and return a buffer of exactly that size.

        A kept buffer is reused when one fits; otherwise kept ones of other sizes are let go
        as far as needed to stay within the limit, and a new one is allocated.
        """
        reserved = self.acquire(size)
        with self._cond:
            for index, buffer in enumerate(self._free):
                if len(buffer) == size:
                    del self._free[index]
                    self._free_bytes -= size
                    return buffer, reserved
            while self._free and self.used + self._free_bytes > self.limit:
                self._free_bytes -= len(self._free.pop(0))
        return bytearray(size), reserved

    def give_buffer(self, buffer: bytearray, reserved: int) -> None:
        """Return a buffer from `take_buffer` and its reservation; it is kept if it fits."""
        with self._cond:
            self.used -= reserved
            if (
                self.limit > 0
                and len(buffer)
                and self.used + self._free_bytes + len(buffer) <= self.limit
            ):
                self._free.append(buffer)
                self._free_bytes += len(buffer)
            self._cond.notify_all()


_budgets: dict[int, MemoryBudget] = {}
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


def shared_budget(limit: int) -> MemoryBudget:
    """The process-wide budget for this limit (one per distinct setting value)."""
    keep_heap_small()
    with _budgets_lock:
        budget = _budgets.get(limit)
        if budget is None:
            budget = _budgets[limit] = MemoryBudget(limit)
        return budget
