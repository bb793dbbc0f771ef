"""A master is untrusted input: what it may make the transcoder read, show and spend.

Hostile masters come in through FTP, as a member's robot would deliver them; the worker's
own code (probe, ffmpeg) then meets them exactly as in production.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import JobError
from pool_core.models import Asset, AssetStatus, Job
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import Members
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, wait_until
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import change_kinds, load_asset, make_asset
from transcode.process import FfmpegFailed, run_ffmpeg
from transcode.programmes import PROBE_SECONDS
from transcode.service import transcode_asset

PASSWD = Path("/etc/passwd")
# A line every /etc/passwd has; if it shows up anywhere, a local file was read.
PASSWD_MARKER = "root:x:0:0"
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000105fe02fea70000000049454e44ae426082"
)
# Only files with a master's extension become assets, so the hostile ones wear one.
HOSTILE = {
    "ffconcat_list.mxf": b"ffconcat version 1.0\nfile 'file:///etc/passwd'\nfile '/etc/passwd'\n",
    "hls_playlist.ts": (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    ),
    "disguised_playlist.mov": b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    "frame_%03d.mxf": PNG_1x1,
    "still_image.mov": PNG_1x1,
}


def _deliver(server: RunningFTP, account: FtpLogin, name: str, data: bytes) -> str:
    """STOR a master into /incoming and return the id of the asset it became."""
    with connect_plain(server, account) as client:
        client.storbinary(f"STOR /incoming/{name}", io.BytesIO(data))

    def asset_id() -> str | None:
        with server.db.session() as session:
            found = session.scalar(
                select(Asset.id).where(Asset.org_id == account.org_id, Asset.filename == name)
            )
        return str(found) if found else None

    wait_until(lambda: asset_id() is not None, f"the asset of {name}", timeout=30)
    found = asset_id()
    assert found is not None
    return found


@pytest.mark.skipif(not PASSWD.exists(), reason="needs a local /etc/passwd to try to leak")
@pytest.mark.parametrize("name", list(HOSTILE))
def test_lists_playlists_and_image_sequences_are_refused_with_a_reason(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    name: str,
) -> None:
    asset_id = _deliver(ftp_server, ftp_accounts["aztv"], name, HOSTILE[name])

    with pytest.raises(JobError) as raised:
        transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)

    assert type(raised.value).__name__ != "TransientJobError"
    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.FAILED
    reason = asset.failure_reason or ""
    assert "refused" in reason, reason
    assert any(word in reason for word in ("list", "playlist", "image-sequence", "container"))
    # Nothing of the local file anywhere the asset, its events or its job could show.
    shown = json.dumps(
        [reason, asset.technical, asset.qc, str(raised.value), _job_texts(database, asset_id)],
        default=str,
    )
    assert PASSWD_MARKER not in shown
    assert asset.renditions == []
    assert list(storage.list(f"renditions/{asset_id}/")) == []
    assert change_kinds(database, asset_id)[-1] == "asset.failed"


def _job_texts(database: Database, asset_id: str) -> list[Any]:
    with database.session() as session:
        return [
            (job.payload, job.last_error)
            for job in session.scalars(select(Job))
            if (job.payload or {}).get("asset_id") == asset_id
        ]


def test_the_presigned_master_url_is_never_shown_and_dies_with_the_job(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    members: Members,
    api_client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The master vanishes after the probe (superseded, deleted): ffmpeg's open fails with a
    # 404 and names its input, the presigned URL, in the error it logs.
    asset_id = make_asset(database, storage, media.path("h264_stereo_mp4"))
    presign = storage.presigned_get
    lifetimes: list[int] = []

    def presigned_then_gone(key: str, *, expires_in: int = 900, **kwargs: Any) -> str:
        lifetimes.append(expires_in)
        url = presign(key, expires_in=expires_in, **kwargs)
        storage.delete(key)
        return url

    monkeypatch.setattr(storage, "presigned_get", presigned_then_gone)

    with pytest.raises(FfmpegFailed) as raised:
        transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.FAILED and asset.failure_reason
    assert asset.org_id == members.org_ids["kztv"]
    response = api_client.get(f"/v1/assets/{asset_id}", headers=members.headers("kztv", "admin"))
    assert response.status_code == 200, response.text
    shown = {
        "failure_reason": asset.failure_reason,
        "api": response.text,
        "job error": str(raised.value),
        "qc": json.dumps(asset.qc),
    }
    for where, text in shown.items():
        assert "X-Amz-" not in text, f"the presigned URL shows in the {where}: {text}"
    # The URL lives as long as the job may read the master (two listings, two ffmpeg
    # passes under their wall-clock limit), not hours beyond it.
    duration = float(asset.technical["container"]["duration"])
    per_pass = (
        tc_settings.transcode_timeout_base_seconds + tc_settings.transcode_timeout_factor * duration
    )
    assert lifetimes and max(lifetimes) <= 2 * PROBE_SECONDS + 2 * per_pass + 1


def test_a_runaway_ffmpeg_is_stopped_at_its_cpu_time_limit(
    ffmpeg_path: str, tmp_path: Path
) -> None:
    # An endless source decoded as fast as the CPU allows: only the CPU limit ends it (the
    # wall-clock limit is far away), whatever the machine's load.
    from transcode.safety import Limits  # here: the evidence run on main imports the module

    args = [ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=s=1280x720", "-f", "null", "-"]
    with pytest.raises(FfmpegFailed, match=r"CPU-time limit \(1 s\)"):
        run_ffmpeg(
            args,
            log_path=tmp_path / "log",
            timeout=3600,
            limits=Limits(cpu_seconds=1, memory_bytes=None),
        )


def test_ffmpeg_is_held_to_its_memory_limit(ffmpeg_path: str, tmp_path: Path) -> None:
    # One 8K frame needs more than 120 MiB of address space with ffmpeg's own.
    from transcode.safety import Limits  # here: the evidence run on main imports the module

    args = [ffmpeg_path, "-f", "lavfi", "-i", "testsrc2=s=8192x4320", "-frames:v", "3"]
    with pytest.raises(FfmpegFailed, match=r"memory limit \(120 MiB\)"):
        run_ffmpeg(
            [*args, "-f", "null", "-"],
            log_path=tmp_path / "log",
            timeout=3600,
            limits=Limits(cpu_seconds=None, memory_bytes=120 << 20),
        )


@pytest.mark.parametrize("megabytes", [64])
def test_the_memory_limit_setting_reaches_the_transcode(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    megabytes: int,
) -> None:
    # A limit no transcode of a 1080i master can meet, set the way an operator would: the
    # asset fails and says why, and the worker's memory is never at stake.
    settings = tc_settings.model_copy(update={"transcode_ffmpeg_memory_mb": megabytes})
    asset_id = make_asset(database, storage, media.path("xdcam_mxf"))

    with pytest.raises(JobError):
        transcode_asset(db=database, storage=storage, settings=settings, asset_id=asset_id)

    reason = load_asset(database, asset_id).failure_reason or ""
    assert f"memory limit ({megabytes} MiB)" in reason, reason


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("frame_%03d.mxf", True),
        ("%d.mov", True),
        ("Episode [HD].mxf", False),
        ("50%done.mxf", False),
        ("news*.mxf", False),
    ],
)
def test_only_frame_number_patterns_count_as_image_sequences(name: str, refused: bool) -> None:
    from transcode.safety import refuse_untrusted  # here: the evidence run on main

    if refused:
        with pytest.raises(JobError, match="image-sequence pattern"):
            refuse_untrusted(b"\x06\x0e\x2b\x34", name)
    else:
        refuse_untrusted(b"\x06\x0e\x2b\x34", name)
