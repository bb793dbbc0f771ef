"""`PUT /v1/assets/{id}/audio-mapping` over HTTP re-renders the proxy with another choice."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import load_asset, make_asset
from transcode.worker import build_runner


def run_queued(db: Database, storage: S3Storage, settings: Settings) -> int:
    runner = build_runner(settings, db, storage, poll_interval=0.1, backoff_seconds=0.1)
    return runner.run_until_idle()


def test_audio_mapping_override_re_renders_and_can_be_undone(
    database: Database,
    live_api: LiveServer,
    members: Members,
    api_storage: S3Storage,
    api_settings: Settings,
    media: MediaFactory,
    tmp_path: Path,
) -> None:
    settings = api_settings.model_copy(update={"transcode_tmp_dir": tmp_path / "scratch"})
    # Eight mono tracks: 1+2 the -23 dBFS programme tone, 3-8 quieter tones (about -37 LUFS).
    asset_id = make_asset(database, api_storage, media.path("xdcam_mxf"), enqueue=True)
    assert run_queued(database, api_storage, settings) == 1
    first = load_asset(database, asset_id)
    assert first.qc["programme_mix"] == "mono tracks 1+2 as left/right"
    assert first.qc["measurements"]["integrated_lufs"] == pytest.approx(-23.0, abs=0.5)
    url = f"/v1/assets/{asset_id}/audio-mapping"

    with httpx.Client(base_url=live_api.base_url, timeout=30) as client:
        wrong = client.put(url, json={"left": 3, "right": 9}, headers=members.headers("kztv"))
        assert wrong.status_code == 422, wrong.text
        assert "no audio track 9" in wrong.text
        others = client.put(url, json={"left": 3, "right": 4}, headers=members.headers("uztv"))
        assert others.status_code == 404
        uploader = client.put(
            url, json={"left": 3, "right": 4}, headers=members.headers("kztv", "uploader")
        )
        assert uploader.status_code == 403

        chosen = client.put(url, json={"left": 3, "right": 4}, headers=members.headers("kztv"))
        assert chosen.status_code == 202, chosen.text
        assert chosen.json()["technical"]["audio_mapping"] == {"left": 3, "right": 4}

        assert run_queued(database, api_storage, settings) == 1
        second = load_asset(database, asset_id)
        assert second.qc["programme_mix"] == "tracks 3+4 as left/right"
        assert second.qc["audio_mapping"] == {"left": 3, "right": 4}
        # The mapping survives the new probe, and the mix measured is the new one.
        assert second.technical["audio_mapping"] == {"left": 3, "right": 4}
        assert len(second.technical["audio"]) == 8
        assert second.qc["measurements"]["integrated_lufs"] < -30

        back = client.put(url, json={}, headers=members.headers("kztv"))
        assert back.status_code == 202
        assert "audio_mapping" not in back.json()["technical"]
        assert run_queued(database, api_storage, settings) == 1
        third = load_asset(database, asset_id)
        assert third.qc["programme_mix"] == "mono tracks 1+2 as left/right"
        assert third.qc["measurements"]["integrated_lufs"] == pytest.approx(-23.0, abs=0.5)
