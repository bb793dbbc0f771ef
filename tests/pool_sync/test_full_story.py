# ruff: noqa: RUF001 - Azerbaijani titles use the dotless i on purpose.
"""The whole exchange on the real stack: FTP upload, transcode, catalog, search, license, sync.

aztv uploads a master by FTP; the worker transcodes it; an aztv editor catalogs it; a trt editor
finds it by searching, requests it; aztv's rights manager approves; trt's nightly sync pulls the
master verified by SHA-256 (with the `jointpool-sync` command of a venv that holds only the
client), and `lftp mirror` of trt's FTP `/licensed` gives the same masters; a
revocation then shuts the API door again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from pool_core.db import Database
from pool_core.licensing.jobs import licensing_handlers
from pool_core.models import Asset, AssetStatus, Organization, utcnow
from pool_core.queue import JobRunner
from pool_core.services import accounts
from pool_core.services.sidecar_ingest import build_handlers as sidecar_handlers
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.cli import main as sync_main
from pool_sync.config import STATE_DIR
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, run_lftp
from tests.fixtures.media import MediaFactory
from tests.pool_sync.conftest import ClientVenv
from tests.pool_sync.harness import build_app, serve
from transcode.worker import build_handlers as transcode_handlers


def _token(db: Database, org_code: str, username: str, role: str) -> str:
    with db.write_session() as session:
        org = session.scalar(select(Organization).where(Organization.code == org_code))
        assert org is not None
        return accounts.create_user(session, org=org, username=username, role=role).api_token


def _tree(root: Path, *, sync_extras: bool = False) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under root.

    With `sync_extras` the sync's own additions are left out: its state folder and the
    metadata JSON beside each master.
    """
    tree = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file():
            continue
        if sync_extras and (rel.parts[0] == STATE_DIR or path.name.endswith(".json")):
            continue
        tree[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def test_upload_transcode_search_license_sync(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    media: MediaFactory,
    tmp_path: Path,
    client_venv: ClientVenv,
) -> None:
    master = media.path("h264_mp4")
    expected_sha = hashlib.sha256(master.read_bytes()).hexdigest()

    # 1. aztv's operator uploads the master over FTP.
    ftp = connect_plain(ftp_server, ftp_accounts["aztv"])
    try:
        with open(master, "rb") as handle:
            ftp.storbinary("STOR /incoming/steppe-ep1.mp4", handle)
    finally:
        ftp.quit()
    with database.session() as session:
        asset = session.scalar(select(Asset).where(Asset.filename == "steppe-ep1.mp4"))
        assert asset is not None and asset.sha256 == expected_sha
        asset_id = asset.id

    # 2. The worker transcodes it (and handles the licensing periodic jobs on the way).
    handlers = {
        **transcode_handlers(storage_settings, database, storage),
        **sidecar_handlers(storage_settings, database, storage),
        **licensing_handlers(storage_settings, database, storage),
    }
    runner = JobRunner(
        database,
        handlers=handlers,
        concurrency=1,
        lease_seconds=120,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    runner.run_until_idle()
    with database.session() as session:
        ready = session.get(Asset, asset_id)
        assert ready is not None and ready.status == AssetStatus.READY, (
            ready and ready.failure_reason
        )

    aztv_editor = _token(database, "aztv", "aztv-editor", "editor")
    aztv_rm = _token(database, "aztv", "aztv-rights", "rights_manager")
    trt_editor = _token(database, "trt", "trt-editor", "editor")

    with serve(build_app(storage_settings, database, storage)) as base:

        def client(token: str) -> httpx.Client:
            return httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )

        with client(aztv_editor) as editor, client(aztv_rm) as rights, client(trt_editor) as trt:
            # 3. aztv catalogs it: a documentary in Azerbaijani and Russian.
            made = editor.post(
                "/v1/titles",
                json={
                    "kind": "documentary",
                    "original_title": "Bozqır",
                    "localizations": {
                        "az-Latn": {"title": "Bozqır nağılları"},
                        "ru": {"title": "Сказки степи"},
                    },
                },
            )
            assert made.status_code == 201, made.text
            title_id = made.json()["id"]
            linked = editor.put(f"/v1/assets/{asset_id}/link", json={"title_id": title_id})
            assert linked.status_code == 200, linked.text
            start = utcnow() - timedelta(hours=1)
            window = rights.post(
                f"/v1/titles/{title_id}/rights-windows",
                json={
                    "territories": ["TR", "KZ"],
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(days=365)).isoformat(),
                    "license_type": "free_exchange",
                },
            )
            assert window.status_code == 201, window.text

            # 4. trt finds it typing without Azerbaijani letters, and cannot download yet.
            hits = trt.get("/v1/search", params={"q": "bozqir"}).json()["items"]
            assert [h["title"]["id"] for h in hits] == [title_id]
            assert trt.get(f"/v1/assets/{asset_id}/download").status_code == 403

            # 5. trt requests, aztv approves.
            request = trt.post(
                "/v1/license-requests",
                json={
                    "title_id": title_id,
                    "territories": ["TR"],
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(days=90)).isoformat(),
                    "license_type": "free_exchange",
                    "message": "For our documentary slot",
                },
            )
            assert request.status_code == 201, request.text
            approved = rights.post(f"/v1/license-requests/{request.json()['id']}/approve")
            assert approved.status_code == 201, approved.text
            license_id = approved.json()["id"]

            # 6. trt's nightly sync pulls the master, verified.
            dest = tmp_path / "trt-media"
            dest.mkdir()
            config = tmp_path / "sync.json"
            config.write_text(
                json.dumps({"api_url": base, "token": trt_editor, "destination": str(dest)})
            )
            # Run as a broadcaster runs it: the `jointpool-sync` command of a venv that holds
            # only the client (pip install ./clients/sync), in its own process.
            pulled = subprocess.run(
                [str(client_venv.command), "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=tmp_path,
            )
            assert pulled.returncode == 0, pulled.stderr
            assert "1 downloaded" in pulled.stdout
            synced = dest / "aztv" / "Bozqır" / "steppe-ep1.mp4"
            assert hashlib.sha256(synced.read_bytes()).hexdigest() == expected_sha
            meta = json.loads(synced.with_name("steppe-ep1.mp4.json").read_text())
            assert meta["title"]["localizations"]["ru"]["title"] == "Сказки степи"
            assert meta["license"]["id"] == license_id

            # 6b. A mirroring tool over FTP sees the same tree, byte for byte.
            if shutil.which("lftp") is not None:
                mirror = tmp_path / "lftp-mirror"
                run_lftp(
                    ftp_server, ftp_accounts["trt"], f"mirror /licensed {mirror}", home=tmp_path
                )
                mirrored = _tree(mirror)
                # /licensed also offers each master's proxy and poster, named as the sync names
                # them with --with-proxies/--with-posters (off in this run).
                extras = {k for k in mirrored if k.endswith((".proxy.mp4", ".poster.jpg"))}
                assert extras == {
                    "aztv/Bozqır/steppe-ep1.mp4.proxy.mp4",
                    "aztv/Bozqır/steppe-ep1.mp4.poster.jpg",
                }
                masters = {k: v for k, v in mirrored.items() if k not in extras}
                assert masters == _tree(dest, sync_extras=True)
                assert masters  # not two empty trees

            # 7. Revocation: the API door closes; the next sync reports it and keeps the file.
            assert rights.post(f"/v1/licenses/{license_id}/revoke").status_code == 200
            assert trt.get(f"/v1/assets/{asset_id}/download").status_code == 403
            summary = tmp_path / "summary.json"
            assert sync_main(["--config", str(config), "--summary-json", str(summary)]) == 0
            report = json.loads(summary.read_text())
            assert report["no_longer_licensed"] == ["aztv/Bozqır/steppe-ep1.mp4"]
            assert synced.exists()
