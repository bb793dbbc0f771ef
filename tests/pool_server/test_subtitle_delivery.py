"""Subtitle files delivered through the FTP door by real clients (ftplib over TLS, curl)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from catalog_api.jobs import build_handlers
from pool_core.files import tree
from pool_core.models import Asset, SubtitleTrack
from pool_core.services.nightly import run_nightly
from pool_core.services.reconcile import reconcile_storage
from tests.catalog_api.test_sidecar_ingest import run_jobs_until_idle
from tests.fixtures import subtitle_files as sf
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_tls
from tests.pool_core.test_subtitle_reading import sample


def run_jobs(ftp: RunningFTP) -> None:
    """What a worker does next: run the queued catalog jobs (sidecars, subtitles).

    The FTP server in this process may hold SQLite's writer lock as a job starts: the
    retry that follows is run too before this returns.
    """
    run_jobs_until_idle(ftp.db, build_handlers(ftp.settings, ftp.db, ftp.storage))


def tracks_of(ftp: RunningFTP, org_id: int, path: str) -> dict[str, tuple[str, int]]:
    """{language: (format, cue count)} of the master at `path`."""
    with ftp.db.session() as session:
        entry = tree.get_entry(session, org_id=org_id, path=path)
        assert entry is not None and entry.asset_id is not None
        asset = session.get(Asset, entry.asset_id)
        assert asset is not None
        rows = session.query(SubtitleTrack).filter_by(asset_id=asset.id).all()
        return {t.language: (t.format, t.cue_count) for t in rows}


def test_ftps_delivery_in_both_orders_with_an_unreadable_file_reported_back(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    account = ftp_accounts["aztv"]
    client = connect_tls(ftp_server, account)
    client.mkd("/incoming/serial")
    client.cwd("/incoming/serial")
    # Subtitles first, then the master, then more subtitles (relative names, as clients do).
    client.storbinary("STOR ep01.kk-Cyrl.srt", io.BytesIO(sample("srt")[0]))
    client.storbinary("STOR ep01.mxf", io.BytesIO(b"master bytes"))
    client.storbinary("STOR ep01.ru.stl", io.BytesIO(sample("stl")[0]))
    client.storbinary("STOR ep01.en.scc", io.BytesIO(sf.malformed("scc")))
    run_jobs(ftp_server)

    found = tracks_of(ftp_server, account.org_id, "/incoming/serial/ep01.mxf")
    assert found == {"kk-Cyrl": ("srt", 3), "ru": ("stl", 3)}
    # The uploader finds why the SCC was refused where it was put, and the file itself.
    names = client.nlst()
    assert "ep01.en.scc" in names and "ep01.en.scc.errors.txt" in names
    report = io.BytesIO()
    client.retrbinary("RETR ep01.en.scc.errors.txt", report.write)
    text = report.getvalue().decode("utf-8")
    assert text.startswith("subtitle file ep01.en.scc could not be read:\n- ")
    assert "Scenarist_SCC" in text
    kept = io.BytesIO()
    client.retrbinary("RETR ep01.en.scc", kept.write)
    assert kept.getvalue() == sf.malformed("scc")
    client.quit()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_delivers_a_track_over_explicit_tls(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    account = ftp_accounts["trt"]
    master, subtitles = tmp_path / "news.mov", tmp_path / "news.tr.vtt"
    master.write_bytes(b"master bytes")
    subtitles.write_bytes(sample("vtt")[0])
    tls = ["--ssl-reqd", "--insecure", "--user", f"{account.username}:{account.password}"]
    for source in (master, subtitles):
        subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", "60", *tls, "-T", str(source),
             f"{ftp_server.url}/incoming/"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    run_jobs(ftp_server)
    assert tracks_of(ftp_server, account.org_id, "/incoming/news.mov") == {"tr": ("vtt", 3)}


def test_a_purged_master_takes_its_tracks_and_reconcile_knows_their_objects(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin]
) -> None:
    account = ftp_accounts["aztv"]
    client = connect_tls(ftp_server, account)
    client.storbinary("STOR /incoming/gone.mxf", io.BytesIO(b"master bytes"))
    client.storbinary("STOR /incoming/gone.kk.srt", io.BytesIO(sample("srt")[0]))
    run_jobs(ftp_server)
    with ftp_server.db.session() as session:
        track = session.query(SubtitleTrack).one()
        keys = [track.original_key, track.vtt_key]
    assert all(ftp_server.storage.exists(k) for k in keys)
    # Stored tracks are referenced objects, not orphans.
    assert not set(keys) & set(reconcile_storage(ftp_server.db, ftp_server.storage).orphan_objects)

    client.delete("/incoming/gone.mxf")
    client.quit()
    settings = ftp_server.settings.model_copy(update={"deleted_retention_days": 0})
    report = run_nightly(ftp_server.db, ftp_server.storage, settings)
    assert not report.errors, report
    assert not any(ftp_server.storage.exists(k) for k in keys)
    with ftp_server.db.session() as session:
        assert session.query(SubtitleTrack).count() == 0
