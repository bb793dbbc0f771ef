"""One asset end to end on real ffmpeg, SeaweedFS and each database: outputs, QC, states."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import JobError
from pool_core.models import AssetStatus, Job, QcVerdict, Rendition
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import ORG_NAME, change_kinds, load_asset, make_asset
from transcode.probe import probe
from transcode.service import requeue_transcode, transcode_asset

FRAME = 1 / 25


def run(db: Database, storage: S3Storage, settings: Settings, asset_id: str) -> None:
    transcode_asset(db=db, storage=storage, settings=settings, asset_id=asset_id)


def fetch(storage: S3Storage, key: str, tmp_path: Path) -> Path:
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(storage.get(key))
    return path


def assert_hashes_describe_stored_objects(storage: S3Storage, renditions: list[Rendition]) -> None:
    """Every rendition row publishes the SHA-256 of the object stored under its key."""
    for rendition in renditions:
        stored = hashlib.sha256(storage.get(rendition.object_key)).hexdigest()
        assert rendition.meta["sha256"] == stored, rendition.object_key


def test_xdcam_master_becomes_a_screenable_asset(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
) -> None:
    asset_id = make_asset(database, storage, media.path("xdcam_mxf"))

    run(database, storage, tc_settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY and asset.failure_reason is None
    video = asset.technical["video"]
    assert (video["codec"], video["profile"], video["width"], video["height"]) == (
        "mpeg2video",
        "4:2:2",
        1920,
        1080,
    )
    assert (video["scan_type"], video["field_order"], video["frame_rate"]) == (
        "interlaced",
        "tff",
        25.0,
    )
    assert video["display_aspect_ratio"] == "16:9"
    assert asset.technical["container"]["start_timecode"] == "10:00:00:00"
    tracks = asset.technical["audio"]
    assert len(tracks) == 8
    assert {(t["codec"], t["channels"], t["bit_depth"], t["sample_rate"]) for t in tracks} == {
        ("pcm_s24le", 1, 24, 48000)
    }

    kinds = {r.kind: r for r in asset.renditions}
    assert set(kinds) == {"proxy", "poster", "thumbnail", "storyboard"}
    keys = {r.object_key for r in asset.renditions}
    assert all(r.object_key == f"renditions/{asset_id}/{r.kind}/{r.name}" for r in asset.renditions)
    assert {info.key for info in storage.list(f"renditions/{asset_id}/")} == keys
    assert_hashes_describe_stored_objects(storage, asset.renditions)

    proxy = probe(str(fetch(storage, kinds["proxy"].object_key, tmp_path)))
    pv = proxy.video
    assert pv is not None
    assert (pv["codec"], pv["profile"], pv["width"], pv["height"]) == ("h264", "High", 960, 540)
    assert pv["scan_type"] == "progressive"
    assert abs(proxy.duration - 2.0) <= 2 * FRAME
    assert [(a["codec"], a["channels"]) for a in proxy.audio] == [("aac", 2)]
    assert kinds["proxy"].meta["width"] == 960

    # Tracks 1+2 carry the EBU Tech 3341 reference tone: -23.0 LUFS, true peak -23 dBTP.
    assert asset.qc_verdict is QcVerdict.PASS, asset.qc["findings"]
    measured = asset.qc["measurements"]
    assert measured["integrated_lufs"] == pytest.approx(-23.0, abs=0.3)
    assert measured["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.5)
    assert asset.qc["programme_mix"] == "mono tracks 1+2 as left/right"
    assert asset.qc["deinterlace"] == "field"

    vtt = storage.get(f"renditions/{asset_id}/storyboard/storyboard.vtt").decode()
    assert vtt.startswith("WEBVTT")
    assert "sheet_001.jpg#xywh=0,0,160,90" in vtt
    assert change_kinds(database, asset_id) == ["asset.ready"]
    assert list(tc_settings.transcode_tmp_dir.iterdir()) == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("master", "mix"),
    [
        ("prores_mov", "track 1 (stereo) as is"),
        ("h264_mp4", "track 1 (5.1) downmixed to stereo"),
        ("h264_stereo_mp4", "track 1 (stereo) as is"),
    ],
)
def test_prores_and_h264_masters_get_a_stereo_proxy(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
    master: str,
    mix: str,
) -> None:
    asset_id = make_asset(database, storage, media.path(master))

    run(database, storage, tc_settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY
    assert asset.qc["programme_mix"] == mix
    proxy_row = next(r for r in asset.renditions if r.kind == "proxy")
    proxy = probe(str(fetch(storage, proxy_row.object_key, tmp_path)))
    assert proxy.video is not None
    assert (proxy.video["codec"], proxy.video["height"], proxy.video["width"]) == (
        "h264",
        360,
        640,
    )
    assert abs(proxy.duration - 2.0) <= 2 * FRAME
    assert [a["channels"] for a in proxy.audio] == [2]


def test_proxy_carries_the_watermark_and_timecode(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
) -> None:
    asset_id = make_asset(database, storage, media.path("gray_mp4"))
    run(database, storage, tc_settings, asset_id)
    key = next(r.object_key for r in load_asset(database, asset_id).renditions if r.kind == "proxy")

    with av.open(io.BytesIO(storage.get(key))) as container:
        frame = next(container.decode(video=0)).reformat(format="gray")
        plane = frame.planes[0]
        data = bytes(plane)
        height, width = frame.height, frame.width
        rows = [data[y * plane.line_size : y * plane.line_size + width] for y in range(height)]

    def region(top: float, bottom: float, left: float, right: float) -> bytes:
        return b"".join(
            row[int(width * left) : int(width * right)]
            for row in rows[int(height * top) : int(height * bottom)]
        )

    flat = region(1 / 8, 1 / 4, 0, 1)  # above the watermark: untouched grey
    middle = region(2 / 5, 3 / 5, 1 / 8, 7 / 8)
    bottom = region(4 / 5, 1, 1 / 4, 3 / 4)  # burnt-in timecode box
    assert max(flat) - min(flat) <= 8
    assert sum(v > 145 for v in middle) > 200, "no bright watermark text in the middle"
    assert sum(v < 90 for v in middle) > 50, "no dark outline around the watermark text"
    assert sum(v < 80 for v in bottom) > 500 and sum(v > 200 for v in bottom) > 100
    assert ORG_NAME in tc_settings.transcode_watermark.replace("{org}", ORG_NAME)


def test_loud_programme_fails_qc_with_a_readable_finding(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    asset_id = make_asset(database, storage, media.path("loud_mov"))

    caplog.set_level("INFO", logger="transcode")
    run(database, storage, tc_settings, asset_id)
    # The verdict reaches the console at INFO: it is what an operator acts on.
    (line,) = [r.getMessage() for r in caplog.records if "ready, QC" in r.getMessage()]
    assert line.startswith(f"transcode: asset {asset_id} ready, QC fail (1 findings), ")

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY  # screenable, but it would not pass delivery
    assert asset.qc_verdict is QcVerdict.FAIL
    assert asset.qc["measurements"]["integrated_lufs"] == pytest.approx(-14.0, abs=0.3)
    (finding,) = asset.qc["findings"]
    assert finding["check"] == "loudness" and finding["severity"] == "fail"
    assert finding["message"] == (
        "Integrated loudness of the programme mix (track 1) is -14.0 LUFS "
        "(00:00:00:00-00:00:02:00), 9.0 LU too loud; the target is -23.0 ± 1.0 LUFS (EBU R128)."
    )


def test_black_and_silence_at_head_and_tail_warn(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    settings = tc_settings.model_copy(
        update={"qc_max_black_seconds": 1.0, "qc_max_silence_seconds": 1.0}
    )
    asset_id = make_asset(database, storage, media.path("black_head_mp4"))

    run(database, storage, settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.qc_verdict is QcVerdict.WARN
    # The master's own timecode (none: 00:00:00:00); a tail runs to the end of the file.
    assert [(f["check"], f["severity"], f["message"]) for f in asset.qc["findings"]] == [
        ("black", "warn", "The picture is black for 1.5 s at the head "
         "(00:00:00:00-00:00:01:13); at most 1 s is allowed."),
        ("black", "warn", "The picture is black for 1.5 s at the tail "
         "(00:00:03:13-00:00:05:00); at most 1 s is allowed."),
        ("silence", "warn", "The programme mix (track 1) is silent for 1.5 s at the head "
         "(00:00:00:00-00:00:01:12); at most 1 s is allowed."),
    ]  # fmt: skip


def test_true_peak_finding_names_where_the_peak_is(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    # A 100 ms burst at -0.5 dBFS from 1.25 s: in ebur128's window 1.2-1.3 s (00:00:01:05).
    asset_id = make_asset(database, storage, media.path("peak_burst_mov"))

    run(database, storage, tc_settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.qc["measurements"]["true_peak_at"] == pytest.approx(1.2, abs=1e-3)
    (finding,) = [f for f in asset.qc["findings"] if f["check"] == "true_peak"]
    assert finding["message"] == (
        "True peak of the programme mix (track 1) reaches -0.5 dBTP (at 00:00:01:05); "
        "the ceiling is -1.0 dBTP."
    )


def test_undecodable_audio_track_is_named_with_its_codec(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    # Track 1's codec is unknown (its fourcc renamed); track 2 is AAC and carries the mix.
    asset_id = make_asset(database, storage, media.path("unknown_audio_codec.mov"))

    run(database, storage, tc_settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY
    assert asset.qc["programme_mix"] == "track 2 (stereo) as is"
    assert asset.technical["audio"][0]["codec_named"] == "none (XQ8A / 0x41385158)"
    assert asset.qc_verdict is QcVerdict.WARN
    assert [(f["check"], f["severity"], f["message"]) for f in asset.qc["findings"]] == [
        ("audio_codec", "warn", "Audio track 1 (none (XQ8A / 0x41385158)) cannot be decoded "
         "by the bundled ffmpeg (00:00:00:00-00:00:01:00); the mix leaves it out."),
    ]  # fmt: skip


def test_master_whose_only_audio_is_undecodable_does_not_read_as_silent_or_mute(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    asset_id = make_asset(database, storage, media.path("only_unknown_audio.mov"))

    run(database, storage, tc_settings, asset_id)

    asset = load_asset(database, asset_id)
    assert asset.status is AssetStatus.READY
    assert asset.qc["programme_mix"] is None
    assert asset.qc_verdict is QcVerdict.FAIL
    # Not "The master has no audio track": it has one, in a codec that is named.
    assert [(f["check"], f["severity"], f["message"]) for f in asset.qc["findings"]] == [
        ("audio_codec", "fail", "Audio track 1 (none (XQ8A / 0x41385158)) cannot be decoded "
         "by the bundled ffmpeg (00:00:00:00-00:00:01:00); the proxy has no programme audio."),
    ]  # fmt: skip


def test_retranscode_after_a_ladder_change_replaces_renditions(
    database: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    asset_id = make_asset(database, storage, media.path("h264_stereo_mp4"))
    run(database, storage, tc_settings, asset_id)
    first = {r.object_key for r in load_asset(database, asset_id).renditions}
    assert f"renditions/{asset_id}/proxy/360p.mp4" in first

    with database.session() as session:
        assert requeue_transcode(session, asset_id=asset_id) == 1
        assert requeue_transcode(session, asset_id=asset_id) == 0  # already queued
    with database.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == "transcode")))
    assert [job.payload for job in jobs] == [{"asset_id": asset_id}]

    rerun = tc_settings.model_copy(update={"transcode_ladder": [240, 180]})
    run(database, storage, rerun, asset_id)

    asset = load_asset(database, asset_id)
    second = {r.object_key for r in asset.renditions}
    assert {k for k in second if "/proxy/" in k} == {
        f"renditions/{asset_id}/proxy/240p.mp4",
        f"renditions/{asset_id}/proxy/180p.mp4",
    }
    assert {info.key for info in storage.list(f"renditions/{asset_id}/")} == second
    # The rerun overwrote the objects it kept (the poster, thumbnails...): every published
    # hash is the one of the bytes stored now, not of the first run's.
    assert_hashes_describe_stored_objects(storage, asset.renditions)
    assert change_kinds(database, asset_id) == ["asset.ready", "asset.ready"]


def test_requeue_all_queues_every_asset(
    database: Database, storage: S3Storage, media: MediaFactory
) -> None:
    ids = {make_asset(database, storage, media.path("h264_stereo_mp4")) for _ in range(3)}
    with database.session() as session:
        assert requeue_transcode(session) == 3
    with database.session() as session:
        queued = {job.payload["asset_id"] for job in session.scalars(select(Job))}
    assert queued == ids


def test_missing_asset_is_not_an_error(
    database: Database, storage: S3Storage, tc_settings: Settings
) -> None:
    result = transcode_asset(
        db=database,
        storage=storage,
        settings=tc_settings,
        asset_id="00000000-0000-4000-8000-000000000000",
    )
    assert result is None
    with pytest.raises(JobError, match="no valid asset id"):
        run(database, storage, tc_settings, "not-a-uuid")
