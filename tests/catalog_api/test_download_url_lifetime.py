"""Presigned download URLs are short-lived by default, so a revoked license stops them soon."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.pool_sync.harness import build_app, licensed_world, serve

LONGEST_DEFAULT_URL_SECONDS = 300


def test_issued_download_url_lives_at_most_five_minutes_by_default(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    # The settings are the defaults: whatever a fresh install hands out is what is checked.
    lw = licensed_world(database, storage)
    asset = lw.world.assets[0]
    with serve(build_app(storage_settings, database, storage)) as base:
        response = httpx.get(
            f"{base}/v1/assets/{asset.id}/download",
            headers={"Authorization": f"Bearer {lw.buyer_token}"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    query = parse_qs(urlsplit(response.json()["url"]).query)
    assert 0 < int(query["X-Amz-Expires"][0]) <= LONGEST_DEFAULT_URL_SECONDS
