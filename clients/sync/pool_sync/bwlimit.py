"""Bandwidth limits: a flat rate (`50M`) or a day schedule (`08:00-20:00 20M, 50M`).

A schedule is comma-separated entries; `HH:MM-HH:MM RATE` applies in that window of the
machine's local time (a window may wrap midnight: `22:00-06:00 off`), and one bare `RATE`
applies outside every window (unlimited when there is none). The first matching window wins.
Rates are bytes per second with binary units (`20M` = 20 MiB/s); `off` or `0` means no limit.
The limit is shared by all the files of a run and followed as the clock moves, so a night run
that reaches 08:00 slows down.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pool_sync.errors import ConfigError

UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)")


def parse_rate(value: Any) -> int | None:
    """Parse `50M` / `512K` / `1000000` into bytes per second (`off`, 0, empty: no limit)."""
    if value in (None, "", 0) or str(value).strip().lower() in ("off", "0"):
        return None
    text = str(value).strip().upper().removesuffix("/S").removesuffix("B")
    unit = text[-1] if text and text[-1] in UNITS else ""
    try:
        number = float(text[: len(text) - len(unit)] if unit else text)
    except ValueError as exc:
        raise ConfigError(f"rate {value!r} is not a rate like 50M") from exc
    if number <= 0:
        raise ConfigError("a rate must be positive (or `off`)")
    return int(number * UNITS[unit])


@dataclass(frozen=True)
class Window:
    """A daily window in minutes since local midnight; `end` <= `start` wraps midnight."""

    start: int
    end: int
    rate: int | None

    def contains(self, minute: int) -> bool:
        """Whether the minute of the day falls in this window."""
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True)
class Schedule:
    """A flat rate or a day schedule of rates."""

    default: int | None = None
    windows: tuple[Window, ...] = ()

    @property
    def limited(self) -> bool:
        """Whether any limit applies at some time of the day."""
        return self.default is not None or any(w.rate is not None for w in self.windows)

    def rate_at(self, moment: datetime) -> int | None:
        """The rate in force at a local time (None: unlimited)."""
        minute = moment.hour * 60 + moment.minute
        for window in self.windows:
            if window.contains(minute):
                return window.rate
        return self.default


def _minute(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 1440:
        raise ConfigError(f"bwlimit {text!r}: {hours}:{minutes} is not a time of day")
    return h * 60 + m  # 24:00 (1440) is allowed as an end: "00:00-24:00" is the whole day


def parse_schedule(value: Any) -> Schedule:
    """Parse a `bwlimit` value: a rate, a schedule string, or a list of its entries."""
    if value is None or value == "":
        return Schedule()
    entries: Sequence[Any] = value if isinstance(value, list) else str(value).split(",")
    default: int | None = None
    seen_default = False
    windows: list[Window] = []
    for raw in entries:
        text = str(raw).strip()
        match = _WINDOW.fullmatch(text)
        if match:
            start = _minute(match[1], match[2], text) % 1440
            end = _minute(match[3], match[4], text)
            if start == end:
                raise ConfigError(f"bwlimit {text!r}: the window is empty")
            windows.append(Window(start, end, parse_rate(match[5])))
        elif text and not seen_default and ":" not in text:
            default, seen_default = parse_rate(text), True
        else:
            raise ConfigError(
                f"bwlimit entry {text!r} is neither a rate (50M) nor a window (08:00-20:00 20M)"
            )
    return Schedule(default=default, windows=tuple(windows))


class RateLimiter:
    """A token bucket shared by every download of a run, following the schedule."""

    def __init__(self, schedule: Schedule, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.schedule = schedule
        self._clock = clock
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, nbytes: int) -> None:
        """Wait until `nbytes` more may be received."""
        rate = self.schedule.rate_at(self._clock())
        with self._lock:
            now = time.monotonic()
            if rate is None:
                # Unlimited now: no debt carries over into a later limited window.
                self._next = now
                return
            # No credit builds up while idle (max): a pause is not followed by a burst.
            start = max(self._next, now)
            self._next = start + nbytes / rate
            wait = start - now
        if wait > 0:
            time.sleep(wait)
