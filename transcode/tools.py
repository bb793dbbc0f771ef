"""The ffmpeg binary and the font it draws with: where they are and what they can do.

Resolution order for ffmpeg: `settings.ffmpeg`, the static build shipped by imageio-ffmpeg,
then `ffmpeg` on PATH. The pipeline needs libx264, drawtext and ebur128; `check_ffmpeg`
says plainly which is missing instead of letting the first job fail obscurely.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pool_core.errors import ConfigurationError
from pool_core.settings import Settings

REQUIRED_ENCODERS = ("libx264", "aac", "mjpeg")
REQUIRED_FILTERS = (
    "drawtext",
    "ebur128",
    "blackdetect",
    "silencedetect",
    "bwdif",
    "yadif",
    "field",
    "tile",
    "amerge",
    "pan",
)

# Fonts that cover Latin and Cyrillic (org names in Azerbaijani, Kazakh, Russian ...).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)
# Python packages that ship DejaVu Sans, looked up without importing them.
FONT_PACKAGES = (("matplotlib", "mpl-data/fonts/ttf/DejaVuSans.ttf"),)


@dataclass(frozen=True)
class FfmpegInfo:
    """One ffmpeg binary and its relevant capabilities."""

    path: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    def missing(self) -> list[str]:
        """Name what the pipeline needs and this build lacks."""
        gaps = [f"encoder {name}" for name in REQUIRED_ENCODERS if name not in self.encoders]
        gaps += [f"filter {name}" for name in REQUIRED_FILTERS if name not in self.filters]
        return gaps


def resolve_ffmpeg(settings: Settings) -> str:
    """Return the ffmpeg binary to run, or raise ConfigurationError saying where we looked."""
    if settings.ffmpeg:
        found = shutil.which(settings.ffmpeg)
        if not found:
            raise ConfigurationError(f"JOINTPOOL_FFMPEG={settings.ffmpeg!r} is not executable")
        return found
    try:
        import imageio_ffmpeg

        bundled: str = imageio_ffmpeg.get_ffmpeg_exe()
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    except (ImportError, RuntimeError):
        pass
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    raise ConfigurationError(
        "no ffmpeg found: set JOINTPOOL_FFMPEG, install imageio-ffmpeg, or put ffmpeg on PATH"
    )


@functools.cache
def ffmpeg_info(path: str) -> FfmpegInfo:
    """Ask one ffmpeg binary for its version, encoders and filters (cached per path)."""

    def ask(*args: str) -> str:
        try:
            done = subprocess.run(
                [path, "-hide_banner", *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigurationError(f"cannot run ffmpeg at {path}: {exc}") from exc
        return done.stdout

    version_line = ask("-version").splitlines()[:1]
    version = version_line[0].removeprefix("ffmpeg version ").split(" ")[0] if version_line else ""
    encoders = frozenset(
        match.group(1)
        for match in re.finditer(r"^\s*[VAS][A-Z.]{5}\s+(\S+)", ask("-encoders"), re.MULTILINE)
    )
    filters = frozenset(
        match.group(1)
        for match in re.finditer(r"^\s*[A-Z.]{2,3}\s+(\S+)\s+\S+->\S+", ask("-filters"), re.M)
    )
    return FfmpegInfo(path=path, version=version, encoders=encoders, filters=filters)


def check_ffmpeg(settings: Settings) -> FfmpegInfo:
    """Resolve ffmpeg and refuse to go on if it lacks something the pipeline uses."""
    info = ffmpeg_info(resolve_ffmpeg(settings))
    gaps = info.missing()
    if gaps:
        raise ConfigurationError(
            f"ffmpeg at {info.path} ({info.version}) lacks {', '.join(gaps)}; set "
            "JOINTPOOL_FFMPEG to a full build (imageio-ffmpeg's static binary has them all)"
        )
    return info


def find_font(settings: Settings) -> str:
    """Return a TrueType font path for drawtext, or raise ConfigurationError."""
    if settings.transcode_font:
        if not Path(settings.transcode_font).is_file():
            raise ConfigurationError(
                f"JOINTPOOL_TRANSCODE_FONT={settings.transcode_font!r} is not a file"
            )
        return settings.transcode_font
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    for package, relative in FONT_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec and spec.origin:
            path = Path(spec.origin).parent / relative
            if path.is_file():
                return str(path)
    matched = _fc_match("DejaVu Sans") or _fc_match("sans-serif")
    if matched:
        return matched
    raise ConfigurationError(
        "no font for burnt-in timecode and watermark: install fonts-dejavu-core (Debian) or "
        "set JOINTPOOL_TRANSCODE_FONT to a .ttf file"
    )


def _fc_match(pattern: str) -> str | None:
    fc_match = shutil.which("fc-match")
    if not fc_match:
        return None
    try:
        done = subprocess.run(
            [fc_match, "-f", "%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    return path if path.lower().endswith((".ttf", ".otf")) and Path(path).is_file() else None
