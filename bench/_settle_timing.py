"""From a master's last byte to "asset visible" and to "proxy playable", against transcode time.

Used by `bench ftp` (phase `settle`): one generated master (an XDCAM-like MPEG-2 4:2:2 MXF
of `seconds` seconds) is uploaded by `curl -T` through the FTP server subprocess while a job
runner (transcode + settle handlers) works in this process. Measured from curl's exit (the
226, i.e. the last byte stored and the file published):

- asset visible: the `asset.received` change event exists (what other members and the
  catalog see; it waits for the settle window `upload_settle_seconds`);
- proxy playable: the asset is `ready` with a proxy rendition (screening);

each printed with its ratio to the transcode job's own duration. The settle window must not
lengthen the second: the transcode starts when the upload completes, not when it settles.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, ChangeEvent
from pool_core.queue import JobRunner
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.settle import build_handlers as settle_handlers
from tests.fixtures.media import XDCAM_VIDEO
from transcode.tools import resolve_ffmpeg
from transcode.worker import build_handlers as transcode_handlers


@dataclass
class SettleTiming:
    """Seconds from the last byte, and the transcode job's duration."""

    visible_s: float
    playable_s: float
    transcode_s: float

    def line(self, seconds: int, settle_s: float) -> str:
        """The benchmark's output line."""
        t = max(self.transcode_s, 1e-9)
        return (
            f"{seconds} s XDCAM-like master, settle window {settle_s:g} s: last byte -> asset "
            f"visible {self.visible_s:.1f} s = {self.visible_s / t:.2f}x transcode; -> proxy "
            f"playable {self.playable_s:.1f} s = {self.playable_s / t:.2f}x transcode "
            f"(transcode job {self.transcode_s:.1f} s)"
        )


def make_master(settings: Settings, path: Path, seconds: int) -> None:
    """Write an XDCAM HD422-like MXF (the tests' encoding) with 4 mono PCM tracks."""
    ffmpeg = resolve_ffmpeg(settings)
    inputs = ["-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=25:d={seconds}"]
    for n in range(4):
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={440 + 110 * n}:d={seconds}"]
    maps = ["-filter_complex", "[0:v]setfield=tff[v]", "-map", "[v]"]
    maps += [item for n in range(1, 5) for item in ("-map", f"{n}:a")]
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *inputs, *maps, *XDCAM_VIDEO, "-c:a", "pcm_s24le",
         "-ar", "48000", "-f", "mxf", str(path)],
        check=True,
        timeout=600,
    )  # fmt: skip


def measure(
    settings: Settings,
    db: Database,
    storage: S3Storage,
    upload: Callable[[], None],
    path: str,
    *,
    timeout: float = 900,
) -> SettleTiming:
    """Run `upload` (blocking until the 226), then time visibility and playability."""
    durations: list[float] = []
    handlers = dict(transcode_handlers(settings, db, storage))
    inner = handlers["transcode"]

    def timed(ctx: Any) -> None:
        started = time.monotonic()
        try:
            inner(ctx)
        finally:
            durations.append(time.monotonic() - started)

    handlers["transcode"] = timed
    handlers.update(settle_handlers(db, recheck_seconds=settings.upload_settle_seconds))
    runner = JobRunner.from_settings(db, settings, handlers)
    worker = threading.Thread(target=runner.run_forever, name="bench-worker", daemon=True)
    worker.start()
    try:
        upload()
        last_byte = time.monotonic()
        visible = playable = None
        deadline = last_byte + timeout
        while (visible is None or playable is None) and time.monotonic() < deadline:
            seen, ready = _state(db, path)
            now = time.monotonic()
            if seen and visible is None:
                visible = now - last_byte
            if ready and playable is None:
                playable = now - last_byte
            time.sleep(0.05)
        if visible is None or playable is None:
            raise RuntimeError(f"{path}: not visible and playable within {timeout:.0f} s")
    finally:
        runner.stop()
        worker.join(timeout=60)
    return SettleTiming(visible, playable, durations[0] if durations else float("nan"))


def _state(db: Database, path: str) -> tuple[bool, bool]:
    with db.session() as session:
        asset = session.scalar(select(Asset).where(Asset.source_path == path))
        if asset is None:
            return False, False
        announced = session.scalar(
            select(ChangeEvent.id).where(
                ChangeEvent.kind == "asset.received", ChangeEvent.subject_id == str(asset.id)
            )
        )
        ready = asset.status is AssetStatus.READY and any(
            r.kind == "proxy" for r in asset.renditions
        )
        return announced is not None, ready
