"""One ffmpeg pass over a master: build the plan, run it, read the measurements back.

The service runs a second pass only when the rule's programme mix turned out to use a silent
track (the per-track levels are only known once the master has been read).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pool_core.errors import JobError
from pool_core.settings import Settings
from transcode import measure, pipeline
from transcode.audio import AudioMapping, MappingError
from transcode.probe import MediaInfo
from transcode.process import run_ffmpeg
from transcode.safety import Limits


@dataclass(frozen=True)
class Render:
    """One ffmpeg pass over the master with everything but the audio choice fixed."""

    ffmpeg_path: str
    source: str
    media: MediaInfo
    settings: Settings
    font: str
    watermark: str
    mapping: AudioMapping | None
    cancel: threading.Event | None
    label: str
    timeout: float
    limits: Limits | None = None

    def run(
        self, workdir: Path, *, silent: set[int] | None = None
    ) -> tuple[pipeline.Plan, measure.Measurements, float]:
        """Build the plan in `workdir`, run ffmpeg, read the measurements back."""
        workdir.mkdir()
        try:
            plan = pipeline.build_plan(
                ffmpeg_path=self.ffmpeg_path,
                source=self.source,
                media=self.media,
                settings=self.settings,
                workdir=workdir,
                font=self.font,
                watermark=self.watermark,
                silent=silent or (),
                mapping=self.mapping,
            )
        except MappingError as exc:
            raise JobError(f"the asset's audio mapping does not fit the master: {exc}") from exc
        seconds = run_ffmpeg(
            plan.args,
            log_path=plan.log_path,
            timeout=self.timeout,
            cancel=self.cancel,
            progress_path=plan.progress_path,
            label=self.label,
            limits=self.limits,
        )
        measured = measure.parse_log(
            plan.log_path.read_text(encoding="utf-8", errors="replace"),
            duration=self.media.duration,
            level_channels=pipeline.level_channels(self.media.audio),
        )
        # The level graph's Nth track is the master's Nth decodable track.
        levelled = pipeline.levelled_tracks(self.media.audio)
        measured.track_peaks = {
            levelled[n - 1]: peak for n, peak in measured.track_peaks.items() if n <= len(levelled)
        }
        return plan, measured, seconds
