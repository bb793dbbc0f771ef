"""What a master may make ffmpeg do: which demuxers read it, which protocols it may open.

A master is untrusted input from one member, read by a worker that holds a URL to the
pool's storage. Some demuxers open further files named *inside* the input: an `ffconcat`
list (`file 'file:///etc/passwd'`), an HLS playlist (segments anywhere), an image-sequence
pattern (`%03d.png` reads a whole directory). A master is therefore read only by the
demuxers of real media containers (`DEMUXERS`, ffmpeg's `format_whitelist`), through only
the protocol of its own URL (`protocol_whitelist`), and the known list and playlist
formats are refused up front with a reason a person understands.

ffmpeg also runs under resource limits (`limits_for`), so a master crafted to make a
decoder loop or allocate without end costs one job, not the worker's machine.
"""

from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from typing import Any

from pool_core.errors import JobError
from pool_core.settings import Settings

# Demuxers of media containers broadcasters deliver in (ffmpeg's names; av_match_list
# matches one of a demuxer's comma-separated names, so "mov" admits "mov,mp4,m4a,..."):
# none of them opens another file named by the input.
DEMUXERS = (
    "mov", "mxf", "mpegts", "mpegtsraw", "mpeg", "mpegvideo", "matroska", "avi", "dv",
    "gxf", "lxf", "wav", "w64", "aiff", "caf", "flv", "asf", "ogg", "nut", "h264", "hevc",
    "m4v", "mp3", "flac", "aac", "ac3", "eac3", "yuv4mpegpipe",
)  # fmt: skip
# The only protocols ffmpeg may open for a master: the presigned URL's own (TLS and TCP
# underneath it). A local path (the command line, benchmarks) reads that one file only.
URL_PROTOCOLS = {"http": "http,tcp", "https": "https,tls,tcp"}
LOCAL_PROTOCOLS = "file"
# Enough of the head of a file to recognise a list or a playlist by its first line.
SNIFF_BYTES = 4096
# A printf-style frame number (`%d`, `%03d`): what image2 expands to a numbered series of
# files. Not followed by a letter, so "50%done.mxf" is a name, not a pattern. (Globs need
# image2's `pattern_type glob`, never set here; "[HD]" in a name is common and harmless.)
_SEQUENCE_NAME = re.compile(r"%0?\d*d(?![a-z])", re.IGNORECASE)
_SIGNATURES = (
    (b"ffconcat version", "an ffconcat list (a list of other files)"),
    (b"#EXTM3U", "an HLS playlist (a list of other files)"),
    (b"[playlist]", "a playlist (a list of other files)"),
    (b"<?xml", "an XML document, not media (a manifest or a playlist)"),
    (b"v=0", "an SDP session description (a network stream, not a file)"),
)
_PLAYLIST_SUFFIXES = (".m3u8", ".m3u", ".ffconcat", ".concat", ".pls", ".sdp", ".mpd")


def refuse_untrusted(head: bytes, filename: str) -> None:
    """Raise JobError if the master is a list, a playlist or an image-sequence pattern."""
    name = filename.rsplit("/", 1)[-1]
    if _SEQUENCE_NAME.search(name):
        raise JobError(
            f"the master's name {name!r} is an image-sequence pattern; refused, because the "
            "pool transcodes single media files only"
        )
    if name.lower().endswith(_PLAYLIST_SUFFIXES):
        raise JobError(
            f"the master {name!r} is a playlist or list of files by its name; refused, because "
            "the pool transcodes single media files only"
        )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for signature, what in _SIGNATURES:
        if text[: len(signature)].lower() == signature.lower():
            raise JobError(
                f"the master is {what}; refused, because the pool transcodes single media "
                "files only"
            )


def protocols_for(source: str) -> str:
    """The protocol whitelist for reading `source`: its own scheme, or local files only."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme in URL_PROTOCOLS:
        return URL_PROTOCOLS[scheme]
    if scheme:
        raise JobError(f"the master's location uses a protocol the pool does not read ({scheme})")
    return LOCAL_PROTOCOLS


def input_options(source: str) -> dict[str, Any]:
    """ffmpeg input options that confine reading `source` to itself and to media demuxers."""
    return {"protocol_whitelist": protocols_for(source), "format_whitelist": ",".join(DEMUXERS)}


def input_args(source: str) -> list[str]:
    """The same as command-line arguments, to go before `-i source`."""
    return [item for key, value in input_options(source).items() for item in (f"-{key}", value)]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one ffmpeg process (None = not limited)."""

    cpu_seconds: int | None
    memory_bytes: int | None

    def apply(self) -> None:
        """In the child, before exec: set the limits (the kernel enforces them)."""
        if self.cpu_seconds is not None:
            # SIGXCPU at the soft limit, SIGKILL a second later should it be ignored.
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 1))
        if self.memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))


def limits_for(settings: Settings, *, wall_seconds: float) -> Limits:
    """The limits for a run allowed `wall_seconds`: CPU time and address space."""
    cpu = settings.transcode_ffmpeg_cpu_seconds
    if cpu is None:
        # Every core busy for the whole wall-clock allowance: only a runaway gets there.
        cpu = max(1, int(wall_seconds * (os.cpu_count() or 1)))
    memory = settings.transcode_ffmpeg_memory_mb
    return Limits(cpu_seconds=cpu, memory_bytes=memory << 20 if memory else None)


# A presigned URL's query carries the credential and the signature: never shown to anyone.
_URL = re.compile(r"\b(?:https?|s3|file|tcp|tls)://[^\s'\"<>|]+", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """`text` with every URL replaced by a placeholder (failure reasons, logs, job errors)."""
    return _URL.sub("<URL withheld>", text)
