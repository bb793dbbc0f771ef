"""Which audio of a broadcast master becomes the proxy's stereo programme mix, and its graph.

One rule per source layout (tracks found silent are left out first, unless all are):

    no audio                       -> no programme mix (QC says so)
    1 mono track                   -> dual mono (the track on both sides)
    2 or more mono tracks          -> tracks N+M as L/R (setting, default 1+2: EBU R 123
                                      puts the programme on tracks 1+2 of 4, 8 or 16)
    a 2-channel track (stereo, or
    "2 channels" in MXF/MOV)       -> that track as is; with 2 or 4 stereo tracks, the first
    5.1, 7.1 or another surround   -> ITU-R BS.775 downmix (libswresample's default matrix:
                                      centre and surrounds at -3 dB, LFE dropped)
    6 channels with no layout      -> read as 5.1 in SMPTE order (L R C LFE Ls Rs), downmixed
    3+ discrete channels otherwise -> channels N+M of that track as L/R

The stereo-pair setting names track numbers of the master (1-based, counting every audio
track, silent or not). When one of the two is silent, the other carries the programme and is
used as dual mono; when both are silent, the first two mono tracks with sound are L/R (one
alone: dual mono). A setting naming tracks that are not mono tracks of the master falls back
to the first two mono tracks.

A per-asset `AudioMapping` replaces the rule: one track (treated by the rule for its layout,
or two of its channels) or two tracks as L/R.

The graph never writes `pan` expressions: an `=` inside a filter argument is escaped once per
layer (filtergraph, option, ffmpeg-python), and getting that wrong is how mono masters once
failed. It uses only `channelmap` (index-to-index maps with `-` and `|`), `join` and
`aformat`, whose arguments hold no character that needs escaping, for any layout.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import ffmpeg

from pool_core.services.audio_mapping import AudioMapping, MappingError

__all__ = ["AudioMapping", "AudioPlan", "MappingError", "plan_audio", "programme_mix"]

# SMPTE ST 428 / ITU order of a 6-channel track delivered without a layout.
_SIX_AS_51 = "FL|FR|FC|LFE|BL|BR"


@dataclass(frozen=True)
class AudioPlan:
    """How to build the stereo programme mix from the master's audio streams."""

    # "pair": two streams' first channels as L/R; "dual_mono": one mono stream on both sides;
    # "as_is": a 2-channel stream; "downmix": a surround stream folded to stereo;
    # "pick": two channels of one stream.
    mode: str
    # Stream indexes in the master (absolute, as ffmpeg's "0:<index>" selector wants).
    streams: tuple[int, ...]
    # 1-based track numbers behind `streams` (for reports and QC).
    tracks: tuple[int, ...] = ()
    # For "pick": the 0-based channels of that stream used as L and R.
    channels: tuple[int, int] = (0, 1)
    # For "downmix" of a track without a layout: the layout its channels are read as.
    assume_layout: str = ""
    description: str = ""


def plan_audio(
    tracks: list[dict[str, Any]],
    stereo_tracks: list[int],
    *,
    silent: Collection[int] = (),
    mapping: AudioMapping | None = None,
) -> AudioPlan | None:
    """Choose the programme mix for the probed tracks (None when there is no audio).

    `silent` holds the 1-based numbers of tracks measured silent; the rule skips them
    unless every track is silent. A `mapping` is obeyed as given (MappingError if invalid).
    """
    # A track no decoder knows cannot be mixed (it keeps its number and probe entry).
    tracks = [t for t in tracks if t.get("channels")]
    if not tracks:
        return None
    if mapping is not None:
        return _mapped(tracks, mapping)
    heard = [t for t in tracks if _number(t) not in silent] or tracks
    first = heard[0]
    if first["channels"] == 1:
        return _monos([t for t in tracks if t["channels"] == 1], stereo_tracks, silent)
    return _whole(first, stereo_tracks)


def _monos(
    monos: list[dict[str, Any]], stereo_tracks: list[int], silent: Collection[int]
) -> AudioPlan:
    """The configured pair of mono tracks, by track number, with silent ones replaced."""
    by_number = {_number(t): t for t in monos}
    wanted = stereo_tracks[:2]
    if len(wanted) < 2 or not all(n in by_number for n in wanted) or len(monos) < 2:
        wanted = [_number(t) for t in monos[:2]]
    heard = [n for n in wanted if n not in silent]
    if len(heard) == 2 or len(wanted) < 2:
        chosen = wanted
    elif heard:
        # Half of the pair carries the programme: a mono programme, heard on both sides.
        return _whole(by_number[heard[0]])
    else:
        chosen = [_number(t) for t in monos if _number(t) not in silent][:2] or wanted
    if len(chosen) < 2:
        return _whole(by_number[chosen[0]])
    return _two(by_number[chosen[0]], by_number[chosen[1]], "mono tracks {}+{} as left/right")


def _mapped(tracks: list[dict[str, Any]], mapping: AudioMapping) -> AudioPlan:
    mapping.check(tracks)
    by_number = {_number(t): t for t in tracks}
    if mapping.left is not None and mapping.right is not None:
        return _two(by_number[mapping.left], by_number[mapping.right], "tracks {}+{} as left/right")
    chosen = by_number[mapping.track or 0]
    if mapping.channels is None:
        return _whole(chosen)
    left, right = mapping.channels
    return AudioPlan(
        mode="pick",
        streams=(chosen["index"],),
        tracks=(_number(chosen),),
        channels=(left - 1, right - 1),
        description=f"channels {left}+{right} of track {_number(chosen)} as left/right",
    )


def _whole(track: dict[str, Any], stereo_tracks: list[int] | None = None) -> AudioPlan:
    """One track by the rule for its own layout."""
    number, count = _number(track), int(track["channels"])
    layout = str(track.get("layout") or "")
    base = AudioPlan(mode="as_is", streams=(track["index"],), tracks=(number,))
    if count == 1:
        return replace(base, mode="dual_mono", description=f"mono track {number} on both sides")
    if count == 2:
        return replace(base, description=f"track {number} ({layout}) as is")
    # PyAV names a layout without speaker positions "N channels" (or nothing at all).
    if layout and "channels" not in layout and layout != "unknown":
        return replace(
            base, mode="downmix", description=f"track {number} ({layout}) downmixed to stereo"
        )
    if count == 6:
        return replace(
            base,
            mode="downmix",
            assume_layout=_SIX_AS_51,
            description=f"track {number} (6 channels read as 5.1) downmixed to stereo",
        )
    left, right = _pair(stereo_tracks or [], count)
    return replace(
        base,
        mode="pick",
        channels=(left - 1, right - 1),
        description=f"channels {left}+{right} of track {number} ({count} discrete channels)",
    )


def _two(left: dict[str, Any], right: dict[str, Any], template: str) -> AudioPlan:
    numbers = (_number(left), _number(right))
    return AudioPlan(
        mode="pair",
        streams=(left["index"], right["index"]),
        tracks=numbers,
        description=template.format(*numbers),
    )


def _number(track: dict[str, Any]) -> int:
    return int(track.get("track") or 0)


def _pair(stereo_tracks: list[int], available: int) -> tuple[int, int]:
    if (
        len(stereo_tracks) >= 2
        and min(stereo_tracks[:2]) >= 1
        and max(stereo_tracks[:2]) <= available
    ):
        return stereo_tracks[0], stereo_tracks[1]
    return 1, 2


def programme_mix(master: Any, plan: AudioPlan | None) -> Any:
    """The ffmpeg-python stream of the stereo mix `plan` describes (None without audio)."""
    if plan is None:
        return None
    streams = [master[str(index)] for index in plan.streams]
    if plan.mode == "pair":
        # `join` takes channel 0 of each input whatever its layout (mono, "1 channels", or
        # the first channel of a wider track).
        return ffmpeg.filter(
            streams, "join", inputs=2, channel_layout="stereo", map="0.0-FL|1.0-FR"
        )
    if plan.mode == "dual_mono":
        return streams[0].filter("channelmap", map="0-FL|0-FR", channel_layout="stereo")
    if plan.mode == "as_is":
        return streams[0].filter("channelmap", map="0-FL|1-FR", channel_layout="stereo")
    if plan.mode == "pick":
        left, right = plan.channels
        return streams[0].filter("channelmap", map=f"{left}-FL|{right}-FR", channel_layout="stereo")
    source = streams[0]
    if plan.assume_layout:
        names = plan.assume_layout.split("|")
        source = source.filter(
            "channelmap",
            map="|".join(f"{n}-{name}" for n, name in enumerate(names)),
            channel_layout="5.1",
        )
    # libswresample folds a known layout down with the ITU coefficients.
    return source.filter("aformat", channel_layouts="stereo")
