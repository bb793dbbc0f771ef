"""Which audio of a broadcast master becomes the proxy's stereo programme mix.

eight (or any number of) mono tracks  -> tracks N+M (setting, default 1+2) as L/R
one mono track                        -> the same signal on both sides
a stereo, 5.1 or other known layout   -> that track, downmixed to stereo (ITU-R BS.775
                                         coefficients, ffmpeg's default matrix)
one track of discrete channels with
no known layout (e.g. "8 channels")   -> its channels N+M as L/R
no audio                              -> no programme mix (QC says so)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Layout names that mean "these channels are a speaker arrangement", not discrete tracks.
_DISCRETE_PREFIXES = ("1 channels", "2 channels")


@dataclass(frozen=True)
class AudioPlan:
    """How to build the stereo programme mix from the master's audio streams."""

    # "pair": two mono streams joined as L/R; "dual_mono": one mono stream on both sides;
    # "downmix": one multichannel stream folded to stereo; "pick": two channels of one stream.
    mode: str
    # Stream indexes in the master (absolute, as ffmpeg's "0:<index>" selector wants).
    streams: tuple[int, ...]
    # For "pick": the 0-based channels of that stream used as L and R.
    channels: tuple[int, int] = (0, 1)
    description: str = ""


def plan_audio(tracks: list[dict[str, Any]], stereo_tracks: list[int]) -> AudioPlan | None:
    """Choose the programme mix for the probed audio tracks (None when there is no audio)."""
    if not tracks:
        return None
    left, right = _pair(stereo_tracks)
    first = tracks[0]
    if first["channels"] == 1:
        monos = [track for track in tracks if track["channels"] == 1]
        if len(monos) >= 2:
            if max(left, right) > len(monos):
                left, right = 1, 2
            return AudioPlan(
                mode="pair",
                streams=(monos[left - 1]["index"], monos[right - 1]["index"]),
                description=f"mono tracks {left}+{right} as left/right",
            )
        return AudioPlan(
            mode="dual_mono",
            streams=(first["index"],),
            description="the single mono track on both sides",
        )
    layout = str(first.get("layout") or "")
    if not layout or "channels" in layout:
        count = int(first["channels"])
        if max(left, right) > count:
            left, right = 1, 2
        return AudioPlan(
            mode="pick",
            streams=(first["index"],),
            channels=(left - 1, right - 1),
            description=f"channels {left}+{right} of track 1 ({count} discrete channels)",
        )
    return AudioPlan(
        mode="downmix",
        streams=(first["index"],),
        description=f"track 1 ({layout}) downmixed to stereo"
        if layout != "stereo"
        else "track 1 (stereo)",
    )


def _pair(stereo_tracks: list[int]) -> tuple[int, int]:
    if len(stereo_tracks) >= 2 and min(stereo_tracks[:2]) >= 1:
        return stereo_tracks[0], stereo_tracks[1]
    return 1, 2
