"""The delivery corpus through the real worker: every wrapper, codec, picture format and audio
layout broadcasters send (tests/fixtures/media.py `CORPUS`) ends `ready` with a proxy that
passes the same probe checks.

These run on SQLite only: the database work is the same for every master and is covered on
both backends by test_transcode.py and test_workers.py; running ~20 transcodes twice would
double the suite's heaviest CPU cost on 2 cores for nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import AssetStatus, Base, Job, JobStatus
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.media import CORPUS, MediaFactory
from tests.transcode.helpers import load_asset, make_asset
from transcode.probe import MediaInfo, probe
from transcode.worker import build_runner

MONO = "mono track 1 on both sides"
# name -> (display aspect ratio, programme mix or None without audio, exact loudness or None
# where a downmix sets it)
EXPECTED: dict[str, tuple[Fraction, str | None, float | None]] = {
    "imx_pal43_mxf": (Fraction(4, 3), "channels 1+2 of track 1 (4 discrete channels)", -23.0),
    "imx_pal169_mxf": (Fraction(16, 9), "channels 1+2 of track 1 (4 discrete channels)", -23.0),
    "dv_pal43_dv": (Fraction(4, 3), "track 1 (stereo) as is", -23.0),
    "dv_ntsc169_dv": (Fraction(16, 9), "track 1 (stereo) as is", -23.0),
    "dvb_two_programmes_ts": (Fraction(16, 9), MONO, -23.0),
    "hdv_1080i50_m2t": (Fraction(16, 9), MONO, -23.0),
    "h264_720p50_mp4": (Fraction(16, 9), MONO, -23.0),
    "h264_720p5994_mov": (Fraction(16, 9), "track 1 (7.1) downmixed to stereo", None),
    "dnxhd_1080i50_mxf": (Fraction(16, 9), MONO, -23.0),
    "xdcam_1080i5994_4stereo_mxf": (Fraction(16, 9), "track 1 (2 channels) as is", -23.0),
    "xdcam_1080i50_bff_mxf": (Fraction(16, 9), "mono tracks 1+2 as left/right", -23.0),
    "h264_1080p23976_mp4": (Fraction(16, 9), MONO, -23.0),
    "prores_1080p25_mov": (Fraction(16, 9), "track 1 (stereo) as is", -23.0),
    "dnxhr_1080p2997_df_mov": (Fraction(16, 9), "mono track 2 on both sides", -23.0),
    "h264_vertical_mp4": (Fraction(9, 16), MONO, -23.0),
    "h264_square_noaudio_mov": (Fraction(1, 1), None, None),
    "hevc_2160p_10bit_mp4": (Fraction(16, 9), MONO, -23.0),
    "hevc_pq_mp4": (Fraction(16, 9), "track 1 (5.1) downmixed to stereo", None),
    "hevc_hlg_mp4": (Fraction(16, 9), "track 1 (stereo) as is", -23.0),
    "avcintra_1080p25_16mono_mxf": (Fraction(16, 9), "mono tracks 1+2 as left/right", -23.0),
    "vp9_opus_webm": (Fraction(16, 9), MONO, -23.0),
}

# Interlaced masters: name -> the field order probed from the stream.
FIELD_ORDER = {
    "imx_pal43_mxf": "tff",
    "imx_pal169_mxf": "tff",
    "dv_pal43_dv": "bff",
    "dv_ntsc169_dv": "bff",
    "dvb_two_programmes_ts": "tff",
    "hdv_1080i50_m2t": "tff",
    "dnxhd_1080i50_mxf": "tff",
    "xdcam_1080i5994_4stereo_mxf": "tff",
    "xdcam_1080i50_bff_mxf": "bff",
}
# The field-order findings QC must give (HD bottom field first), exactly; none elsewhere.
FIELD_ORDER_FINDINGS = {
    "xdcam_1080i50_bff_mxf": [
        "The video track (1080-line interlaced) is bottom field first from 10:00:00:00; HD "
        "interlaced is top field first. The proxy follows the stream's order."
    ],
}


def test_every_corpus_master_has_an_expectation() -> None:
    assert set(EXPECTED) == set(CORPUS)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A private SQLite database with the current schema."""
    db = Database(f"sqlite:///{tmp_path / 'pool.db'}")
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


def transcode_through_worker(
    db: Database, storage: S3Storage, settings: Settings, master: Path
) -> str:
    """Deliver a master as ingest does and let a real worker runner take the job."""
    asset_id = make_asset(db, storage, master, enqueue=True)
    runner = build_runner(settings, db, storage, poll_interval=0.1, backoff_seconds=0.1)
    assert runner.run_until_idle() == 1
    return asset_id


def fetch(storage: S3Storage, key: str, tmp_path: Path) -> MediaInfo:
    path = tmp_path / key.replace("/", "_")
    path.write_bytes(storage.get(key))
    return probe(str(path))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_master_becomes_a_screenable_proxy(
    sqlite_db: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
    name: str,
) -> None:
    aspect, mix, loudness = EXPECTED[name]
    master = media.path(name)
    source = probe(str(master))
    assert source.video is not None

    asset_id = transcode_through_worker(sqlite_db, storage, tc_settings, master)

    asset = load_asset(sqlite_db, asset_id)
    assert asset.status is AssetStatus.READY, asset.failure_reason
    kinds = {r.kind: r for r in asset.renditions}
    assert {"proxy", "poster", "storyboard", "thumbnail"} <= set(kinds)
    assert all(r.size > 0 for r in asset.renditions)
    # Every source track keeps its probe entry.
    assert len(asset.technical["audio"]) == len(source.audio) - len(
        asset.technical.get("audio_other_programmes", [])
    )

    proxy = fetch(storage, kinds["proxy"].object_key, tmp_path)
    video = proxy.video
    assert video is not None
    assert (video["codec"], video["pix_fmt"], video["scan_type"]) == (
        "h264",
        "yuv420p",
        "progressive",
    )
    assert video["sample_aspect_ratio"] == "1:1"
    shown = Fraction(video["width"], video["height"])
    assert abs(float(shown / aspect) - 1) <= 0.01, (video["width"], video["height"])
    frame = 1 / float(source.frame_rate)
    assert abs(float(video["duration"]) - source.duration) <= frame + 1e-3, (
        video["duration"],
        source.duration,
    )

    assert asset.qc["programme_mix"] == mix
    measured = asset.qc["measurements"]
    if mix is None:
        assert proxy.audio == []
        assert [f["check"] for f in asset.qc["findings"]][:1] == ["audio"]
    else:
        assert [(a["codec"], a["channels"]) for a in proxy.audio] == [("aac", 2)]
        assert measured["integrated_lufs"] is not None
        if loudness is not None:
            assert measured["integrated_lufs"] == pytest.approx(loudness, abs=0.5)
        else:
            assert -40 < measured["integrated_lufs"] < -10
    probed = asset.technical["video"]
    assert probed["field_order"] == FIELD_ORDER.get(name), probed
    assert probed["scan_type"] == ("interlaced" if name in FIELD_ORDER else "progressive")
    assert [f["message"] for f in asset.qc["findings"] if f["check"] == "field_order"] == (
        FIELD_ORDER_FINDINGS.get(name, [])
    )
    assert {int(track) for track in measured["track_peaks"]} == {
        int(t["track"]) for t in asset.technical["audio"]
    }


def test_hdr_masters_are_tone_mapped_to_sdr(
    sqlite_db: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    for name, transfer in (("hevc_pq_mp4", "smpte2084"), ("hevc_hlg_mp4", "arib-std-b67")):
        asset = load_asset(
            sqlite_db, transcode_through_worker(sqlite_db, storage, tc_settings, media.path(name))
        )
        assert asset.technical["video"]["color_transfer"] == transfer
        assert asset.qc["tonemap"] == f"{transfer} tone-mapped to SDR BT.709"


def test_silent_track_is_skipped_and_named_with_its_timecode(
    sqlite_db: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    master = media.path("dnxhr_1080p2997_df_mov")
    asset = load_asset(sqlite_db, transcode_through_worker(sqlite_db, storage, tc_settings, master))

    assert asset.technical["container"]["start_timecode"] == "00:59:59;28"
    assert asset.qc["programme_mix"] == "mono track 2 on both sides"
    (finding,) = [f for f in asset.qc["findings"] if f["check"] == "silent_track"]
    # Drop-frame timecode, shown as such: 60 frames after 00:59:59;28 (minute 60 drops none).
    assert finding["message"].startswith(
        "Audio track 1 (1 ch, pcm_s24le) is silent throughout (00:59:59;28-01:00:01;28"
    )
    assert finding["message"].endswith("the mix leaves it out.")
    peaks = asset.qc["measurements"]["track_peaks"]
    # Digital silence: -inf dBFS, stored as null (JSON has no -inf).
    assert peaks["1"] is None and peaks["2"] == pytest.approx(-23.0, abs=0.5)


def test_transport_stream_uses_the_first_programme_with_video(
    sqlite_db: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    master = media.path("dvb_two_programmes_ts")
    asset = load_asset(sqlite_db, transcode_through_worker(sqlite_db, storage, tc_settings, master))

    container = asset.technical["container"]
    assert [(p["number"], p["name"]) for p in container["programmes"]] == [
        (1, "Radio"),
        (2, "TV"),
    ]
    assert container["programme"] == 2
    assert [t["index"] for t in asset.technical["audio"]] == [2]
    assert [t["index"] for t in asset.technical["audio_other_programmes"]] == [0]
    notes = [f for f in asset.qc["findings"] if f["check"] == "programme"]
    assert [n["message"] for n in notes] == [
        "The transport stream carries 2 programmes; programme 2 (TV), the first with video, "
        "was used, with its 1 audio track(s)."
    ]


def test_imx_blanking_lines_are_cropped_before_scaling(
    sqlite_db: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
) -> None:
    master = media.path("imx_pal43_mxf")
    asset = load_asset(sqlite_db, transcode_through_worker(sqlite_db, storage, tc_settings, master))

    assert asset.technical["video"]["height"] == 608
    assert asset.qc["vbi_lines_cropped"] == 32
    # 576 picture lines of 4:3 become a 720x540 proxy (not 608 lines squeezed into 540).
    proxy_row = next(r for r in asset.renditions if r.kind == "proxy")
    proxy = fetch(storage, proxy_row.object_key, tmp_path)
    assert proxy.video is not None
    assert (proxy.video["width"], proxy.video["height"]) == (720, 540)
    # The master's blanking lines are white; uncropped, they would fill the proxy's top rows.
    assert top_rows_luma(tmp_path / proxy_row.object_key.replace("/", "_")) < 200


def top_rows_luma(path: Path, rows: int = 8) -> float:
    """Mean luma of the first frame's top rows."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        plane = frame.planes[0]
        data = bytes(plane)
        values = [
            data[row * plane.line_size + x] for row in range(rows) for x in range(frame.width)
        ]
    return sum(values) / len(values)


def test_undecodable_codec_fails_naming_it(
    sqlite_db: Database, storage: S3Storage, tc_settings: Settings, media: MediaFactory
) -> None:
    asset_id = make_asset(sqlite_db, storage, media.path("unknown_codec.mov"), enqueue=True)
    runner = build_runner(tc_settings, sqlite_db, storage, poll_interval=0.1, backoff_seconds=0.1)
    assert runner.run_until_idle() == 1

    asset = load_asset(sqlite_db, asset_id)
    assert asset.status is AssetStatus.FAILED
    assert asset.failure_reason is not None
    assert "video codec" in asset.failure_reason and "XQ9Z" in asset.failure_reason
    assert "not one the bundled ffmpeg can decode" in asset.failure_reason
    with sqlite_db.session() as session:
        (job,) = session.scalars(select(Job)).all()
        assert job.status is JobStatus.FAILED and job.attempts == 1
