"""SMPTE timecode of a moment in a master: its start timecode plus elapsed frames.

Drop-frame (`;` before the frames, 29.97 and 59.94 fps) skips frame numbers 0 and 1 (0-3 at
59.94) at the start of every minute except each tenth, so the label keeps to the clock.
"""

from __future__ import annotations

import re
from fractions import Fraction

_TIMECODE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})([:;.])(\d{2})$")


def timecode_at(start: str | None, rate: Fraction, seconds: float) -> str:
    """The timecode shown `seconds` into a master starting at `start` (00:00:00:00 if None)."""
    nominal = max(1, round(float(rate)))
    match = _TIMECODE.match(start or "")
    drop = bool(match and match.group(4) == ";" and nominal in (30, 60))
    base = 0
    if match:
        hours, minutes, secs, _, frames = match.groups()
        label = ((int(hours) * 60 + int(minutes)) * 60 + int(secs)) * nominal + int(frames)
        base = _label_to_count(label, nominal) if drop else label
    count = base + int(max(seconds, 0.0) * float(rate) + 1e-6)
    label = _count_to_label(count, nominal) if drop else count
    frames = label % nominal
    total = label // nominal
    separator = ";" if drop else ":"
    return (
        f"{total // 3600 % 24:02d}:{total // 60 % 60:02d}:{total % 60:02d}{separator}{frames:02d}"
    )


def _dropped(nominal: int) -> int:
    return 2 * nominal // 30


def _count_to_label(count: int, nominal: int) -> int:
    drop = _dropped(nominal)
    per_ten = 10 * 60 * nominal - 9 * drop
    per_minute = 60 * nominal - drop
    tens, rest = divmod(count, per_ten)
    skipped = 9 * drop * tens
    if rest > drop:
        skipped += drop * ((rest - drop) // per_minute)
    return count + skipped


def _label_to_count(label: int, nominal: int) -> int:
    minutes = label // (60 * nominal)
    return label - _dropped(nominal) * (minutes - minutes // 10)
