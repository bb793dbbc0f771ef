"""Probe a master with PyAV: container, video, every audio and subtitle track, timecode.

The result is a plain JSON-able dict stored as `Asset.technical`; `MediaInfo` wraps it with
the few typed accessors the pipeline needs. A file PyAV cannot read raises `JobError` with a
sentence a person understands (the master is broken; retrying will not help).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any

import av
import av.error

from pool_core.errors import JobError
from transcode.safety import DEMUXERS, protocols_for

logger = logging.getLogger("transcode.probe")

# AVFieldOrder values as PyAV reports them, by the field *displayed* first. 4 (AV_FIELD_TB)
# is top coded first, bottom displayed first: what ffmpeg shows as "top coded first
# (swapped)" for a bottom-field-first MPEG-2 in MXF, so bff; 5 (AV_FIELD_BT) is tff.
_FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "bff", 5: "tff"}
# Names of the AVColorPrimaries values broadcasters meet (ITU-T H.273 numbering).
_PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 8: "linear",
              13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
              18: "arib-std-b67"}  # fmt: skip
_MATRICES = {0: "gbr", 1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc",
             10: "bt2020c"}  # fmt: skip
_RANGES = {1: "tv", 2: "pc"}
_PCM_DEPTH = re.compile(r"^pcm_[suf](\d+)")
_LOSSLESS_DEPTH_CODECS = ("flac", "alac", "truehd", "mlp", "wavpack")


@dataclass(frozen=True)
class MediaInfo:
    """The probe of one master, as stored, with typed accessors."""

    technical: dict[str, Any]

    @property
    def duration(self) -> float:
        """Duration in seconds (0 when unknown)."""
        value = self.technical["container"].get("duration")
        return float(value or 0.0)

    @property
    def video(self) -> dict[str, Any] | None:
        """The first video track, if any."""
        video: dict[str, Any] | None = self.technical.get("video")
        return video

    @property
    def audio(self) -> list[dict[str, Any]]:
        """Every audio track in stream order."""
        tracks: list[dict[str, Any]] = self.technical.get("audio", [])
        return tracks

    @property
    def timecode(self) -> str | None:
        """The start timecode (HH:MM:SS:FF, `;` before frames when drop-frame)."""
        value: str | None = self.technical["container"].get("start_timecode")
        return value

    @property
    def frame_rate(self) -> Fraction:
        """The video frame rate (25 when unknown)."""
        video = self.video or {}
        text = video.get("frame_rate_fraction") or "25/1"
        return Fraction(text)

    @property
    def interlaced(self) -> bool:
        """Whether the video is stored as interlaced fields."""
        return bool(self.video and self.video.get("scan_type") == "interlaced")


def probe(source: str | IO[bytes] | io.RawIOBase) -> MediaInfo:
    """Probe a path, URL or binary file object; raise JobError if it is not readable media.

    Only the demuxers of media containers may read it (`transcode.safety`), and they may
    open nothing else: a file object gets no protocol at all, a path or URL only its own.
    """
    options = {
        "format_whitelist": ",".join(DEMUXERS),
        # "none" names no protocol: nothing a file object's demuxer asks for can be opened.
        "protocol_whitelist": protocols_for(source) if isinstance(source, str) else "none",
    }
    try:
        container = av.open(source, mode="r", timeout=60.0, container_options=options)
    except av.error.ArgumentError as exc:
        # What avformat_open_input answers when the detected demuxer is not whitelisted.
        raise JobError(
            "the master's format is not a media container the pool reads (MXF, MOV/MP4, "
            f"MPEG-TS, Matroska, AVI, DV, WAV and the like); refused ({exc.strerror})"
        ) from exc
    except av.error.FFmpegError as exc:
        raise JobError(_unreadable(exc)) from exc
    except (OSError, ValueError) as exc:
        raise JobError(f"the master could not be opened: {exc}") from exc
    try:
        return MediaInfo(_describe(container))
    except av.error.FFmpegError as exc:
        raise JobError(_unreadable(exc)) from exc
    finally:
        container.close()


def _unreadable(exc: av.error.FFmpegError) -> str:
    detail = getattr(exc, "strerror", None) or str(exc)
    return f"the master is not a media file ffmpeg can read ({detail})"


def _describe(container: Any) -> dict[str, Any]:
    container_info: dict[str, Any] = {
        "format": container.format.name,
        "format_long": container.format.long_name,
        "duration": round(container.duration / 1_000_000, 3) if container.duration else None,
        "bit_rate": container.bit_rate or None,
        "start_timecode": _timecode(container),
    }
    video = None
    audio: list[dict[str, Any]] = []
    subtitles: list[dict[str, Any]] = []
    for stream in container.streams:
        if stream.type == "video" and video is None and not _is_cover_art(stream):
            video = _video(container, stream)
        elif stream.type == "audio":
            audio.append(_audio(stream, position=len(audio) + 1))
        elif stream.type == "subtitle":
            subtitles.append(
                {
                    "index": stream.index,
                    "codec": stream.codec_context.name if stream.codec_context else None,
                    "language": stream.metadata.get("language"),
                }
            )
    if not container_info["duration"] and video and video.get("duration"):
        container_info["duration"] = video["duration"]
    return {"container": container_info, "video": video, "audio": audio, "subtitles": subtitles}


def _is_cover_art(stream: Any) -> bool:
    return bool(stream.disposition and "attached_pic" in str(stream.disposition).lower())


def _timecode(container: Any) -> str | None:
    candidates = [container.metadata.get("timecode")]
    candidates += [stream.metadata.get("timecode") for stream in container.streams]
    for value in candidates:
        if value and re.fullmatch(r"\d{2}:\d{2}:\d{2}[:;.]\d{2}", value):
            return str(value)
    return None


def _video(container: Any, stream: Any) -> dict[str, Any]:
    ctx = stream.codec_context
    if ctx is None:
        # No decoder knows this codec: recorded, and refused by the transcoder by name.
        return {"index": stream.index, "codec": None, "undecodable": True}
    rate = _frame_rate(stream)
    duration = None
    if stream.duration and stream.time_base:
        duration = round(float(stream.duration * stream.time_base), 3)
    sar = ctx.sample_aspect_ratio or Fraction(1, 1)
    dar = ctx.display_aspect_ratio or (
        Fraction(ctx.width * sar.numerator, ctx.height * sar.denominator) if ctx.height else None
    )
    field_order = _FIELD_ORDERS.get(int(ctx.field_order or 0))
    if field_order is None:
        field_order = _first_frame_scan(container, stream)
        if field_order == "tff" and ctx.name == "dvvideo":
            # DV (IEC 61834 / SMPTE 314M) is bottom field first, 525 and 625 lines alike;
            # its headers do not say so and PyAV's frames do not tell which field leads.
            field_order = "bff"
    return {
        "index": stream.index,
        "codec": ctx.name,
        "codec_long": ctx.codec.long_name if ctx.codec else None,
        "profile": ctx.profile,
        "level": ctx.level if ctx.level and ctx.level > 0 else None,
        "bit_rate": ctx.bit_rate or stream.bit_rate or None,
        "width": ctx.width,
        "height": ctx.height,
        "pix_fmt": ctx.pix_fmt,
        "frame_rate": round(float(rate), 3) if rate else None,
        "frame_rate_fraction": f"{rate.numerator}/{rate.denominator}" if rate else None,
        "scan_type": (
            "unknown"
            if field_order is None
            else "progressive"
            if field_order == "progressive"
            else "interlaced"
        ),
        "field_order": field_order if field_order in ("tff", "bff") else None,
        "sample_aspect_ratio": f"{sar.numerator}:{sar.denominator}",
        "display_aspect_ratio": f"{dar.numerator}:{dar.denominator}" if dar else None,
        "color_primaries": _PRIMARIES.get(_int(ctx.color_primaries)),
        "color_transfer": _TRANSFERS.get(_int(ctx.color_trc)),
        "color_space": _MATRICES.get(_int(ctx.colorspace)),
        "color_range": _RANGES.get(_int(ctx.color_range)),
        "duration": duration,
        "frames": stream.frames or None,
    }


def _frame_rate(stream: Any) -> Fraction | None:
    """The stream's frame rate: the average, unless it is far from the nominal rate.

    Raw DV reports an average of 60000 fps (its timestamps are byte offsets); a frame rate
    that far from the codec's own nominal rate is not believed.
    """
    average, nominal = stream.average_rate, stream.guessed_rate or stream.base_rate
    if average and nominal and not 0.5 <= float(average) / float(nominal) <= 2.0:
        return Fraction(nominal)
    rate = average or nominal
    return Fraction(rate) if rate else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _first_frame_scan(container: Any, stream: Any) -> str | None:
    """Decode one frame when the headers do not say how the picture is scanned."""
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return "tff" if frame.interlaced_frame else "progressive"
            if packet.size == 0:
                break
    except av.error.FFmpegError as exc:
        logger.info("could not decode a first frame to learn the scan type: %s", exc)
    return None


def _audio(stream: Any, *, position: int) -> dict[str, Any]:
    ctx = stream.codec_context
    if ctx is None:
        # Kept as a track (its number stays), but no mix can use it.
        return {"index": stream.index, "track": position, "codec": None, "channels": 0,
                "undecodable": True}  # fmt: skip
    layout = ctx.layout.name if ctx.layout else None
    return {
        "index": stream.index,
        "track": position,
        "codec": ctx.name,
        "channels": ctx.channels,
        "layout": layout,
        "sample_rate": ctx.sample_rate,
        "bit_depth": _bit_depth(ctx),
        "bit_rate": ctx.bit_rate or stream.bit_rate or None,
        "language": stream.metadata.get("language"),
    }


def _bit_depth(ctx: Any) -> int | None:
    match = _PCM_DEPTH.match(ctx.name or "")
    if match:
        return int(match.group(1))
    if ctx.name in _LOSSLESS_DEPTH_CODECS and ctx.format is not None:
        return int(ctx.format.bits)
    return None


class RangeReader(io.RawIOBase):
    """A seekable read-only file over an object, fetched in ranged GETs with read-ahead.

    PyAV probes through it, so probing a multi-GB master reads only its headers (and, for
    MOV/MP4 with the index at the end, its tail), never the whole object.
    """

    def __init__(self, fetch: Any, size: int, *, block: int = 1 << 20) -> None:
        self._fetch = fetch  # fetch(start, end_inclusive) -> bytes
        self._size = size
        self._block = block
        self._pos = 0
        self._cache_start = 0
        self._cache = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        offset = self._pos - self._cache_start
        if not (offset >= 0 and offset + want <= len(self._cache)):
            end = min(self._size, self._pos + max(want, self._block)) - 1
            self._cache = self._fetch(self._pos, end)
            self._cache_start = self._pos
            offset = 0
            want = min(want, len(self._cache))
        buffer[:want] = self._cache[offset : offset + want]
        self._pos += want
        return want
