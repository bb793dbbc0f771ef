"""The pieces on their own: tools, probe, audio mapping, log parsing, QC rules, WebVTT."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pool_core.errors import ConfigurationError
from pool_core.models import QcVerdict
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.media import MediaFactory
from transcode.audio import plan_audio
from transcode.measure import Interval, Measurements, parse_log
from transcode.pipeline import build_plan, deinterlace_mode, ladder, storyboard_spec
from transcode.probe import MediaInfo, RangeReader, probe
from transcode.qc import evaluate
from transcode.tools import check_ffmpeg, find_font, resolve_ffmpeg

SETTINGS = Settings(s3_endpoint="")


def mono(n: int) -> dict[str, object]:
    return {"index": n, "track": n, "channels": 1, "layout": "mono"}


def media_info(duration: float = 60.0, *, height: int = 1080, interlaced: bool = True) -> MediaInfo:
    return MediaInfo(
        {
            "container": {"duration": duration, "start_timecode": "10:00:00:00"},
            "video": {
                "index": 0,
                "width": height * 16 // 9,
                "height": height,
                "frame_rate_fraction": "25/1",
                "display_aspect_ratio": "16:9",
                "scan_type": "interlaced" if interlaced else "progressive",
                "field_order": "tff" if interlaced else None,
            },
            "audio": [mono(n) for n in range(1, 9)],
            "subtitles": [],
        }
    )


def test_the_bundled_ffmpeg_has_what_the_pipeline_needs() -> None:
    info = check_ffmpeg(SETTINGS)
    assert info.missing() == []
    assert {"libx264", "aac"} <= info.encoders
    assert {"drawtext", "ebur128", "bwdif"} <= info.filters
    assert Path(find_font(SETTINGS)).is_file()


def test_configured_ffmpeg_and_font_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="JOINTPOOL_FFMPEG"):
        resolve_ffmpeg(Settings(s3_endpoint="", ffmpeg=str(tmp_path / "nope")))
    with pytest.raises(ConfigurationError, match="JOINTPOOL_TRANSCODE_FONT"):
        find_font(Settings(s3_endpoint="", transcode_font=str(tmp_path / "nope.ttf")))


def test_probe_reads_subtitles_and_languages(
    media: MediaFactory, ffmpeg_path: str, tmp_path: Path
) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nSalam\n", encoding="utf-8")
    target = tmp_path / "with_subs.mp4"
    subprocess.run(
        [ffmpeg_path, "-loglevel", "error", "-y", "-i", str(media.path("h264_stereo_mp4")),
         "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
         "-metadata:s:s:0", "language=aze", str(target)],
        check=True,
    )  # fmt: skip
    info = probe(str(target))
    assert info.technical["subtitles"] == [{"index": 2, "codec": "mov_text", "language": "aze"}]
    assert info.technical["audio"][0]["layout"] == "stereo"


def test_probe_through_ranged_reads_matches_the_local_file(
    storage: S3Storage, media: MediaFactory
) -> None:
    path = media.path("prores_mov")
    storage.put("m/prores.mov", path.read_bytes())
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        calls.append((start, end))
        return storage.get("m/prores.mov", start=start, end=end)

    remote = probe(RangeReader(fetch, path.stat().st_size, block=64 << 10))
    local = probe(str(path))
    assert remote.technical == local.technical
    assert remote.technical["audio"][0]["language"] == "aze"
    fetched = sum(end - start + 1 for start, end in calls)
    assert fetched < path.stat().st_size  # headers and index, not the whole master


def test_audio_mapping_for_broadcast_layouts() -> None:
    eight = [mono(n) for n in range(1, 9)]
    pair = plan_audio(eight, [1, 2])
    assert pair is not None and (pair.mode, pair.streams) == ("pair", (1, 2))
    other = plan_audio(eight, [3, 4])
    assert other is not None and other.streams == (3, 4)
    assert other.description == "mono tracks 3+4 as left/right"
    beyond = plan_audio(eight[:2], [7, 8])
    assert beyond is not None and beyond.streams == (1, 2)
    single = plan_audio([mono(1)], [1, 2])
    assert single is not None and single.mode == "dual_mono"
    surround = plan_audio([{"index": 1, "channels": 6, "layout": "5.1(side)"}], [1, 2])
    assert surround is not None and surround.mode == "downmix"
    discrete = plan_audio([{"index": 1, "channels": 8, "layout": "8 channels"}], [3, 4])
    assert discrete is not None and (discrete.mode, discrete.channels) == ("pick", (2, 3))
    assert plan_audio([], [1, 2]) is None


def test_ladder_never_upscales_and_deinterlace_follows_the_field_height() -> None:
    settings = SETTINGS.model_copy(update={"transcode_ladder": [1080, 540, 540, 360]})
    assert [(r.width, r.height) for r in ladder(media_info(height=576), settings)] == [
        (1024, 576),
        (960, 540),
        (640, 360),
    ]
    assert deinterlace_mode(media_info(), SETTINGS, 540) == "field"
    assert deinterlace_mode(media_info(), SETTINGS, 720) == "bwdif"
    assert deinterlace_mode(media_info(interlaced=False), SETTINGS, 540) == "none"


def test_storyboard_interval_grows_for_long_masters() -> None:
    assert storyboard_spec(media_info(60.0), SETTINGS).frames == 30
    long = storyboard_spec(media_info(3 * 3600.0), SETTINGS)
    assert long.frames == SETTINGS.transcode_storyboard_max_frames
    assert long.interval == pytest.approx(27.0)


def test_graph_reads_the_master_once_and_writes_every_output(tmp_path: Path) -> None:
    plan = build_plan(
        ffmpeg_path="ffmpeg",
        source="http://127.0.0.1:1/master.mxf?X-Amz-Signature=x",
        media=media_info(),
        settings=SETTINGS.model_copy(update={"transcode_ladder": [540, 360]}),
        workdir=tmp_path,
        font="/fonts/DejaVuSans.ttf",
        watermark="PREVIEW · Azərbaycan TV · not for broadcast",
    )
    args = plan.args
    assert args.count("-i") == 1
    assert "-reconnect" in args and "-rw_timeout" in args
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("[0:0]") == 1 and "join=" in graph and "ebur128" in graph
    assert "timecode=10\\\\:00\\\\:00\\\\:00" in graph and "field=type=top" in graph
    outputs = [a for a in args if a.startswith(str(tmp_path)) and not a.endswith("progress.txt")]
    assert {Path(o).name for o in outputs} == {
        "poster.jpg", "%04d.jpg", "%03d.jpg", "proxy_540p.mp4", "proxy_360p.mp4"
    }  # fmt: skip
    assert (tmp_path / "watermark.txt").read_text() == "PREVIEW · Azərbaycan TV · not for broadcast"


LOG = """
[Parsed_silencedetect_15 @ 0x1] [info] silence_start: 0
[Parsed_blackdetect_3 @ 0x2] [info] black_start:0 black_end:1.52 black_duration:1.52
[Parsed_silencedetect_15 @ 0x1] [info] silence_end: 1.513854 | silence_duration: 1.513854
[h264 @ 0x3] [error] Invalid NAL unit size (1234 > 99).
[Parsed_ebur128_14 @ 0x4] [info] t: 0.0999792  TARGET:-23 LUFS    M:-120.7 S:-120.7     I: -70.0 LUFS       LRA:   0.0 LU  FTPK: -inf -inf dBFS  TPK: -inf -inf dBFS
[Parsed_ebur128_14 @ 0x4] [info] t: 2.099979   TARGET:-23 LUFS    M: -23.0 S:-120.7     I: -23.0 LUFS       LRA:   0.0 LU  FTPK: -23.0 -22.7 dBFS  TPK: -23.0 -22.7 dBFS
[Parsed_ebur128_14 @ 0x4] [info] t: 2.199979   TARGET:-23 LUFS    M: -23.0 S:-120.7     I: -23.0 LUFS       LRA:   0.0 LU  FTPK: -22.7 -23.0 dBFS  TPK: -22.7 -22.7 dBFS
[Parsed_ebur128_14 @ 0x4] [info] Summary:

  Integrated loudness:
    I:         -23.2 LUFS
    Threshold: -33.2 LUFS

  Loudness range:
    LRA:         2.8 LU
    Threshold: -43.9 LUFS

  True peak:
    Peak:      -22.7 dBFS
[Parsed_blackdetect_3 @ 0x2] [info] black_start:3.52 black_end:4.96 black_duration:1.44
[Parsed_silencedetect_15 @ 0x1] [info] silence_start: 4.2
"""  # noqa: E501 (ebur128's frame lines as ffmpeg writes them)


def test_log_parsing_reads_loudness_black_and_silence() -> None:
    measured = parse_log(LOG, duration=5.0)
    assert (measured.integrated_lufs, measured.loudness_range_lu, measured.true_peak_dbtp) == (
        -23.2,
        2.8,
        -22.7,
    )
    assert measured.black == [Interval(0.0, 1.52), Interval(3.52, 4.96)]
    assert measured.silence == [Interval(0.0, 1.514), Interval(4.2, 5.0)]
    assert measured.decode_errors == 1
    # The first window holding the highest true peak, by its start.
    assert measured.true_peak_at == 2.0


LEVELS = """
[Parsed_amerge_0 @ 0x5] [warning] No channel layout for input 1
[Parsed_astats_1 @ 0x6] [info] Channel: 1
[Parsed_astats_1 @ 0x6] [info] Peak level dB: -23.000000
[Parsed_astats_1 @ 0x6] [info] Channel: 2
[Parsed_astats_1 @ 0x6] [info] Peak level dB: -inf
[Parsed_astats_1 @ 0x6] [info] Channel: 3
[Parsed_astats_1 @ 0x6] [info] Peak level dB: -12.500000
"""


def test_level_graph_peaks_are_read_per_track() -> None:
    # Tracks of 1 and 2 channels merged into one stream: the track's peak is its loudest
    # channel's; a count that does not fit the log leaves the track unmeasured.
    assert parse_log(LEVELS, duration=1.0, level_channels=[1, 2]).track_peaks == {
        1: -23.0,
        2: -12.5,
    }
    assert parse_log(LEVELS, duration=1.0, level_channels=[2, 1]).track_peaks == {
        1: -23.0,
        2: -12.5,
    }
    assert parse_log(LEVELS, duration=1.0, level_channels=[2, 2]).track_peaks == {1: -23.0}


INTERLEAVED_LEVELS = """
[Parsed_astats_3 @ 0x7] [info] Channel: 1
[Parsed_ebur128_0 @ 0x9] [info] Summary:
[Parsed_astats_3 @ 0x7] [info] Peak level dB: -30.000000
[Parsed_astats_3 @ 0x7] [info] Channel: 2
[Parsed_silencedetect_1 @ 0xa] [info] silence_end: 4.2 | silence_duration: 0.8
[out#1/null @ 0xb] [info] video:0KiB audio:12KiB
[Parsed_astats_3 @ 0x7] [info] Peak level dB: -6.000000
[Parsed_astats_3 @ 0x7] [info] Channel: 3
[Parsed_astats_3 @ 0x7] [info] Peak level dB: -inf
[Parsed_astats_3 @ 0x7] [info] Channel: 4
[Parsed_ebur128_0 @ 0x9] [info]   Integrated loudness:
[Parsed_astats_3 @ 0x7] [info] Peak level dB: -12.000000
"""


def test_level_graph_peaks_survive_other_filters_lines_in_between() -> None:
    # The graphs of one run end in their own threads: another filter's summary can fall
    # between a channel's two lines. Every channel still counts (before: the 4-channel
    # track came out unmeasured).
    assert parse_log(INTERLEAVED_LEVELS, duration=5.0, level_channels=[4]).track_peaks == {1: -6.0}
    assert parse_log(INTERLEAVED_LEVELS, duration=5.0, level_channels=[2, 2]).track_peaks == {
        1: -6.0,
        2: -12.0,
    }


# ffmpeg 9 in CI: astats' first line came while ebur128's frame line was half-written, so it
# lost its prefix and was glued to that line, and ebur128's rest got a line of its own.
UNPREFIXED_LEVELS = """
[Parsed_ebur128_20 @ 0x7f5fc003df80] [info] t: 1.999979   TARGET:-23 LUFS    M: -14.3 S:-120.7     I: -14.4 LUFS       LRA:   0.0 LUChannel: 1
[Parsed_astats_0 @ 0x7f5f9c0017c0] [info] Peak level dB: -18.492868
[Parsed_astats_0 @ 0x7f5f9c0017c0] [info] Channel: 2
[Parsed_astats_0 @ 0x7f5f9c0017c0] [info] Peak level dB: -18.492893
[Parsed_astats_0 @ 0x7f5f9c0017c0] [info] Channel: 3
[Parsed_ebur128_20 @ 0x7f5fc003df80] [info]   FTPK: -11.9 -11.9 dBFS  TPK: -10.8 -10.8 dBFS
[Parsed_ebur128_20 @ 0x7f5fc003df80] [info] t: 2.099979   TARGET:-23 LUFS    M: -14.3 S:-120.7     I: -14.4 LUFS       LRA:   0.0 LUPeak level dB: -43.692934
[Parsed_ebur128_20 @ 0x7f5fc003df80] [info]   FTPK: -11.9 -11.9 dBFS  TPK: -10.8 -10.8 dBFS
"""  # noqa: E501 (as ffmpeg wrote it)

# Beyond 64 channels each track has its own astats; the graph frees its filters in no fixed
# order, so the instances are put back in order by their number.
UNPREFIXED_INSTANCES = """
[Parsed_astats_5 @ 0x8] [info] Channel: 1
[Parsed_ebur128_20 @ 0x9] [info] t: 1.9   TARGET:-23 LUFS    M: -14.3 S:-120.7     I: -14.4 LUFS       LRA:   0.0 LUPeak level dB: -3.000000
[Parsed_ebur128_20 @ 0x9] [info] t: 2.0   TARGET:-23 LUFS    M: -14.3 S:-120.7     I: -14.4 LUFS       LRA:   0.0 LUChannel: 1
[Parsed_astats_2 @ 0x7] [info] Peak level dB: -20.000000
[Parsed_astats_2 @ 0x7] [info] Channel: 2
[Parsed_astats_2 @ 0x7] [info] Peak level dB: -9.000000
"""  # noqa: E501 (as ffmpeg writes them)


def test_level_graph_peaks_survive_a_lost_line_prefix() -> None:
    measured = parse_log(UNPREFIXED_LEVELS, duration=3.0, level_channels=[3])
    assert measured.track_peaks == {1: pytest.approx(-18.492868)}
    # ebur128's broken frame lines still count: the first of the two equal windows.
    assert measured.true_peak_at == 1.9
    assert parse_log(UNPREFIXED_LEVELS, duration=3.0, level_channels=[2, 1]).track_peaks == {
        1: pytest.approx(-18.492868),
        2: pytest.approx(-43.692934),
    }
    # Instance 2 is the first track (2 channels), instance 5 the second (1 channel).
    assert parse_log(UNPREFIXED_INSTANCES, duration=3.0, level_channels=[2, 1]).track_peaks == {
        1: -9.0,
        2: -3.0,
    }
    # An instance none of whose lines kept its number cannot be placed among several:
    # nothing is measured rather than a peak given to the wrong track.
    anonymous = UNPREFIXED_INSTANCES.replace("[Parsed_astats_5 @ 0x8] [info] ", "x ")
    assert parse_log(anonymous, duration=3.0, level_channels=[2, 1]).track_peaks == {}


def test_qc_rules_give_readable_findings() -> None:
    info = media_info(60.0)
    good = Measurements(integrated_lufs=-23.4, true_peak_dbtp=-3.0)
    assert evaluate(good, media=info, settings=SETTINGS, audio_description="x") == (
        QcVerdict.PASS,
        [],
    )
    quiet = Measurements(integrated_lufs=-27.0, true_peak_dbtp=-0.2, true_peak_at=12.2)
    verdict, findings = evaluate(
        quiet, media=info, settings=SETTINGS, audio_description="x", mix_tracks=(1, 2)
    )
    assert verdict is QcVerdict.FAIL
    # Each finding names the tracks and the master's timecode (it starts at 10:00:00:00).
    assert [f.message for f in findings] == [
        "Integrated loudness of the programme mix (tracks 1+2) is -27.0 LUFS "
        "(10:00:00:00-10:01:00:00), 4.0 LU too quiet; the target is -23.0 ± 1.0 LUFS "
        "(EBU R128).",
        "True peak of the programme mix (tracks 1+2) reaches -0.2 dBTP (at 10:00:12:05); "
        "the ceiling is -1.0 dBTP.",
    ]
    edges = Measurements(
        integrated_lufs=-23.0,
        true_peak_dbtp=-10.0,
        black=[Interval(0.0, 3.0), Interval(30.0, 35.0), Interval(58.0, 59.96)],
    )
    verdict, findings = evaluate(edges, media=info, settings=SETTINGS, audio_description="x")
    assert verdict is QcVerdict.WARN
    # Black in the middle, and 2 s at the tail (the allowed most), are not findings.
    assert [f.message for f in findings] == [
        "The picture is black for 3.0 s at the head (10:00:00:00-10:00:03:00); at most 2 s "
        "is allowed."
    ]
    # The detector's last stamp is the last frame's start (59.96): the tail runs to the end.
    ends = Measurements(
        integrated_lufs=-23.0,
        true_peak_dbtp=-10.0,
        black=[Interval(56.5, 59.96)],
        silence=[Interval(0.0, 2.52), Interval(20.0, 25.0), Interval(57.0, 60.0)],
    )
    verdict, findings = evaluate(
        ends, media=info, settings=SETTINGS, audio_description="x", mix_tracks=(1, 2)
    )
    assert verdict is QcVerdict.WARN
    assert [(f.check, f.severity, f.message) for f in findings] == [
        ("black", QcVerdict.WARN, "The picture is black for 3.5 s at the tail "
         "(10:00:56:12-10:01:00:00); at most 2 s is allowed."),
        ("silence", QcVerdict.WARN, "The programme mix (tracks 1+2) is silent for 2.5 s at the "
         "head (10:00:00:00-10:00:02:13); at most 2 s is allowed."),
        ("silence", QcVerdict.WARN, "The programme mix (tracks 1+2) is silent for 3.0 s at the "
         "tail (10:00:57:00-10:01:00:00); at most 2 s is allowed."),
    ]  # fmt: skip
    strict = SETTINGS.model_copy(update={"qc_head_tail_severity": "fail"})
    assert evaluate(edges, media=info, settings=strict, audio_description="x")[0] is QcVerdict.FAIL
    black = Measurements(integrated_lufs=-23.0, black=[Interval(0.0, 59.96)])
    assert evaluate(black, media=info, settings=SETTINGS, audio_description="x")[1][0].message == (
        "The picture is black throughout (10:00:00:00-10:01:00:00)."
    )
    mute = evaluate(Measurements(), media=info, settings=SETTINGS, audio_description=None)
    assert mute[0] is QcVerdict.FAIL
    assert mute[1][0].message == "The master has no audio track (10:00:00:00-10:01:00:00)."
    # A silent source track is named, with where it is silent.
    hushed = Measurements(
        integrated_lufs=-23.0, true_peak_dbtp=-10.0, track_peaks={1: -23.0, 2: float("-inf")}
    )
    verdict, findings = evaluate(
        hushed, media=info, settings=SETTINGS, audio_description="x", mix_tracks=(1,)
    )
    assert verdict is QcVerdict.WARN
    assert [f.check for f in findings] == ["silent_track"]
    assert findings[0].message.startswith(
        "Audio track 2 (1 ch) is silent throughout (10:00:00:00-10:01:00:00"
    )
    assert findings[0].message.endswith("the mix leaves it out.")


def test_proxy_encoder_options_come_from_settings(tmp_path: Path) -> None:
    def plan_args(params: str, workdir: Path) -> list[str]:
        workdir.mkdir()
        return build_plan(
            ffmpeg_path="ffmpeg",
            source="/masters/master.mxf",
            media=media_info(),
            settings=SETTINGS.model_copy(update={"transcode_x264_params": params}),
            workdir=workdir,
            font="/fonts/DejaVuSans.ttf",
            watermark="PREVIEW",
        ).args

    tuned = plan_args("me=dia:subme=1", tmp_path / "tuned")
    assert tuned[tuned.index("-x264-params") + 1] == "me=dia:subme=1"
    assert tuned[tuned.index("-filter_complex_threads") + 1] == "1"
    assert tuned.index("-filter_complex_threads") < tuned.index("-i")
    # Empty: the preset alone decides.
    assert "-x264-params" not in plan_args("", tmp_path / "preset")
    # MPEG-2 half-resolution decoding combs interlaced pictures (test_deinterlace): never used.
    assert "-lowres" not in tuned


@pytest.mark.parametrize(("codec", "threads"), [("mpeg2video", ["-threads", "1"]), ("h264", [])])
def test_mpeg2_is_decoded_on_one_thread(tmp_path: Path, codec: str, threads: list[str]) -> None:
    technical = media_info().technical
    technical["video"]["codec"] = codec
    args = build_plan(
        ffmpeg_path="ffmpeg",
        source="/masters/master.mxf",
        media=MediaInfo(technical),
        settings=SETTINGS,
        workdir=tmp_path,
        font="/fonts/DejaVuSans.ttf",
        watermark="PREVIEW",
    ).args
    # An input option: it sits right before the master's `-i`.
    at = args.index("-i")
    assert args[at - len(threads) : at] == threads
    assert ("-threads" in args) == bool(threads)


def test_drop_frame_timecode_is_burnt_in_as_drop_frame(tmp_path: Path) -> None:
    technical = media_info(interlaced=False).technical
    technical["container"]["start_timecode"] = "00:59:59;28"
    technical["video"]["frame_rate_fraction"] = "30000/1001"
    args = build_plan(
        ffmpeg_path="ffmpeg",
        source="/masters/master.mov",
        media=MediaInfo(technical),
        settings=SETTINGS,
        workdir=tmp_path,
        font="/fonts/DejaVuSans.ttf",
        watermark="PREVIEW",
    ).args
    graph = args[args.index("-filter_complex") + 1]
    # `;` (drop-frame) reaches drawtext escaped once for the graph parser, not as a separator.
    assert "timecode=00\\\\:59\\\\:59\\;28:timecode_rate=30000/1001" in graph
