"""Turn what ffmpeg wrote into rendition files: names, kinds, metadata, the WebVTT index."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pool_core.errors import JobError
from transcode.pipeline import Plan
from transcode.probe import MediaInfo, probe

# A proxy this much shorter than its master means the master stopped decoding early.
TRUNCATION_TOLERANCE_SECONDS = 0.5
TRUNCATION_TOLERANCE_SHARE = 0.02


@dataclass(frozen=True)
class RenditionFile:
    """One local file to upload as `renditions/<asset-id>/<kind>/<name>`."""

    kind: str
    name: str
    path: Path
    content_type: str
    meta: dict[str, Any] = field(default_factory=dict)

    def key(self, asset_id: str) -> str:
        """The object key of this rendition."""
        return f"renditions/{asset_id}/{self.kind}/{self.name}"


def collect(plan: Plan, media: MediaInfo) -> list[RenditionFile]:
    """List every output of the plan, checking the proxies really cover the master."""
    files: list[RenditionFile] = []
    for spec in plan.proxies:
        path = plan.proxy_path(spec)
        meta = _check_proxy(path, media)
        files.append(RenditionFile("proxy", f"{spec.name}.mp4", path, "video/mp4", meta))
    if plan.poster_path.exists():
        files.append(
            RenditionFile(
                "poster", "poster.jpg", plan.poster_path, "image/jpeg", {"time": plan.poster_time}
            )
        )
    for number, path in enumerate(sorted(plan.thumbnail_dir.glob("*.jpg"))):
        files.append(
            RenditionFile(
                "thumbnail",
                path.name,
                path,
                "image/jpeg",
                {"time": round(number * plan.thumbnail_interval, 3)},
            )
        )
    sheets = sorted(plan.storyboard_dir.glob("*.jpg"))
    for path in sheets:
        files.append(RenditionFile("storyboard", f"sheet_{path.name}", path, "image/jpeg"))
    if sheets:
        vtt = plan.workdir / "storyboard.vtt"
        vtt.write_text(webvtt(plan, media, sheet_names=[f"sheet_{p.name}" for p in sheets]))
        board = plan.storyboard
        files.append(
            RenditionFile(
                "storyboard",
                "storyboard.vtt",
                vtt,
                "text/vtt",
                {
                    "interval": round(board.interval, 3),
                    "tile_width": board.tile_width,
                    "tile_height": board.tile_height,
                    "columns": board.columns,
                    "rows": board.rows,
                },
            )
        )
    return files


def webvtt(plan: Plan, media: MediaInfo, *, sheet_names: list[str]) -> str:
    """The storyboard index: one cue per tile, pointing at its sheet with a #xywh fragment."""
    board = plan.storyboard
    lines = ["WEBVTT", ""]
    capacity = len(sheet_names) * board.per_sheet
    for n in range(min(board.frames, capacity)):
        start = n * board.interval
        end = min(media.duration, (n + 1) * board.interval) if media.duration else start
        if end <= start:
            end = start + board.interval
        sheet, slot = divmod(n, board.per_sheet)
        row, column = divmod(slot, board.columns)
        lines += [
            f"{_cue_time(start)} --> {_cue_time(end)}",
            f"{sheet_names[sheet]}#xywh={column * board.tile_width},{row * board.tile_height},"
            f"{board.tile_width},{board.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _cue_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _check_proxy(path: Path, media: MediaInfo) -> dict[str, Any]:
    if not path.exists() or path.stat().st_size == 0:
        raise JobError("ffmpeg produced no proxy; the master could not be decoded")
    proxy = probe(str(path))
    video = proxy.video or {}
    expected = media.duration
    allowed = max(TRUNCATION_TOLERANCE_SECONDS, expected * TRUNCATION_TOLERANCE_SHARE)
    if expected and proxy.duration < expected - allowed:
        raise JobError(
            f"the master is truncated or damaged: only {proxy.duration:.1f} s of its "
            f"{expected:.1f} s could be decoded"
        )
    return {
        "width": video.get("width"),
        "height": video.get("height"),
        "duration": proxy.duration,
        "video_codec": video.get("codec"),
        "audio_channels": proxy.audio[0]["channels"] if proxy.audio else 0,
        "bit_rate": proxy.technical["container"].get("bit_rate"),
    }
