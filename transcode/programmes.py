"""What ffmpeg's own stream listing tells and PyAV does not: programmes, unknown codecs.

MPEG-TS programmes: a DVB capture may carry several services; the proxy is made of one.

The programme of the first video stream is used (in a DVB capture: the first programme with
video), with only its own audio tracks; the others are
recorded in `technical["container"]["programmes"]` and QC notes the choice.

A codec no decoder knows has no codec context in PyAV; the listing still names its tag.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from pool_core.errors import JobError
from transcode.probe import MediaInfo
from transcode.safety import Limits, input_args

_PROGRAM = re.compile(r"^\s*Program (\d+)\s*$")
_SERVICE = re.compile(r"^\s*service_name\s*:\s*(.*)$")
_STREAM = re.compile(r"^\s*Stream #0:(\d+)")
_CODEC = r"^\s*Stream #0:{index}\b[^:]*: \w+: (.+)$"
PROBE_SECONDS = 120
# Reading headers takes little: a listing that needs more than this is a hostile master.
LISTING_LIMITS = Limits(cpu_seconds=PROBE_SECONDS, memory_bytes=2048 << 20)


def list_programmes(ffmpeg_path: str, source: str) -> list[dict[str, Any]]:
    """The programmes of a transport stream: number, service name, stream indexes."""
    return parse_programmes(listing(ffmpeg_path, source))


def codec_named(ffmpeg_path: str, source: str, index: int) -> str:
    """How ffmpeg names stream `index`'s codec (with its tag), e.g. `none (XQ9Z / 0x5A...)`."""
    match = re.search(_CODEC.format(index=index), listing(ffmpeg_path, source), re.M)
    return match.group(1).split(", ")[0].strip() if match else "unknown"


def name_undecodable_audio(ffmpeg_path: str, source: str, media: MediaInfo) -> None:
    """Write ffmpeg's name for each undecodable audio track's codec into its probe entry."""
    tracks = [track for track in media.audio if track.get("undecodable")]
    if not tracks:
        return
    text = listing(ffmpeg_path, source)
    for track in tracks:
        match = re.search(_CODEC.format(index=track["index"]), text, re.M)
        track["codec_named"] = match.group(1).split(", ")[0].strip() if match else "unknown"


def listing(ffmpeg_path: str, source: str) -> str:
    """ffmpeg's description of the input (headers only; it stops: no output is given)."""
    try:
        done = subprocess.run(
            [ffmpeg_path, "-hide_banner", "-nostdin", *input_args(source), "-i", source],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_SECONDS,
            preexec_fn=LISTING_LIMITS.apply,
        )
    except subprocess.TimeoutExpired as exc:
        raise JobError("reading the master's stream list took too long") from exc
    return done.stderr


def parse_programmes(listing: str) -> list[dict[str, Any]]:
    """Read the programmes out of ffmpeg's input listing."""
    programmes: list[dict[str, Any]] = []
    for line in listing.splitlines():
        if match := _PROGRAM.match(line):
            programmes.append({"number": int(match.group(1)), "name": None, "streams": []})
        elif programmes and (match := _SERVICE.match(line)) and programmes[-1]["name"] is None:
            programmes[-1]["name"] = match.group(1).strip()
        elif programmes and (match := _STREAM.match(line)):
            programmes[-1]["streams"].append(int(match.group(1)))
    return programmes


def select_programme(media: MediaInfo, programmes: list[dict[str, Any]]) -> MediaInfo:
    """Keep the programme of the video track (and its audio only); note the choice."""
    if len(programmes) < 2:
        return media
    technical = dict(media.technical)
    container = dict(technical["container"], programmes=programmes)
    technical["container"] = container
    video = media.video["index"] if media.video is not None else None
    chosen = next((p for p in programmes if video in p["streams"]), None)
    if chosen is None:
        return MediaInfo(technical)
    container["programme"] = chosen["number"]
    ours = set(chosen["streams"])
    audio = [dict(track) for track in media.audio if track["index"] in ours]
    for number, track in enumerate(audio, start=1):
        track["track"] = number
    technical["audio"] = audio
    technical["audio_other_programmes"] = [t for t in media.audio if t["index"] not in ours]
    return MediaInfo(technical)


def programme_note(media: MediaInfo) -> str | None:
    """A sentence for QC when a programme was chosen among several."""
    container = media.technical["container"]
    programmes = container.get("programmes") or []
    if len(programmes) < 2 or "programme" not in container:
        return None
    chosen = next(p for p in programmes if p["number"] == container["programme"])
    name = f" ({chosen['name']})" if chosen.get("name") else ""
    return (
        f"The transport stream carries {len(programmes)} programmes; programme "
        f"{chosen['number']}{name}, the first with video, was used, with its "
        f"{len(media.audio)} audio track(s)."
    )
