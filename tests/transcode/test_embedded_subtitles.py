"""Subtitle streams inside masters become tracks: transcode, then the extraction job (ffmpeg)."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, Job, SubtitleTrack
from pool_core.services import subtitles
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures import subtitle_files as sf
from tests.transcode.helpers import make_asset
from transcode.embedded_subtitles import EMBEDDED_JOB, bcp47, extract_embedded
from transcode.service import transcode_asset

KAZAKH = [sf.Cue(0.2, 0.9, "Қорқыт ата"), sf.Cue(1.0, 1.8, "Сәлем")]
RUSSIAN = [sf.Cue(0.3, 1.2, "Привет, мир")]
TURKISH = [sf.Cue(0.4, 1.5, "Günaydın")]  # noqa: RUF001 (Turkish dotless i)


def master_with_subtitles(
    ffmpeg: str, directory: Path, name: str, tracks: list[tuple[str, list[sf.Cue]]], codec: str
) -> Path:
    """A two-second master with one subtitle stream per (ISO 639-2 language, cues)."""
    inputs: list[str] = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
                         "-f", "lavfi", "-i", "sine=f=440:d=2"]  # fmt: skip
    maps = ["-map", "0:v", "-map", "1:a"]
    for n, (language, cues) in enumerate(tracks):
        srt = directory / f"{name}.{n}.srt"
        srt.write_bytes(sf.srt(cues))
        inputs += ["-i", str(srt)]
        maps += ["-map", f"{n + 2}:s", f"-metadata:s:s:{n}", f"language={language}"]
    out = directory / name
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *inputs, *maps, "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", codec, str(out)],
        check=True,
    )  # fmt: skip
    return out


def tracks_of(database: Database, asset_id: str) -> dict[str, tuple[str, str]]:
    """{language: (source, WebVTT text)} of the asset's tracks."""
    with database.session() as session:
        rows = session.scalars(
            select(SubtitleTrack).where(SubtitleTrack.asset_id == uuid.UUID(asset_id))
        ).all()
        return {t.language: (t.source, t.vtt_key) for t in rows}


def test_a_transcoded_mp4_gives_its_mov_text_stream_as_a_track(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    ffmpeg_path: str,
    tmp_path: Path,
) -> None:
    master = master_with_subtitles(ffmpeg_path, tmp_path, "ep01.mp4", [("kaz", KAZAKH)], "mov_text")
    asset_id = make_asset(database, storage, master)
    transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)
    with database.session() as session:
        queued = session.scalars(select(Job.kind).where(Job.kind == EMBEDDED_JOB)).all()
    assert queued == [EMBEDDED_JOB]  # the ready master queued the extraction

    assert extract_embedded(
        database, storage, ffmpeg=ffmpeg_path, asset_id=uuid.UUID(asset_id)
    ) == ["kk"]
    [(language, (source, vtt_key))] = tracks_of(database, asset_id).items()
    assert (language, source) == ("kk", "embedded")
    vtt = storage.get(vtt_key).decode("utf-8")
    assert "Қорқыт ата" in vtt and "00:00:00.200 --> 00:00:00.900" in vtt


def test_matroska_streams_by_language_and_a_delivered_track_wins(
    database: Database,
    storage: S3Storage,
    ffmpeg_path: str,
    tmp_path: Path,
) -> None:
    master = master_with_subtitles(
        ffmpeg_path,
        tmp_path,
        "ep02.mkv",
        [("rus", RUSSIAN), ("tur", TURKISH), ("rus", [sf.Cue(0.5, 1.0, "второй")])],
        "subrip",
    )
    asset_id = make_asset(database, storage, master)
    with database.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        # What the transcoder's probe records for these streams.
        asset.technical = {
            "subtitles": [
                {"index": 2, "codec": "subrip", "language": "rus"},
                {"index": 3, "codec": "subrip", "language": "tur"},
                {"index": 4, "codec": "subrip", "language": "rus"},
                {"index": 9, "codec": "hdmv_pgs_subtitle", "language": "eng"},
            ]
        }
        # The owner already delivered Turkish subtitles: those stay.
        subtitles.store_track(
            session, storage, asset=asset, language="tr", filename="ep02.tr.srt",
            data=sf.srt([sf.Cue(1.0, 2.0, "teslim edilen")]), fmt="srt", source="ftp",
            uploaded_by=None,
        )  # fmt: skip
    stored = extract_embedded(database, storage, ffmpeg=ffmpeg_path, asset_id=uuid.UUID(asset_id))
    assert stored == ["ru"]  # the first Russian stream; Turkish was delivered; PGS is a picture
    found = tracks_of(database, asset_id)
    assert {lang: source for lang, (source, _) in found.items()} == {"ru": "embedded", "tr": "ftp"}
    assert "Привет, мир" in storage.get(found["ru"][1]).decode("utf-8")


def test_an_unreadable_stream_is_an_ingest_warning_not_a_failure(
    database: Database, storage: S3Storage, ffmpeg_path: str, tmp_path: Path
) -> None:
    master = master_with_subtitles(ffmpeg_path, tmp_path, "ep03.mkv", [], "subrip")
    asset_id = make_asset(database, storage, master)
    with database.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        asset.technical = {"subtitles": [{"index": 5, "codec": "subrip", "language": "kaz"}]}
    assert (
        extract_embedded(database, storage, ffmpeg=ffmpeg_path, asset_id=uuid.UUID(asset_id)) == []
    )
    with database.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        [warning] = asset.ingest_warnings
    assert warning.startswith("embedded subtitle stream #5 (subrip, kk) could not be extracted: ")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("kaz", "kk"), ("rus", "ru"), ("tur", "tr"), ("uzb", "uz"), ("KK", "kk"), ("pt-br", "pt-BR"),
     ("und", "und"), ("", "und"), (None, "und"), ("not a language", "und")],
)  # fmt: skip
def test_stream_languages_become_bcp47(tag: object, expected: str) -> None:
    assert bcp47(tag) == expected


def test_a_cea608_caption_track_in_a_mov_is_read_like_a_delivered_scc(
    database: Database, storage: S3Storage, ffmpeg_path: str, tmp_path: Path
) -> None:
    # ffmpeg reads an SCC file as an eia_608 stream and muxes it as a MOV's c608 track.
    scc = tmp_path / "captions.scc"
    scc.write_bytes(sf.scc([sf.Cue(0.5, 1.5, "HELLO WORLD"), sf.Cue(2.0, 3.0, "SECOND LINE")]))
    master = tmp_path / "ep04.mov"
    subprocess.run(
        [ffmpeg_path, "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=s=320x180:r=30000/1001:d=4", "-i", str(scc), "-map", "0:v", "-map", "1",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:s", "copy", str(master)],
        check=True,
    )  # fmt: skip
    asset_id = make_asset(database, storage, master)
    with database.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        asset.technical = {"subtitles": [{"index": 1, "codec": "eia_608", "language": "eng"}]}
    stored = extract_embedded(database, storage, ffmpeg=ffmpeg_path, asset_id=uuid.UUID(asset_id))
    assert stored == ["en"]
    with database.session() as session:
        [track] = session.scalars(select(SubtitleTrack)).all()
        assert (track.format, track.source, track.cue_count) == ("scc", "embedded", 2)
        assert track.first_cue_start == pytest.approx(0.5, abs=0.04)
        vtt = storage.get(track.vtt_key).decode("utf-8")
    assert "HELLO WORLD" in vtt and "SECOND LINE" in vtt
    # On the frames it appears and is erased (29.97 fps frames are 33.4 ms long).
    assert re.search(r"00:00:00\.500 --> 00:00:01\.50\d", vtt)
    # The last erase code does not survive ffmpeg's SCC -> MOV -> SCC trip: 10 s by default.
    assert "00:00:02.002 --> 00:00:12.002" in vtt
