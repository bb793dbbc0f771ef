"""QC findings of a subtitle track: what reading it found, and how it fits its master.

Reading findings (a guessed code page, overlapping cues, damaged blocks) are made once, when
the file is read, and stored with the track. The checks against the master (cues after the
programme's end, a frame rate other than the master's) are made whenever the track is shown,
from the master's technical metadata: the file may arrive before the master is probed, and a
re-probe must not leave a stale verdict behind.
"""

from __future__ import annotations

from typing import Any

from pool_core.subtitles.convert import Conversion, Cue

# Cues may overlap this much (two frames at 25 fps) without a finding: timing tools round.
OVERLAP_TOLERANCE = 0.08
# A cue may end this long after the programme (the master's last frame, rounding).
DURATION_TOLERANCE = 0.5
# Declared and actual frame rates differ when more than this apart (29.97 vs 30 do).
FRAME_RATE_TOLERANCE = 0.01
MAX_LISTED = 5


def timecode(seconds: float) -> str:
    """`HH:MM:SS.mmm` for a time in seconds."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def reading_findings(conversion: Conversion) -> list[dict[str, Any]]:
    """Findings stored with the track: notes from reading and overlapping cues."""
    findings = [
        {"code": "encoding" if "not Unicode" in note else "reading", "message": note}
        for note in conversion.notes
    ]
    overlaps = _overlaps(conversion.cues)
    if overlaps:
        where = ", ".join(timecode(t) for t in overlaps[:MAX_LISTED])
        more = f" and {len(overlaps) - MAX_LISTED} more" if len(overlaps) > MAX_LISTED else ""
        findings.append(
            {
                "code": "overlap",
                "message": f"{len(overlaps)} cue(s) start before the previous one ends "
                f"(by more than {OVERLAP_TOLERANCE:.2f} s), at {where}{more}",
            }
        )
    return findings


def master_findings(
    *, last_cue_end: float, frame_rate: float | None, fmt: str, technical: dict[str, Any]
) -> list[dict[str, Any]]:
    """Findings from comparing a track with its master's technical metadata (once probed)."""
    findings: list[dict[str, Any]] = []
    container = technical.get("container") or {}
    duration = container.get("duration")
    if isinstance(duration, int | float) and last_cue_end > duration + DURATION_TOLERANCE:
        findings.append(
            {
                "code": "after_end",
                "message": f"cues run until {timecode(last_cue_end)}, after the programme ends "
                f"at {timecode(duration)} (a wrong start timecode or another cut?)",
            }
        )
    video = technical.get("video") or {}
    master_rate = video.get("frame_rate")
    if (
        frame_rate is not None
        and isinstance(master_rate, int | float)
        and abs(frame_rate - master_rate) > FRAME_RATE_TOLERANCE
    ):
        findings.append(
            {
                "code": "frame_rate",
                "message": f"the {fmt.upper()} file is timed at {frame_rate:.3f} fps but the "
                f"master runs at {master_rate:.3f} fps; its frame-based times will drift",
            }
        )
    return findings


def _overlaps(cues: list[Cue]) -> list[float]:
    starts = []
    latest_end = None
    for cue in cues:
        if latest_end is not None and cue.start < latest_end - OVERLAP_TOLERANCE:
            starts.append(cue.start)
        latest_end = cue.end if latest_end is None else max(latest_end, cue.end)
    return starts
