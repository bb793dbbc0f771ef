"""Keep the FTP server's resident memory close to what its uploads really buffer."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# glibc mallopt() parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Make glibc return upload buffers to the OS as soon as they are freed.

    Every upload allocates and frees multi-MiB part buffers from its own thread. glibc's
    default raises its mmap threshold after such frees (up to 32 MiB), so later buffers come
    from per-thread arenas that never shrink: with 50 uploads the process kept ~900 MiB
    resident while buffering a quarter of that. A fixed 1 MiB threshold keeps large buffers
    on mmap (freed at once) and two arenas bound the small-object fragmentation.
    Returns False where glibc is not the allocator (nothing changes there).
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
    log.debug("malloc tuned", extra={"ok": done})
    return done
