"""Read the measurements back from the ffmpeg log: EBU R128, black and silence intervals.

ebur128 logs a line per 100 ms window (about 6 MB per hour of programme): it is how the
moment of the highest true peak is found, which the summary does not give.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

_NUMBER = r"(-?(?:\d+(?:\.\d*)?|inf|nan))"
_INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*" + _NUMBER + r"\s*LUFS", re.I)
_LRA = re.compile(r"Loudness range:\s*\n\s*LRA:\s*" + _NUMBER + r"\s*LU", re.I)
_TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*" + _NUMBER + r"\s*dB", re.I)
_BLACK = re.compile(
    r"black_start:\s*" + _NUMBER + r"\s+black_end:\s*" + _NUMBER + r"\s+black_duration:\s*"
    + _NUMBER
)  # fmt: skip
_SILENCE_START = re.compile(r"silence_start:\s*" + _NUMBER)
_SILENCE_END = re.compile(r"silence_end:\s*" + _NUMBER + r"\s*\|\s*silence_duration:\s*" + _NUMBER)
# ebur128's frame log (framelog=info), one line per 100 ms: `t:` is the window's end and FTPK
# the true peak of each channel within it.
_FRAME_PEAK = re.compile(
    r"\bt:\s*(\d+(?:\.\d*)?)\s[^\n]*?FTPK:((?:\s*-?(?:\d+(?:\.\d*)?|inf))+)\s*dBFS"
)
# ebur128 writes a frame line in several calls: when another thread's line lands in between
# (see _ASTATS_LINE), the rest goes on a later line of its own, prefixed anew.
_EBUR128_LINE = re.compile(r"^\[(Parsed_ebur128_\d+) @ [^\]]+\]\s*(?:\[info\]\s*)?(.*)$", re.M)
EBUR128_WINDOW = 0.1
# The per-track level graph (pipeline.track_level_args): astats' per-channel peaks, in the
# graph's channel order. The graphs of one ffmpeg run go in threads of their own, and ffmpeg's
# log decides per call whether to print the `[Parsed_astats_N @ ...]` prefix: when ebur128's
# frame line (written in several calls) is half-way, astats' next line comes out unprefixed,
# glued to it (`... LRA: 0.0 LUChannel: 1`; a 6-channel HDR master lost its only track's
# peak so in CI). So the lines are found with or without their prefix, and an instance's
# lines are told apart by where its channels restart at 1: the instances of the level graph
# end one after another in its one thread, each printing channel 1, 2, ... in order.
_ASTATS_LINE = re.compile(
    r"(?:\[Parsed_astats_(\d+) @ [^\]]+\]\s*(?:\[info\]\s*)?)?(Channel|Peak level dB):\s*" + _NUMBER
)
# Decoder complaints worth counting (a damaged master still decodes, with these on the way).
_DECODE_ERROR = re.compile(
    r"^\[(?:h264|hevc|mpeg2video|mpeg4|prores|dnxhd|mjpeg|aac|mp3|ac3|pcm_\w+|mxf|mov,mp4[^\]]*)"
    r" @ [^\]]+\] \[error\]",
    re.M,
)


@dataclass(frozen=True)
class Interval:
    """A stretch of time, in seconds from the start of the master."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return max(0.0, self.end - self.start)


@dataclass
class Measurements:
    """What the pipeline measured on the programme mix and the picture."""

    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    # Where the highest true peak is: the start of its 100 ms window, in seconds.
    true_peak_at: float | None = None
    loudness_range_lu: float | None = None
    black: list[Interval] = field(default_factory=list)
    silence: list[Interval] = field(default_factory=list)
    decode_errors: int = 0
    # Sample peak of each source audio track in dBFS, by 1-based track number.
    track_peaks: dict[int, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form for `Asset.qc`."""
        data = asdict(self)
        data["black"] = [
            {"start": i.start, "end": i.end, "duration": round(i.duration, 3)} for i in self.black
        ]
        data["silence"] = [
            {"start": i.start, "end": i.end, "duration": round(i.duration, 3)} for i in self.silence
        ]
        # JSON has no -inf (PostgreSQL refuses it): digital silence is stored as null.
        data["track_peaks"] = {
            str(track): None if math.isinf(peak) else round(peak, 1)
            for track, peak in self.track_peaks.items()
        }
        return data


def parse_log(log: str, *, duration: float, level_channels: Sequence[int] = ()) -> Measurements:
    """Extract loudness, true peak, LRA, black and silence intervals from an ffmpeg log.

    `level_channels` gives the channel count of each track the level graph measured, in its
    order; `track_peaks` is then keyed by that order (1-based).
    """
    found = Measurements()
    found.integrated_lufs = _last_float(_INTEGRATED, log)
    found.true_peak_dbtp = _last_float(_TRUE_PEAK, log)
    found.loudness_range_lu = _last_float(_LRA, log)
    found.true_peak_at = _true_peak_at(log)
    for match in _BLACK.finditer(log):
        found.black.append(Interval(_num(match.group(1)), _num(match.group(2))))
    found.silence = _silences(log, duration=duration)
    found.decode_errors = len(_DECODE_ERROR.findall(log))
    found.track_peaks = _track_peaks(log, level_channels)
    return found


def _track_peaks(log: str, level_channels: Sequence[int]) -> dict[int, float]:
    """The highest channel peak of each levelled track (1-based in the graph's order).

    One astats instance measures all tracks (merged), or each track has its own (beyond
    64 channels); a track whose channels are not all in the log is left unmeasured.
    """
    instances = _astats_instances(log)
    if len(instances) == 1:
        merged, per_track = instances[0], []
        for count in level_channels:
            per_track.append(merged[:count])
            merged = merged[count:]
    elif len(instances) == len(level_channels):
        per_track = instances
    else:
        return {}
    pairs = zip(per_track, level_channels, strict=True)
    return {
        position: max(peaks)
        for position, (peaks, count) in enumerate(pairs, start=1)
        if peaks and len(peaks) == count
    }


def _astats_instances(log: str) -> list[list[float]]:
    """Each astats instance's channel peaks (channel 1 first), instances in the graph's order.

    An instance whose prefix was lost on every one of its lines cannot be put in order among
    several: then none is returned rather than a peak given to the wrong track. A channel
    missing from an instance's lines ends its list there.
    """
    found: list[tuple[int | None, dict[int, float]]] = []
    channel: int | None = None
    for match in _ASTATS_LINE.finditer(log):
        number, kind, value = match.group(1), match.group(2), match.group(3)
        if kind == "Channel":
            channel = int(float(value))
            if channel == 1:
                found.append((None, {}))
        elif found and channel is not None:
            found[-1][1][channel] = _num(value)
            channel = None
        if number is not None and found and found[-1][0] is None:
            found[-1] = (int(number), found[-1][1])
    if len(found) > 1 and any(number is None for number, _ in found):
        return []
    instances = []
    for _, channels in sorted(found, key=lambda item: item[0] or 0):
        peaks: list[float] = []
        while len(peaks) + 1 in channels:
            peaks.append(channels[len(peaks) + 1])
        instances.append(peaks)
    return instances


def _true_peak_at(log: str) -> float | None:
    """The start of the first 100 ms window holding the highest true peak of the mix."""
    best, at = -math.inf, None
    for match in _FRAME_PEAK.finditer(_ebur128_frame_lines(log)):
        peak = max(float(value) for value in match.group(2).split())
        if peak > best:
            best, at = peak, max(0.0, round(float(match.group(1)) - EBUR128_WINDOW, 3))
    return at


def _ebur128_frame_lines(log: str) -> str:
    """ebur128's frame lines, each whole again: a line's later parts joined to its `t:`."""
    frames: list[str] = []
    last_of: dict[str, int] = {}
    for match in _EBUR128_LINE.finditer(log):
        instance, text = match.groups()
        if text.startswith("t:"):
            last_of[instance] = len(frames)
            frames.append(text)
        elif instance in last_of:
            frames[last_of[instance]] += text
    return "\n".join(frames)


def _silences(log: str, *, duration: float) -> list[Interval]:
    events = sorted(
        [(m.start(), "start", _num(m.group(1))) for m in _SILENCE_START.finditer(log)]
        + [(m.start(), "end", _num(m.group(1))) for m in _SILENCE_END.finditer(log)]
    )
    intervals: list[Interval] = []
    opened: float | None = None
    for _, what, value in events:
        if what == "start":
            opened = max(0.0, value)
        elif opened is not None:
            intervals.append(Interval(round(opened, 3), round(value, 3)))
            opened = None
    if opened is not None:
        # Silent to the end: older ffmpeg never logs the closing silence_end.
        intervals.append(Interval(round(opened, 3), round(duration, 3)))
    return intervals


def _num(text: str) -> float:
    return float(text)


def _last_float(pattern: re.Pattern[str], text: str) -> float | None:
    matches = pattern.findall(text)
    if not matches:
        return None
    value = float(matches[-1])
    return None if value != value else value  # NaN means "not measurable"
