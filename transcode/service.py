"""Transcode one asset end to end, and put assets back in the queue.

    received/ready/failed ──(job starts)──> processing ──> ready  + renditions + asset.ready
                                                      └──> failed + reason     + asset.failed

Every database write that settles the asset is fenced by the job's lease: a worker that
lost its job (lease expired, another worker took over) cannot overwrite the new holder's
result. Renditions have fixed keys, so a rerun overwrites the same objects; keys a rerun no
longer produces (a ladder change) are deleted after the new set is committed. Each rendition
row records the SHA-256 of the bytes uploaded under its key (`meta["sha256"]`), and a rerun
replaces every row, so once a run commits the published hash describes the object it stored.
(A rerun overwrites the objects before it commits the new rows: a download in between sees
a mismatch and fails that file, to be fetched again on the next sync.)
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core import queue
from pool_core.catalog.assets import mark_asset_failed
from pool_core.db import Database
from pool_core.errors import (
    JobError,
    NotFound,
    ObjectNotFound,
    StorageError,
    TransientJobError,
)
from pool_core.models import (
    Asset,
    AssetStatus,
    Job,
    JobStatus,
    Organization,
    QcVerdict,
    Rendition,
)
from pool_core.services.changes import record_change
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_core.uploads.declared import is_rejected
from transcode import outputs, pipeline, qc
from transcode.audio import AudioMapping, plan_audio
from transcode.embedded_subtitles import queue_extraction
from transcode.measure import Measurements
from transcode.probe import MediaInfo, RangeReader, probe
from transcode.process import Cancelled
from transcode.programmes import (
    PROBE_SECONDS,
    codec_named,
    list_programmes,
    name_undecodable_audio,
    select_programme,
)
from transcode.render import Render
from transcode.safety import SNIFF_BYTES, limits_for, redact_urls, refuse_untrusted
from transcode.tools import check_ffmpeg, find_font

logger = logging.getLogger("transcode")

JOB_KIND = "transcode"
# Files above this go up in parts (S3 refuses single PUTs over 5 GiB).
MULTIPART_THRESHOLD = 256 << 20
PART_SIZE = 64 << 20
# Scratch directories are named after the worker's pid, so a later worker can tell which
# belong to a process that died (kill -9) and remove them.
TMP_PREFIX = "jp-transcode-"
MAX_URL_SECONDS = 7 * 24 * 3600
# What one job may spend reading the master: up to two stream listings (programmes, codec
# names) and two ffmpeg passes (the second only when the mix turned out silent).
LISTINGS_PER_JOB = 2
RENDER_PASSES = 2
# Where a per-asset audio-mapping override lives in `Asset.technical` (kept across probes).
AUDIO_MAPPING_KEY = "audio_mapping"


class LeaseLost(TransientJobError):
    """This worker no longer holds the job; another one does the work."""


@dataclass(frozen=True)
class Fence:
    """The claim a worker holds on the job it runs (None fields = unfenced, e.g. CLI)."""

    job_id: uuid.UUID | None = None
    worker_id: str | None = None
    attempt: int | None = None
    cancel: threading.Event | None = None


@dataclass(frozen=True)
class TranscodeResult:
    """What one transcode produced (also what the benchmark reports)."""

    asset_id: str
    verdict: str
    renditions: int
    ffmpeg_seconds: float
    total_seconds: float
    # The master's duration, for the realtime factor (media seconds per wall second).
    media_seconds: float = 0.0


def transcode_asset(
    *,
    db: Database,
    storage: ObjectStorage,
    settings: Settings,
    asset_id: str,
    fence: Fence | None = None,
    last_attempt: bool = True,
) -> TranscodeResult | None:
    """Transcode an asset's master into renditions and a QC verdict; settle the asset.

    A broken master settles the asset as failed and raises JobError; a transient problem
    (storage, database) re-raises for a retry, settling the asset as failed only on the
    last attempt, so no asset is left "processing" for ever.
    """
    fence = fence or Fence()
    started = time.monotonic()
    begun = _begin(db, fence, asset_id)
    if begun is None:
        logger.warning("transcode: asset %s no longer exists; nothing to do", asset_id)
        return None
    job = _Job(db, storage, settings, asset_id, fence, *begun)
    try:
        return job.run(started)
    except (Cancelled, LeaseLost):
        # A superseded asset's jobs are deleted with it, so its worker lands here; nobody
        # else will write under a deleted asset's prefix, so what it uploaded can go now.
        if _is_gone(db, asset_id):
            _delete_strays(storage, asset_id, keep=set())
        raise
    except JobError as exc:
        if isinstance(exc, TransientJobError) and not last_attempt:
            raise
        _settle_failed(db, fence, asset_id, str(exc), job.media)
        raise
    except Exception as exc:
        # Storage or database trouble, or a bug: retried by the runner; on the last attempt
        # the asset must not stay "processing", so it fails with the reason.
        if last_attempt:
            _settle_failed(db, fence, asset_id, f"transcoding kept failing: {exc}", job.media)
        raise


@dataclass
class _Job:
    """One transcode of one asset; `media` is set once the master has been probed."""

    db: Database
    storage: ObjectStorage
    settings: Settings
    asset_id: str
    fence: Fence
    object_key: str
    org_name: str
    mapping_dict: dict[str, Any] | None
    media: MediaInfo | None = None

    def _prepare(self) -> Render:
        """Probe and check the master; the pass that renders it, ready to run."""
        settings = self.settings
        media = self.media = _probe_master(self.storage, self.object_key)
        ffmpeg_path, font = preflight(settings)
        source = self.storage.presigned_get(
            self.object_key, expires_in=_url_lifetime(media, settings)
        )
        video = media.video or {}
        if video.get("undecodable"):
            codec = codec_named(ffmpeg_path, source, video["index"])
            raise JobError(
                f"the master's video codec ({codec}) is not one the bundled ffmpeg can decode"
            )
        _validate(media, settings)
        mapping = _mapping(self.mapping_dict)
        if media.technical["container"].get("format") == "mpegts":
            media = self.media = select_programme(media, list_programmes(ffmpeg_path, source))
        # Named now, so that QC can say which codec left a track out of the mix.
        name_undecodable_audio(ffmpeg_path, source, media)
        return Render(
            ffmpeg_path=ffmpeg_path,
            source=source,
            media=media,
            settings=settings,
            font=font,
            watermark=settings.transcode_watermark.replace("{org}", self.org_name),
            mapping=mapping,
            cancel=self.fence.cancel,
            label=f"asset {self.asset_id}",
            timeout=ffmpeg_timeout(media, settings),
            limits=limits_for(settings, wall_seconds=ffmpeg_timeout(media, settings)),
        )

    def run(self, started: float) -> TranscodeResult | None:
        """Probe, render, check and upload; settle the asset ready (or find it gone)."""
        settings, asset_id = self.settings, self.asset_id
        render = self._prepare()
        media, mapping = render.media, render.mapping
        tmp_root = settings.transcode_tmp_dir
        if tmp_root is not None:
            tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=tmp_root) as tmp:
            plan, measured, ffmpeg_seconds = _render(render, Path(tmp), mapping)
            files = outputs.collect(plan, media)
            verdict, findings = qc.evaluate(
                measured,
                media=media,
                settings=settings,
                audio_description=plan.audio.description if plan.audio else None,
                mix_tracks=plan.audio.tracks if plan.audio else (),
            )
            if self.fence.cancel is not None and self.fence.cancel.is_set():
                raise LeaseLost("this worker lost the job before uploading renditions")
            digests = _upload(self.storage, asset_id, files)
            report = _qc_report(
                verdict, findings, measured, plan, media, settings, self.mapping_dict
            )
            report["ffmpeg_seconds"] = round(ffmpeg_seconds, 3)
            unwanted = _settle_ready(
                self.db, self.fence, asset_id, media, verdict, report, files, digests
            )
        if unwanted is not None:
            # Superseded or rejected while transcoding: what was just uploaded is nobody's.
            _delete_strays(self.storage, asset_id, keep=unwanted)
            logger.info(
                "transcode: asset %s was superseded or rejected meanwhile; renditions deleted",
                asset_id,
            )
            return None
        _delete_strays(self.storage, asset_id, keep={file.key(asset_id) for file in files})
        # The verdict is what an operator acts on: one INFO line per transcoded master.
        logger.info(
            "transcode: asset %s ready, QC %s (%d findings), %d renditions, ffmpeg %.1f s, "
            "%.1fx realtime",
            asset_id,
            verdict.value,
            len(findings),
            len(files),
            ffmpeg_seconds,
            media.duration / max(time.monotonic() - started, 1e-3),
            extra={"asset": asset_id, "qc": verdict.value},
        )
        return TranscodeResult(
            asset_id=asset_id,
            verdict=verdict.value,
            renditions=len(files),
            ffmpeg_seconds=ffmpeg_seconds,
            total_seconds=time.monotonic() - started,
            media_seconds=media.duration,
        )


def _render(
    render: Render, tmp: Path, mapping: AudioMapping | None
) -> tuple[pipeline.Plan, Measurements, float]:
    """Run the pass, and a second one when the rule's mix turned out to use a silent track."""
    plan, measured, ffmpeg_seconds = render.run(tmp / "pass1")
    silent = qc.silent_tracks(measured)
    if mapping is None and plan.audio and silent & set(plan.audio.tracks):
        # The rule picked a track that turned out silent: the mix is made again
        # without it (one more pass, only for such masters).
        better = plan_audio(
            render.media.audio, render.settings.transcode_stereo_tracks, silent=silent
        )
        if better != plan.audio:
            plan, remeasured, more = render.run(tmp / "pass2", silent=silent)
            remeasured.track_peaks = measured.track_peaks
            measured, ffmpeg_seconds = remeasured, ffmpeg_seconds + more
    return plan, measured, ffmpeg_seconds


def _qc_report(
    verdict: QcVerdict,
    findings: list[qc.Finding],
    measured: Measurements,
    plan: pipeline.Plan,
    media: MediaInfo,
    settings: Settings,
    mapping_dict: dict[str, Any] | None,
) -> dict[str, Any]:
    """The QC report stored on the asset (the caller adds the ffmpeg time)."""
    return {
        "verdict": verdict.value,
        "findings": [finding.as_dict() for finding in findings],
        "measurements": measured.as_dict(),
        "programme_mix": plan.audio.description if plan.audio else None,
        "deinterlace": plan.deinterlace,
        "vbi_lines_cropped": pipeline.vbi_lines(media),
        "tonemap": f"{plan.tonemap} tone-mapped to SDR BT.709" if plan.tonemap else None,
        "audio_mapping": mapping_dict,
        "rules": {
            "loudness_target": settings.qc_loudness_target,
            "loudness_tolerance": settings.qc_loudness_tolerance,
            "true_peak_max": settings.qc_true_peak_max,
            "max_black_seconds": settings.qc_max_black_seconds,
            "max_silence_seconds": settings.qc_max_silence_seconds,
        },
    }


def _begin(
    db: Database, fence: Fence, asset_id: str
) -> tuple[str, str, dict[str, Any] | None] | None:
    with _unit(db, fence) as session:
        asset = session.get(Asset, _uuid(asset_id))
        if asset is None or is_rejected(asset):
            # Gone (superseded), or not the master its delivery declared: nothing to make.
            return None
        org = session.get(Organization, asset.org_id)
        # A re-transcode of a ready asset keeps it ready (its renditions stay valid until the
        # new set replaces them); anything else is now being processed.
        if asset.status is not AssetStatus.READY:
            asset.status = AssetStatus.PROCESSING
            asset.failure_reason = None
        override = (asset.technical or {}).get(AUDIO_MAPPING_KEY)
        return asset.object_key, org.name if org else "unknown", override


def _upload(
    storage: ObjectStorage, asset_id: str, files: list[outputs.RenditionFile]
) -> dict[str, str]:
    """Upload every file under its key; return each key's SHA-256 (hex) of the bytes sent."""
    digests: dict[str, str] = {}
    for file in files:
        key = file.key(asset_id)
        size = file.path.stat().st_size
        with open(file.path, "rb") as handle:
            if size <= MULTIPART_THRESHOLD:
                # Hashed from the same open file just before the PUT: the scratch file is
                # ours alone, so these are the bytes that go up.
                digests[key] = hashlib.file_digest(handle, "sha256").hexdigest()
                handle.seek(0)
                storage.put(key, handle, content_type=file.content_type)
                continue
            digest = hashlib.sha256()
            upload_id = storage.create_multipart(key, content_type=file.content_type)
            try:
                parts = []
                number = 1
                while chunk := handle.read(PART_SIZE):
                    digest.update(chunk)
                    parts.append(storage.upload_part(key, upload_id, number, chunk))
                    number += 1
                storage.complete_multipart(key, upload_id, parts)
            except BaseException:
                storage.abort_multipart(key, upload_id)
                raise
            digests[key] = digest.hexdigest()
    return digests


def _settle_ready(
    db: Database,
    fence: Fence,
    asset_id: str,
    media: MediaInfo,
    verdict: QcVerdict,
    report: dict[str, Any],
    files: list[outputs.RenditionFile],
    digests: dict[str, str],
) -> set[str] | None:
    """Make the asset ready with `files`; if it is gone or rejected, the keys still in use.

    None means ready. Otherwise the caller deletes every rendition object of the asset but
    the returned keys (those its existing rendition rows, if any, still name).
    """
    with _unit(db, fence) as session:
        asset = session.get(Asset, _uuid(asset_id))
        if asset is None:
            return set()
        # Rejected while transcoding (its sidecar came meanwhile): it must never be ready.
        if is_rejected(asset):
            return {r.object_key for r in asset.renditions}
        # Old rows go first (and are flushed), so the unique object keys can be reused.
        asset.renditions.clear()
        session.flush()
        for file in files:
            asset.renditions.append(
                Rendition(
                    kind=file.kind,
                    name=file.name,
                    object_key=file.key(asset_id),
                    size=file.path.stat().st_size,
                    content_type=file.content_type,
                    # A copy: the file's own meta stays as collected; the hash is what the
                    # sync verifies a downloaded proxy or poster against.
                    meta={**file.meta, "sha256": digests[file.key(asset_id)]},
                )
            )
        asset.status = AssetStatus.READY
        asset.failure_reason = None
        asset.technical = _keep_mapping(asset, media)
        asset.qc = report
        asset.qc_verdict = verdict
        record_change(
            session,
            org_id=asset.org_id,
            kind="asset.ready",
            subject_type="asset",
            subject_id=str(asset.id),
            data={"qc_verdict": verdict.value, "renditions": len(files)},
        )
        queue_extraction(session, asset)
    return None


def _is_gone(db: Database, asset_id: str) -> bool:
    try:
        with db.session() as session:
            return session.get(Asset, _uuid(asset_id)) is None
    except Exception:  # the database is unwell: keep the objects, maintenance sweeps them
        return False


def _keep_mapping(asset: Asset, media: MediaInfo) -> dict[str, Any]:
    """The new probe, with the asset's audio-mapping override (if any) carried over."""
    override = (asset.technical or {}).get(AUDIO_MAPPING_KEY)
    return {**media.technical, AUDIO_MAPPING_KEY: override} if override else media.technical


def _mapping(data: dict[str, Any] | None) -> AudioMapping | None:
    try:
        return AudioMapping.from_dict(data)
    except (TypeError, ValueError, IndexError) as exc:
        raise JobError(f"the asset's audio mapping {data!r} cannot be read: {exc}") from exc


def _delete_strays(storage: ObjectStorage, asset_id: str, *, keep: set[str]) -> None:
    """Remove rendition objects the committed set no longer names (best effort)."""
    try:
        strays = [
            info.key for info in storage.list(f"renditions/{asset_id}/") if info.key not in keep
        ]
        if strays:
            storage.delete_many(strays)
    except StorageError:
        logger.warning("transcode: could not tidy old renditions of %s", asset_id, exc_info=True)


def sweep_temp_dirs(settings: Settings) -> int:
    """Remove scratch directories left by transcode processes that no longer run."""
    root = settings.transcode_tmp_dir or Path(tempfile.gettempdir())
    removed = 0
    for path in root.glob(f"{TMP_PREFIX}*"):
        pid_text = path.name.removeprefix(TMP_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise JobError(f"transcode job names no valid asset id ({value!r})") from exc


def _probe_master(storage: ObjectStorage, key: str) -> MediaInfo:
    try:
        size = storage.head(key).size
    except ObjectNotFound as exc:
        raise JobError(f"the master {key} is missing from object storage") from exc
    if size == 0:
        raise JobError("the master is an empty file (0 bytes)")
    reader = RangeReader(lambda start, end: storage.get(key, start=start, end=end), size)
    # Lists and playlists are refused by what they are before any demuxer reads them (the
    # head is the reader's first block, which the probe reads again from its cache).
    refuse_untrusted(reader.read(SNIFF_BYTES), key)
    reader.seek(0)
    return probe(reader)


def _validate(media: MediaInfo, settings: Settings) -> None:
    """Refuse masters no proxy can be made from, with the reason in plain words."""
    video = media.video
    if video is None:
        if media.duration <= 0 and not media.audio:
            raise JobError("the master is empty: it has no video, no audio and zero duration")
        if media.audio:
            raise JobError("the master has audio only; a master needs a video track")
        raise JobError("the master has no video track")
    if media.duration <= 0:
        raise JobError("the master has zero duration (no frames to transcode)")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if not (pipeline.MIN_DIMENSION <= width <= settings.transcode_max_width) or not (
        pipeline.MIN_DIMENSION <= height <= settings.transcode_max_height
    ):
        raise JobError(
            f"the picture size {width}x{height} is outside what the pool accepts "
            f"({pipeline.MIN_DIMENSION}x{pipeline.MIN_DIMENSION} to "
            f"{settings.transcode_max_width}x{settings.transcode_max_height})"
        )
    if media.duration > settings.transcode_max_duration_hours * 3600:
        raise JobError(
            f"the master claims to last {media.duration / 3600:.1f} h; the limit is "
            f"{settings.transcode_max_duration_hours:g} h"
        )


def ffmpeg_timeout(media: MediaInfo, settings: Settings) -> float:
    """The wall-clock limit for one master: a base plus a multiple of its duration."""
    return settings.transcode_timeout_base_seconds + (
        settings.transcode_timeout_factor * media.duration
    )


def job_time_limit(media: MediaInfo, settings: Settings) -> float:
    """The longest one transcode job may read its master: its listings and two passes."""
    return LISTINGS_PER_JOB * PROBE_SECONDS + RENDER_PASSES * ffmpeg_timeout(media, settings)


def _url_lifetime(media: MediaInfo, settings: Settings) -> int:
    # ffmpeg reconnects with the same URL, so it must last as long as the job may read; and no
    # longer: a URL that leaked somewhere is then useless once the job is over. (SigV4
    # presigned URLs cannot live longer than 7 days.)
    return max(1, math.ceil(min(job_time_limit(media, settings), MAX_URL_SECONDS)))


@contextmanager
def _unit(db: Database, fence: Fence) -> Iterator[Session]:
    """A unit of work that commits only while this worker still holds the job."""
    # The write lock is taken first on SQLite, so the job cannot change hands before we commit.
    with db.write_session() as session:
        if fence.job_id is not None:
            held = session.execute(
                select(Job.id)
                .where(
                    Job.id == fence.job_id,
                    Job.status == JobStatus.RUNNING,
                    Job.locked_by == fence.worker_id,
                    Job.attempts == fence.attempt,
                )
                .with_for_update()
            ).first()
            if held is None:
                raise LeaseLost("this worker no longer holds the transcode job")
        yield session


def _settle_failed(
    db: Database, fence: Fence, asset_id: str, reason: str, media: MediaInfo | None
) -> None:
    # Whatever the reason quotes (ffmpeg's log, a library's error), no URL of the master.
    reason = redact_urls(reason)
    with _unit(db, fence) as session:
        asset = session.get(Asset, _uuid(asset_id))
        if asset is None:
            return
        if media is not None:
            asset.technical = _keep_mapping(asset, media)
        mark_asset_failed(session, asset, reason)
    logger.warning("transcode: asset %s failed: %s", asset_id, reason)


def requeue_transcode(session: Session, *, asset_id: str | uuid.UUID | None = None) -> int:
    """Queue a fresh transcode for one asset, or for every asset; return how many were queued.

    Assets that already have a queued or running transcode are skipped (it will pick up the
    current settings anyway).
    """
    busy = {
        str(job.payload.get("asset_id"))
        for job in session.scalars(
            select(Job).where(
                Job.kind == JOB_KIND, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
            )
        )
    }
    if asset_id is not None:
        asset = session.get(Asset, _uuid_or_notfound(asset_id))
        if asset is None:
            raise NotFound(f"no asset {asset_id}")
        assets = [asset]
    else:
        assets = list(session.scalars(select(Asset).order_by(Asset.created_at)))
    queued = 0
    for asset in assets:
        if str(asset.id) in busy:
            continue
        queue.enqueue(
            session, kind=JOB_KIND, payload={"asset_id": str(asset.id)}, org_id=asset.org_id
        )
        queued += 1
    return queued


def _uuid_or_notfound(value: str | uuid.UUID) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"no asset {value}") from exc


def preflight(settings: Settings) -> tuple[str, str]:
    """Check ffmpeg and the font once at worker start; return (ffmpeg path, font path)."""
    info = check_ffmpeg(settings)
    return info.path, find_font(settings)
