"""The one ffmpeg process per master: a split filter graph that writes every output.

    master, decoded once
      video: crop IMX blanking, deinterlace, PQ/HLG tone-mapped to SDR BT.709,
             scale per rung, blackdetect (top rung)
        -> burnt-in timecode + watermark -> H.264 High MP4 (+faststart), one per rung
        -> poster frame, thumbnails every N s, storyboard tiles -> JPEG sprite sheets
      audio: programme stereo mix (transcode.audio) -> ebur128 (true peak) -> silencedetect
             -> AAC in each MP4
      every source audio track -> amerge -> astats (a graph of its own) -> null: the peak
             of each channel, so QC can name silent tracks and the service can re-mix
             without them

Deinterlacing in "auto" mode takes the temporally first field when the proxy is no taller
than one field (1080i to 540p: a field *is* a 540-line picture from one instant, so there is
no combing and nothing to interpolate, at a fraction of yadif's cost); taller proxies use
bwdif. The measurements (loudness, black, silence) are read back from ffmpeg's log.

Cost on 2 cores (60 s XDCAM 1080i50, CPU seconds): MPEG-2 decode ~8, field + scale ~2,
x264 ~10 with `transcode_x264_params` (~15 with the bare veryfast preset), drawtext ~2,
audio ~2. The MPEG-2 decoder's `-lowres 1` (960x540 straight from the decoder) was measured
and is deliberately not used: it saves under 1 s (the 50 Mb/s bitstream parse dominates, not
the IDCT) and on real interlaced motion it keeps both fields' lines, so moving edges comb
(PSNR 32.7 dB against the field path, where yadif+scale is 42.8 dB).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from pool_core.errors import JobError
from pool_core.settings import Settings
from transcode.audio import AudioMapping, AudioPlan, plan_audio, programme_mix
from transcode.probe import MediaInfo
from transcode.safety import input_options

# Below this many lines a proxy is useless; masters smaller than it are kept at their size.
MIN_DIMENSION = 16
# Detection floors; QC compares what was found with the (longer) thresholds in settings.
BLACK_MIN_SECONDS = 0.5
SILENCE_MIN_SECONDS = 0.5
SILENCE_NOISE_DB = -60
POSTER_MAX_OFFSET = 10.0
JPEG_QUALITY = 4  # mjpeg qscale: 2 best .. 31 worst
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
# IMX (SMPTE 356M D-10) stores 608 (625-line) or 512 (525-line) lines: 32 lines of VBI on
# top of the 576 or 480 picture lines its aspect ratio describes.
D10_SIZES = ((720, 608), (720, 512))
D10_VBI_LINES = 32
# Decoders run with one thread: MPEG-2 only slice-threads, and on 2 cores its per-frame
# hand-offs cost more than they bring (XDCAM 1080i, 20 s: 3.0 s CPU and 2.3 s wall with one
# thread, 3.1 s and 2.6 s with the default, at load ~6). H.264 frame-threads usefully: kept.
SINGLE_THREAD_DECODERS = ("mpeg2video",)
# amerge's limit on the channels of its inputs together.
AMERGE_MAX_CHANNELS = 64


@dataclass(frozen=True)
class ProxySpec:
    """One rung of the proxy ladder."""

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class StoryboardSpec:
    """How the storyboard is sampled and laid out in sprite sheets."""

    interval: float
    frames: int
    tile_width: int
    tile_height: int
    columns: int
    rows: int

    @property
    def per_sheet(self) -> int:
        """Tiles on one sprite sheet."""
        return self.columns * self.rows


@dataclass(frozen=True)
class Plan:
    """Everything one transcode writes, and the ffmpeg command that writes it."""

    workdir: Path
    proxies: list[ProxySpec]
    poster_time: float
    thumbnail_interval: float
    thumbnail_width: int
    storyboard: StoryboardSpec
    audio: AudioPlan | None
    deinterlace: str
    # "smpte2084" (PQ) or "arib-std-b67" (HLG) when the picture is tone-mapped to SDR.
    tonemap: str | None = None
    args: list[str] = field(default_factory=list)
    log_path: Path = Path()

    def proxy_path(self, spec: ProxySpec) -> Path:
        """Where the rung's MP4 is written."""
        return self.workdir / f"proxy_{spec.name}.mp4"

    @property
    def progress_path(self) -> Path:
        """Where ffmpeg reports how far it got (`-progress`)."""
        return self.workdir / "progress.txt"

    @property
    def poster_path(self) -> Path:
        """Where the poster frame is written."""
        return self.workdir / "poster.jpg"

    @property
    def thumbnail_dir(self) -> Path:
        """Where numbered thumbnails are written."""
        return self.workdir / "thumbnails"

    @property
    def storyboard_dir(self) -> Path:
        """Where numbered sprite sheets are written."""
        return self.workdir / "storyboard"


def display_aspect(media: MediaInfo) -> Fraction:
    """The picture's display aspect ratio from the probe (square pixels when unknown)."""
    video = media.video or {}
    text = video.get("display_aspect_ratio")
    if text and ":" in text:
        num, den = (int(part) for part in text.split(":", 1))
        if num > 0 and den > 0:
            return Fraction(num, den)
    return Fraction(int(video.get("width") or 16), int(video.get("height") or 9))


def vbi_lines(media: MediaInfo) -> int:
    """Lines of vertical blanking stored above the picture (IMX D-10 keeps 32), else 0."""
    video = media.video or {}
    size = (int(video.get("width") or 0), int(video.get("height") or 0))
    return D10_VBI_LINES if video.get("codec") == "mpeg2video" and size in D10_SIZES else 0


def ladder(media: MediaInfo, settings: Settings) -> list[ProxySpec]:
    """The proxy rungs for this master: never upscaled, even sizes, no duplicates."""
    video = media.video or {}
    source_height = int(video.get("height") or 0) - vbi_lines(media)
    aspect = display_aspect(media)
    rungs: list[ProxySpec] = []
    for wanted in sorted(set(settings.transcode_ladder), reverse=True):
        height = _even(min(wanted, source_height))
        if height < MIN_DIMENSION or any(rung.height == height for rung in rungs):
            continue
        width = _even(height * aspect)
        rungs.append(ProxySpec(name=f"{height}p", width=width, height=height))
    if not rungs:
        raise JobError(f"the picture is too small for a proxy ({source_height} lines)")
    return rungs


def _even(value: float | Fraction) -> int:
    return max(2, round(float(value) / 2) * 2)


def deinterlace_mode(media: MediaInfo, settings: Settings, top_height: int) -> str:
    """`none`, `field`, `bwdif` or `yadif` for this master and the tallest rung."""
    if not media.interlaced:
        return "none"
    mode = settings.transcode_deinterlace
    video = media.video or {}
    if mode == "auto":
        active = int(video.get("height") or 0) - vbi_lines(media)
        return "field" if top_height <= active // 2 else "bwdif"
    if mode not in ("field", "bwdif", "yadif"):
        raise JobError(f"unknown deinterlace mode {mode!r} in settings")
    return mode


def storyboard_spec(media: MediaInfo, settings: Settings) -> StoryboardSpec:
    """Sample often enough to scrub, but never more than the configured number of frames."""
    duration = max(media.duration, 0.04)
    interval = max(settings.transcode_storyboard_interval, 0.04)
    if duration / interval > settings.transcode_storyboard_max_frames:
        interval = duration / settings.transcode_storyboard_max_frames
    frames = max(1, math.ceil(duration / interval - 1e-6))
    width = _even(settings.transcode_storyboard_width)
    height = _even(width / display_aspect(media))
    return StoryboardSpec(
        interval=interval,
        frames=frames,
        tile_width=width,
        tile_height=height,
        columns=settings.transcode_storyboard_columns,
        rows=settings.transcode_storyboard_rows,
    )


def build_plan(
    *,
    ffmpeg_path: str,
    source: str,
    media: MediaInfo,
    settings: Settings,
    workdir: Path,
    font: str,
    watermark: str,
    silent: Collection[int] = (),
    mapping: AudioMapping | None = None,
) -> Plan:
    """Lay out every output of one master and compose the single ffmpeg command.

    `silent` (1-based tracks measured silent) and `mapping` (a per-asset override) steer the
    programme mix; see `transcode.audio`.
    """
    video = media.video
    if video is None:
        raise JobError("the master has no video track")
    plan = _layout(media, settings, workdir, silent=silent, mapping=mapping)
    watermark_file = workdir / "watermark.txt"
    watermark_file.write_text(watermark, encoding="utf-8")

    master = ffmpeg.input(source, **_input_options(source, video))
    picture = _picture(master[str(video["index"])], media, plan)
    proxies = plan.proxies
    branches = picture.filter_multi_output("split", len(proxies)) if len(proxies) > 1 else None
    mixes = _programme_mixes(master, plan)

    outputs = []
    for number, spec in enumerate(proxies):
        scaled = (branches[number] if branches else picture).filter(
            "scale", spec.width, spec.height, flags="bilinear"
        )
        scaled = scaled.filter("setsar", "1").filter("format", "yuv420p")
        if number == 0:
            scaled = scaled.filter("blackdetect", d=BLACK_MIN_SECONDS, pix_th=0.10)
            aux = scaled.filter_multi_output("split", 4)
            scaled = aux[0]
            outputs += _stills(aux[1], aux[2], aux[3], plan)
        burnt = _burn_in(scaled, spec, media, font=font, watermark_file=watermark_file)
        streams = [burnt] + ([mixes[number]] if mixes else [])
        outputs.append(_proxy_output(streams, plan, spec, media, settings, with_audio=bool(mixes)))
    return dataclasses.replace(plan, args=_compile(outputs, ffmpeg_path, plan, media))


def _layout(
    media: MediaInfo,
    settings: Settings,
    workdir: Path,
    *,
    silent: Collection[int],
    mapping: AudioMapping | None,
) -> Plan:
    """Decide every output of the master (no command yet) and make its directories."""
    proxies = ladder(media, settings)
    deinterlace = deinterlace_mode(media, settings, proxies[0].height)
    tonemap = hdr_transfer(media)
    board = storyboard_spec(media, settings)
    audio = plan_audio(
        media.audio, settings.transcode_stereo_tracks, silent=silent, mapping=mapping
    )
    plan = Plan(
        workdir=workdir,
        proxies=proxies,
        poster_time=min(POSTER_MAX_OFFSET, media.duration / 10),
        thumbnail_interval=max(settings.transcode_thumbnail_interval, 0.04),
        thumbnail_width=_even(settings.transcode_thumbnail_width),
        storyboard=board,
        audio=audio,
        deinterlace=deinterlace,
        tonemap=tonemap,
        log_path=workdir / "ffmpeg.log",
    )
    plan.thumbnail_dir.mkdir()
    plan.storyboard_dir.mkdir()
    return plan


def _input_options(source: str, video: dict[str, Any]) -> dict[str, Any]:
    """ffmpeg's options for reading the master: media demuxers and its own protocol only."""
    options: dict[str, Any] = input_options(source)
    if source.startswith(("http://", "https://")):
        # Presigned S3 URLs: survive a dropped connection, never wait forever on a dead one.
        options.update(
            reconnect=1,
            reconnect_on_network_error=1,
            reconnect_delay_max=10,
            rw_timeout=60_000_000,
        )
    if video.get("codec") in SINGLE_THREAD_DECODERS:
        options["threads"] = 1
    return options


def _picture(picture: Any, media: MediaInfo, plan: Plan) -> Any:
    """The master's picture cropped, deinterlaced and tone-mapped as the plan says."""
    video = media.video or {}
    if vbi_lines(media):
        # Cropped first: an even line count keeps the fields in order for deinterlacing.
        picture = picture.filter("crop", "iw", f"ih-{vbi_lines(media)}", 0, vbi_lines(media))
    if plan.deinterlace == "field":
        first = "top" if video.get("field_order") != "bff" else "bottom"
        picture = picture.filter("field", type=first)
    elif plan.deinterlace in ("bwdif", "yadif"):
        picture = picture.filter(plan.deinterlace, mode="send_frame", parity="auto", deint="all")
    if plan.tonemap:
        picture = _to_sdr(picture)
    return picture


def _programme_mixes(master: Any, plan: Plan) -> list[Any]:
    """The measured programme mix, one copy per rung (none when the master has no audio)."""
    programme = programme_mix(master, plan.audio)
    if programme is None:
        return []
    rungs = len(plan.proxies)
    programme = programme.filter("ebur128", peak="true", framelog="info")
    programme = programme.filter(
        "silencedetect", noise=f"{SILENCE_NOISE_DB}dB", duration=SILENCE_MIN_SECONDS
    )
    split_audio = programme.filter_multi_output("asplit", rungs) if rungs > 1 else None
    return [split_audio[n] if split_audio else programme for n in range(rungs)]


def _burn_in(
    scaled: Any, spec: ProxySpec, media: MediaInfo, *, font: str, watermark_file: Path
) -> Any:
    """The rung's picture with the timecode and the watermark drawn on it."""
    timecode = media.timecode or "00:00:00:00"
    rate = media.frame_rate
    return scaled.filter(
        "drawtext",
        fontfile=font,
        timecode=timecode.replace(".", ":"),
        timecode_rate=f"{rate.numerator}/{rate.denominator}",
        fontsize=max(10, spec.height // 20),
        fontcolor="white",
        box=1,
        boxcolor="black@0.6",
        boxborderw=max(2, spec.height // 120),
        x="(w-tw)/2",
        y=f"h-th-{max(4, spec.height // 24)}",
    ).filter(
        "drawtext",
        fontfile=font,
        textfile=str(watermark_file),
        expansion="none",
        fontsize=max(10, spec.height // 16),
        fontcolor="white@0.45",
        borderw=max(1, spec.height // 270),
        bordercolor="black@0.45",
        x="(w-tw)/2",
        y="(h-th)/2",
    )


def _proxy_output(
    streams: list[Any],
    plan: Plan,
    spec: ProxySpec,
    media: MediaInfo,
    settings: Settings,
    *,
    with_audio: bool,
) -> Any:
    """The rung's H.264 MP4 output."""
    video_options: dict[str, Any] = (
        {"x264-params": settings.transcode_x264_params} if settings.transcode_x264_params else {}
    )
    audio_options: dict[str, Any] = (
        {"c:a": "aac", "b:a": settings.transcode_audio_bitrate, "ar": 48000} if with_audio else {}
    )
    return ffmpeg.output(
        *streams,
        str(plan.proxy_path(spec)),
        **{
            "c:v": "libx264",
            "preset": settings.transcode_video_preset,
            "crf": settings.transcode_video_crf,
            "profile:v": "high",
            "pix_fmt": "yuv420p",
            # A keyframe every 2 s so players seek (scrub) promptly.
            "g": max(1, round(2 * float(media.frame_rate))),
            "movflags": "+faststart",
            "f": "mp4",
        },
        **video_options,
        **audio_options,
    )


def _compile(outputs: list[Any], ffmpeg_path: str, plan: Plan, media: MediaInfo) -> list[str]:
    """The command line: every output, the global options and the per-track level graph."""
    graph = ffmpeg.merge_outputs(*outputs)
    # One filter thread: the graph's filters are cheap per frame, and on 2 cores slice
    # threads only add hand-offs (decode and x264 already keep both cores busy).
    args: list[str] = graph.compile(cmd=ffmpeg_path, overwrite_output=True)
    # Global options go right after the binary: quiet banner, no stdin, measurements logged.
    args[1:1] = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"]
    args[1:1] = ["-filter_complex_threads", "1"]
    args[1:1] = ["-progress", str(plan.progress_path), "-stats_period", "5"]
    # The per-track level graph goes in before the trailing global `-y`.
    at = len(args) - 1 if args[-1] == "-y" else len(args)
    args[at:at] = track_level_args(media.audio)
    return args


def hdr_transfer(media: MediaInfo) -> str | None:
    """The HDR transfer (PQ or HLG) of the picture, or None for SDR."""
    transfer = (media.video or {}).get("color_transfer")
    return str(transfer) if transfer in HDR_TRANSFERS else None


def _to_sdr(picture: Any) -> Any:
    # Linear light, BT.709 primaries, Hable's curve with the highlights' colour kept, then
    # BT.709 transfer: the usual zimg recipe; 100 nits is SDR reference white.
    return (
        picture.filter("zscale", t="linear", npl=100)
        .filter("format", "gbrpf32le")
        .filter("zscale", p="bt709")
        .filter("tonemap", tonemap="hable", desat=0)
        .filter("zscale", t="bt709", m="bt709", r="tv")
    )


def track_level_args(tracks: list[dict[str, Any]]) -> list[str]:
    """A second graph measuring the peak of every channel of every source track, to null.

    The tracks are merged into one multichannel stream (`amerge`) and measured by one
    `astats` limited to the per-channel peak: one filter chain, one null output and no
    conversion to 16-bit, where a `volumedetect` per track cost a chain, an s16 conversion
    and an output each (about 7 % of an 8-track XDCAM run's CPU). `amerge` takes at most 64
    channels and ends with its shortest input; beyond 64 each track gets its own `astats`.
    The log lists channels in graph order, which `measure.parse_log` maps back to tracks.
    """
    tracks = [t for t in tracks if t.get("channels")]
    if not tracks:
        return []
    stats = "astats=measure_perchannel=Peak_level:measure_overall=none"
    inputs = "".join(f"[0:{track['index']}]" for track in tracks)
    if len(tracks) == 1:
        graphs = [f"{inputs}{stats}[level0]"]
    elif sum(int(t["channels"]) for t in tracks) <= AMERGE_MAX_CHANNELS:
        graphs = [f"{inputs}amerge=inputs={len(tracks)},{stats}[level0]"]
    else:
        graphs = [f"[0:{track['index']}]{stats}[level{n}]" for n, track in enumerate(tracks)]
    maps = [item for n in range(len(graphs)) for item in ("-map", f"[level{n}]")]
    return ["-filter_complex", ";".join(graphs), *maps, "-c:a", "pcm_f32le", "-f", "null", "-"]


def level_channels(tracks: list[dict[str, Any]]) -> list[int]:
    """Channels of each track the level graph measures, in its order (decodable only)."""
    return [int(t["channels"]) for t in tracks if t.get("channels")]


def levelled_tracks(tracks: list[dict[str, Any]]) -> list[int]:
    """The 1-based track numbers the level graph measures, in its order (decodable only)."""
    return [int(t["track"]) for t in tracks if t.get("channels")]


def _stills(poster_in: Any, thumbs_in: Any, board_in: Any, plan: Plan) -> list[Any]:
    board = plan.storyboard
    # The second trim ends the branch after one frame: otherwise every later frame is still
    # converted for the (finished) poster output, ~4 % of the whole run's CPU on H.264.
    poster = poster_in.filter("trim", start=round(plan.poster_time, 3)).filter("trim", end_frame=1)
    every = f"1/{plan.thumbnail_interval:g}"
    thumbs = thumbs_in.filter("fps", fps=every, eof_action="pass").filter(
        "scale", plan.thumbnail_width, -2
    )
    sheets = (
        board_in.filter("fps", fps=f"1/{board.interval:.6f}", eof_action="pass")
        .filter("scale", board.tile_width, board.tile_height)
        .filter("tile", f"{board.columns}x{board.rows}")
    )
    jpeg = {"c:v": "mjpeg", "q:v": JPEG_QUALITY, "pix_fmt": "yuvj420p"}
    return [
        ffmpeg.output(poster, str(plan.poster_path), **{"frames:v": 1, **jpeg}),
        ffmpeg.output(thumbs, str(plan.thumbnail_dir / "%04d.jpg"), **{"f": "image2", **jpeg}),
        ffmpeg.output(sheets, str(plan.storyboard_dir / "%03d.jpg"), **{"f": "image2", **jpeg}),
    ]
