"""The worker side: the `transcode` job handler and a ready-made worker loop.

    handlers = build_handlers(settings, db, storage)     # {"transcode": handler}
    JobRunner.from_settings(db, settings, handlers).run_forever()

The runner maps what a handler raises (pool_core.queue.runner.classify): a broken master
raises JobError and fails at once; storage and database trouble is retried with backoff.
"""

from __future__ import annotations

import logging
import threading

from pool_core.db import Database
from pool_core.errors import JobError, StorageError, TransientJobError
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.queue import Handler, JobContext, JobRunner
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from transcode import embedded_subtitles
from transcode.process import Cancelled, FfmpegLimitExceeded, FfmpegNetworkError, FfmpegTimeout
from transcode.service import (
    JOB_KIND,
    Fence,
    LeaseLost,
    preflight,
    requeue_transcode,
    sweep_temp_dirs,
    transcode_asset,
)

logger = logging.getLogger("transcode.worker")

__all__ = ["build_handlers", "build_runner", "handle_transcode", "requeue_transcode", "run_worker"]


def handle_transcode(
    ctx: JobContext, *, db: Database, storage: ObjectStorage, settings: Settings
) -> None:
    """Run one transcode job under the job's lease."""
    asset_id = str(ctx.payload.get("asset_id", ""))
    # transcode_asset logs the verdict line itself (one INFO line per master).
    try:
        result = transcode_asset(
            db=db,
            storage=storage,
            settings=settings,
            asset_id=asset_id,
            fence=Fence(
                job_id=ctx.job_id,
                worker_id=ctx.worker_id,
                attempt=ctx.attempt,
                cancel=ctx.lease_lost,
            ),
            last_attempt=ctx.is_last_attempt,
        )
    except Exception as exc:
        reason = ffmpeg_failure_reason(exc)
        if reason is not None and metrics_enabled():
            metrics.ffmpeg_failures.labels(reason=reason).inc()
        raise
    if result is not None and metrics_enabled():
        metrics.qc_verdicts.labels(verdict=result.verdict).inc()
        if result.total_seconds > 0 and result.media_seconds > 0:
            metrics.transcode_realtime_factor.observe(result.media_seconds / result.total_seconds)


def ffmpeg_failure_reason(exc: BaseException) -> str | None:
    """The reason class of a failed transcode (None: not a failure, the job moved on).

    A `JobError` that is not one of the named classes is a master ffmpeg or the probe could
    not read (or that breaks the pool's rules): "undecodable".
    """
    if isinstance(exc, (Cancelled, LeaseLost)):
        return None
    if isinstance(exc, FfmpegTimeout):
        return "timeout"
    if isinstance(exc, FfmpegLimitExceeded):
        return "limit"
    if isinstance(exc, (FfmpegNetworkError, StorageError)):
        return "storage"
    if isinstance(exc, JobError) and not isinstance(exc, TransientJobError):
        return "undecodable"
    return "other"


def build_handlers(settings: Settings, db: Database, storage: ObjectStorage) -> dict[str, Handler]:
    """The job handlers this package provides, after checking ffmpeg and the font."""
    ffmpeg_path, font = preflight(settings)
    removed = sweep_temp_dirs(settings)
    logger.info(
        "transcode worker ready: ffmpeg %s, font %s%s",
        ffmpeg_path,
        font,
        f", removed {removed} scratch dir(s) of dead workers" if removed else "",
    )

    def handler(ctx: JobContext) -> None:
        handle_transcode(ctx, db=db, storage=storage, settings=settings)

    return {JOB_KIND: handler, **embedded_subtitles.build_handlers(settings, db, storage)}


def build_runner(
    settings: Settings, db: Database, storage: ObjectStorage, **runner_options: object
) -> JobRunner:
    """A JobRunner that claims only transcode jobs, configured from settings."""
    return JobRunner.from_settings(
        db, settings, build_handlers(settings, db, storage), **runner_options
    )


def run_worker(
    settings: Settings, db: Database, storage: ObjectStorage, stop_event: threading.Event
) -> None:
    """Run transcode jobs until `stop_event` is set; running jobs get the grace period."""
    runner = build_runner(settings, db, storage)
    thread = threading.Thread(target=runner.run_forever, name="transcode-runner", daemon=True)
    thread.start()
    stop_event.wait()
    runner.stop()
    thread.join()
