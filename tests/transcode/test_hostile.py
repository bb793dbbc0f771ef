"""Broken and hostile masters end `failed` with a reason a person understands."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pool_core.db import Database
from pool_core.errors import JobError, StorageError, TransientJobError
from pool_core.models import AssetStatus
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import change_kinds, load_asset, make_asset
from transcode.process import Cancelled, FfmpegNetworkError, FfmpegTimeout, run_ffmpeg
from transcode.service import transcode_asset


@pytest.mark.parametrize(
    ("master", "reason"),
    [
        ("truncated_mxf", "the master is truncated or damaged: only"),
        ("truncated_mp4", "not a media file ffmpeg can read"),
        ("not_media.mxf", "not a media file ffmpeg can read"),
        ("audio_only_wav", "the master has audio only"),
        ("absurd_mov", "the picture size 20000x16 is outside what the pool accepts"),
        ("empty_mp4", "zero duration"),
    ],
)
def test_broken_master_fails_with_a_readable_reason(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    master: str,
    reason: str,
) -> None:
    asset_id = make_asset(database, storage, media.path(master))

    with pytest.raises(JobError, match=reason) as raised:
        transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)

    assert type(raised.value).__name__ != "TransientJobError"
    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.FAILED
    assert asset.failure_reason is not None and reason in asset.failure_reason
    assert asset.renditions == []
    assert list(storage.list(f"renditions/{asset_id}/")) == []
    assert change_kinds(database, asset_id) == ["asset.failed"]
    assert list(tc_settings.transcode_tmp_dir.iterdir()) == []  # type: ignore[union-attr]


def test_corrupt_master_either_fails_cleanly_or_warns(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    asset_id = make_asset(database, storage, media.path("corrupt_mp4"))
    try:
        transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)
    except JobError:
        asset = load_asset(database, asset_id)
        assert asset.status is AssetStatus.FAILED and asset.failure_reason
    else:
        asset = load_asset(database, asset_id)
        assert asset.status is AssetStatus.READY
        checks = {finding["check"] for finding in asset.qc["findings"]}
        assert "decoding" in checks, asset.qc["findings"]
    assert list(tc_settings.transcode_tmp_dir.iterdir()) == []  # type: ignore[union-attr]


def test_ffmpeg_past_its_wall_clock_limit_is_killed_and_the_asset_fails(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    # The limit is base + factor x duration; nothing decodes 2 s of 1080i50 in 20 ms.
    settings = tc_settings.model_copy(
        update={"transcode_timeout_base_seconds": 0.0, "transcode_timeout_factor": 0.01}
    )
    asset_id = make_asset(database, storage, media.path("xdcam_mxf"))

    with pytest.raises(JobError, match="did not finish within"):
        transcode_asset(db=database, storage=storage, settings=settings, asset_id=asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.FAILED
    assert "may be damaged in a way that makes decoding hang" in (asset.failure_reason or "")
    assert list(tc_settings.transcode_tmp_dir.iterdir()) == []  # type: ignore[union-attr]


def _no_ffmpeg_children() -> bool:
    """Whether no ffmpeg process is a child of this test process (read from /proc)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            parent = fields[1].split()[1]
        except (OSError, IndexError):
            continue
        if parent == me and "ffmpeg" in comm:
            return False
    return True


def test_hanging_ffmpeg_is_killed_at_the_limit(ffmpeg_path: str, tmp_path: Path) -> None:
    # An endless source read in real time: the way a stalled network read or a decoder
    # stuck in a loop looks from outside.
    args = [ffmpeg_path, "-re", "-f", "lavfi", "-i", "testsrc2=s=64x64", "-f", "null", "-"]
    started = time.monotonic()
    with pytest.raises(FfmpegTimeout, match="did not finish within 1 s"):
        run_ffmpeg(args, log_path=tmp_path / "log", timeout=1.0)
    assert time.monotonic() - started < 30
    assert _no_ffmpeg_children()


def test_losing_the_job_stops_ffmpeg(ffmpeg_path: str, tmp_path: Path) -> None:
    args = [ffmpeg_path, "-re", "-f", "lavfi", "-i", "testsrc2=s=64x64", "-f", "null", "-"]
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(Cancelled):
        run_ffmpeg(args, log_path=tmp_path / "log", timeout=60, cancel=cancel)
    assert _no_ffmpeg_children()


def test_storage_outage_is_retried_and_fails_the_asset_only_on_the_last_attempt(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    asset_id = make_asset(database, storage, media.path("h264_stereo_mp4"))
    dead = _dead_storage(storage)

    with pytest.raises(StorageError) as raised:
        transcode_asset(
            db=database, storage=dead, settings=tc_settings, asset_id=asset_id, last_attempt=False
        )
    assert not isinstance(raised.value, JobError)
    assert load_asset(database, asset_id).status is AssetStatus.PROCESSING

    with pytest.raises(StorageError):
        transcode_asset(
            db=database, storage=dead, settings=tc_settings, asset_id=asset_id, last_attempt=True
        )
    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.FAILED
    assert (asset.failure_reason or "").startswith("transcoding kept failing:")

    # The outage ends: the same asset transcodes normally.
    transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)
    assert load_asset(database, asset_id).status is AssetStatus.READY


def _dead_storage(storage: S3Storage) -> S3Storage:
    # Port 9 (discard) on loopback: nothing listens, connections are refused at once.
    return S3Storage(
        endpoint="http://127.0.0.1:9",
        access_key="JPDEADKEY0000",
        secret_key="x" * 30,
        bucket=storage.bucket,
        connect_timeout=1,
        max_attempts=1,
    )


def test_ffmpeg_losing_the_storage_connection_is_transient(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    # Loopback port 9 (discard): nothing listens, like S3 being down mid-transcode.
    args = [ffmpeg_path, "-i", "http://127.0.0.1:9/masters/x.mxf", "-f", "null", "-"]
    with pytest.raises(FfmpegNetworkError, match="storage connection") as raised:
        run_ffmpeg(args, log_path=tmp_path / "log", timeout=60)
    assert isinstance(raised.value, TransientJobError)
