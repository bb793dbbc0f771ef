"""The programme-mix rule and its filter graph, one case per source layout, on real ffmpeg.

Each case writes a tiny MOV file (MKV for layouts without speaker positions, as MXF
delivers them) whose every channel carries its own constant level
(track t, channel c -> (16 t + c) / 1000 full scale), probes it as the worker does, builds the
graph with `programme_mix` and runs it: the left and right levels of the result say exactly
which source channel went where, and any invalid filter syntax fails the run.
"""

from __future__ import annotations

import array
import subprocess
import wave
from pathlib import Path

import ffmpeg
import pytest

from transcode.audio import AudioMapping, MappingError, plan_audio, programme_mix
from transcode.probe import probe

CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6, "7.1": 8, "6c": 6, "8c": 8}


def level(track: int, channel: int) -> float:
    """The constant a source channel carries (1-based track and channel)."""
    return (16 * track + channel) / 1000


def itu_downmix(layout: str) -> tuple[float, float]:
    """ITU-R BS.775 stereo of track 1: centre and surrounds at -3 dB, LFE dropped.

    Channel order FL FR FC LFE BL BR (SL SR for 7.1). libswresample scales the matrix so
    that its largest row sums to 1 (no clipping in integer samples).
    """
    c = [level(1, n) for n in range(1, CHANNELS[layout] + 1)]
    k = 0.5**0.5  # -3 dB, as the ITU matrix writes it (1/sqrt 2)
    surrounds_left, surrounds_right = c[4::2], c[5::2]
    left = c[0] + k * c[2] + k * sum(surrounds_left)
    right = c[1] + k * c[2] + k * sum(surrounds_right)
    gain = 1 / (1 + k + k * len(surrounds_left))
    return left * gain, right * gain


def make_source(ffmpeg_path: str, path: Path, layouts: list[str], silent: set[int]) -> Path:
    args = [ffmpeg_path, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    for track, layout in enumerate(layouts, start=1):
        count = CHANNELS[layout]
        exprs = "|".join(
            "0" if track in silent else f"{level(track, c):.4f}" for c in range(1, count + 1)
        )
        args += ["-f", "lavfi", "-i", f"aevalsrc={exprs}:s=48000:d=0.2:c={layout}"]
    for n in range(len(layouts)):
        args += ["-map", f"{n}:a"]
    # MOV keeps speaker layouts; Matroska stores none, so 6c/8c stay unpositioned there.
    wrapper = "matroska" if any(layout.endswith("c") for layout in layouts) else "mov"
    subprocess.run([*args, "-c:a", "pcm_s16le", "-f", wrapper, str(path)], check=True, timeout=60)
    return path


def run_mix(ffmpeg_path: str, source: Path, plan: object, out: Path) -> tuple[float, float]:
    """Run the graph; return the mean left and right levels of the stereo result."""
    master = ffmpeg.input(str(source))
    mix = programme_mix(master, plan)  # type: ignore[arg-type]
    args = ffmpeg.output(mix, str(out), acodec="pcm_s16le", f="wav").compile(
        cmd=ffmpeg_path, overwrite_output=True
    )
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    with wave.open(str(out)) as wav:
        assert wav.getnchannels() == 2
        samples = array.array("h", wav.readframes(wav.getnframes()))
    left, right = samples[0::2], samples[1::2]
    return sum(left) / len(left) / 32768, sum(right) / len(right) / 32768


# (layouts, silent tracks, mapping, stereo_tracks setting, expected description,
#  expected (left, right) as (track, channel), or None for a downmix)
CASES = [
    (["mono"], set(), None, [1, 2], "mono track 1 on both sides", ((1, 1), (1, 1))),
    (["mono"] * 2, set(), None, [1, 2], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["stereo"], set(), None, [1, 2], "track 1 (stereo) as is", ((1, 1), (1, 2))),
    (["stereo"] * 2, set(), None, [1, 2], "track 1 (stereo) as is", ((1, 1), (1, 2))),
    (["stereo"] * 4, set(), None, [1, 2], "track 1 (stereo) as is", ((1, 1), (1, 2))),
    (["5.1"], set(), None, [1, 2], "track 1 (5.1) downmixed to stereo", None),
    (["7.1"], set(), None, [1, 2], "track 1 (7.1) downmixed to stereo", None),
    (["6c"], set(), None, [1, 2], "track 1 (6 channels read as 5.1) downmixed to stereo", None),
    (["mono"] * 4, set(), None, [1, 2], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["mono"] * 8, set(), None, [1, 2], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["mono"] * 16, set(), None, [1, 2], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["mono"] * 8, set(), None, [3, 4], "mono tracks 3+4 as left/right", ((3, 1), (4, 1))),
    (["8c"], set(), None, [1, 2], "channels 1+2 of track 1 (8 discrete channels)",
     ((1, 1), (1, 2))),
    # Silent tracks are skipped by the rule: half a silent pair leaves a mono programme.
    (["mono"] * 8, {1}, None, [1, 2], "mono track 2 on both sides", ((2, 1), (2, 1))),
    (["mono"] * 8, {1, 2}, None, [1, 2], "mono tracks 3+4 as left/right", ((3, 1), (4, 1))),
    # The setting names track numbers of the master, whatever else is silent.
    (["mono"] * 8, {1}, None, [3, 4], "mono tracks 3+4 as left/right", ((3, 1), (4, 1))),
    (["mono"] * 8, {1, 2, 5}, None, [5, 6], "mono track 6 on both sides", ((6, 1), (6, 1))),
    (["mono"] * 8, {3, 4}, None, [3, 4], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["stereo", "mono", "mono", "mono"], {1}, None, [3, 4], "mono tracks 3+4 as left/right",
     ((3, 1), (4, 1))),
    (["mono"] * 4, set(), None, [7, 8], "mono tracks 1+2 as left/right", ((1, 1), (2, 1))),
    (["mono", "stereo"], {1}, None, [1, 2], "track 2 (stereo) as is", ((2, 1), (2, 2))),
    (["mono"] * 2, {1, 2}, None, [1, 2], "mono tracks 1+2 as left/right", ((1, 0), (2, 0))),
    # Per-asset overrides.
    (["mono"] * 8, set(), AudioMapping(left=5, right=6), [1, 2], "tracks 5+6 as left/right",
     ((5, 1), (6, 1))),
    (["stereo"] * 4, set(), AudioMapping(track=3), [1, 2], "track 3 (stereo) as is",
     ((3, 1), (3, 2))),
    (["8c"], set(), AudioMapping(track=1, channels=(7, 8)), [1, 2],
     "channels 7+8 of track 1 as left/right", ((1, 7), (1, 8))),
    (["stereo", "mono"], set(), AudioMapping(track=2), [1, 2], "mono track 2 on both sides",
     ((2, 1), (2, 1))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layouts", "silent", "mapping", "pair", "description", "expected"),
    CASES,
    ids=[f"{'+'.join(c[0])}-silent{sorted(c[1])}-{c[2]}-{c[3]}" for c in CASES],
)
def test_each_layout_gives_a_valid_stereo_mix(
    ffmpeg_path: str,
    tmp_path: Path,
    layouts: list[str],
    silent: set[int],
    mapping: AudioMapping | None,
    pair: list[int],
    description: str,
    expected: tuple[tuple[int, int], tuple[int, int]] | None,
) -> None:
    source = make_source(ffmpeg_path, tmp_path / "src", layouts, silent)
    tracks = probe(str(source)).audio
    assert len(tracks) == len(layouts)

    plan = plan_audio(tracks, pair, silent=silent, mapping=mapping)

    assert plan is not None and plan.description == description
    left, right = run_mix(ffmpeg_path, source, plan, tmp_path / "mix.wav")
    if expected is None:
        want_left, want_right = itu_downmix(layouts[0])
        assert left == pytest.approx(want_left, abs=3e-4)
        assert right == pytest.approx(want_right, abs=3e-4)
        return
    (lt, lc), (rt, rc) = expected
    want_left = 0.0 if lt in silent else level(lt, lc)
    want_right = 0.0 if rt in silent else level(rt, rc)
    assert left == pytest.approx(want_left, abs=3e-4)
    assert right == pytest.approx(want_right, abs=3e-4)


def test_no_audio_gives_no_mix() -> None:
    assert plan_audio([], [1, 2]) is None


@pytest.mark.parametrize(
    "mapping",
    [AudioMapping(track=3), AudioMapping(left=1, right=9), AudioMapping(track=1, channels=(1, 3))],
)
def test_a_mapping_naming_missing_tracks_is_refused(mapping: AudioMapping) -> None:
    tracks = [
        {"index": 1, "track": 1, "channels": 2, "layout": "stereo"},
        {"index": 2, "track": 2, "channels": 1, "layout": "mono"},
    ]
    with pytest.raises(MappingError):
        plan_audio(tracks, [1, 2], mapping=mapping)
