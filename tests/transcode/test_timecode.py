"""Drop-frame timecode arithmetic across the minutes where frame numbers are skipped."""

from __future__ import annotations

from fractions import Fraction

import pytest

from transcode.timecode import timecode_at

NTSC = Fraction(30000, 1001)
NTSC_60 = Fraction(60000, 1001)


@pytest.mark.parametrize(
    ("start", "rate", "frames", "expected"),
    [
        # Minute 1 is not a tenth: frame numbers 00 and 01 do not exist.
        ("00:00:59;29", NTSC, 1, "00:01:00;02"),
        ("00:00:59;28", NTSC, 2, "00:01:00;02"),
        ("00:01:00;02", NTSC, 0, "00:01:00;02"),
        # Every tenth minute keeps ;00.
        ("00:09:59;29", NTSC, 1, "00:10:00;00"),
        ("00:59:59;29", NTSC, 1, "01:00:00;00"),
        # 59.94 skips four frame numbers.
        ("00:00:59;59", NTSC_60, 1, "00:01:00;04"),
        ("00:09:59;59", NTSC_60, 1, "00:10:00;00"),
        # An hour of 29.97 is 107892 frames: the label keeps to the clock.
        ("00:00:00;00", NTSC, 107892, "01:00:00;00"),
        # Non-drop stays plain counting (a 30 fps label every 30 frames).
        ("00:00:59:29", NTSC, 1, "00:01:00:00"),
    ],
)
def test_drop_frame_labels_skip_numbers_at_each_minute_but_the_tenth(
    start: str, rate: Fraction, frames: int, expected: str
) -> None:
    seconds = frames / float(rate)
    assert timecode_at(start, rate, seconds) == expected
