"""/readyz and /metrics follow S3: not ready within 5 s of SeaweedFS stopping, ready again
when it is back.

A private SeaweedFS: stopping the session one would break every other test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pool_core import migrate
from pool_core.db import Database
from pool_core.seaweed import EmbeddedSeaweed
from tests.fixtures.ftp import wait_until
from tests.fixtures.storage import settings_for, start_seaweed
from tests.ops.scrape import ops_server, scrape


@pytest.fixture
def private_seaweed(tmp_path: Path) -> Iterator[EmbeddedSeaweed]:
    instance = start_seaweed(tmp_path / "seaweed")
    yield instance
    instance.stop()


def _status(url: str) -> int:
    try:
        return httpx.get(f"{url}/readyz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_readyz_turns_503_when_seaweedfs_stops_and_200_when_it_returns(
    private_seaweed: EmbeddedSeaweed, tmp_path: Path
) -> None:
    settings = settings_for(private_seaweed, data_dir=tmp_path, bucket=private_seaweed.bucket)
    migrate.upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        with ops_server(settings, db) as ops:
            assert _status(ops.url) == 200
            private_seaweed.stop()
            # Prometheus only scrapes /metrics: the gauge must follow S3 without any /readyz.
            wait_until(
                lambda: scrape(ops.url).value("jointpool_ready", check="storage") == 0,
                "/metrics alone to report storage not ready",
                timeout=5,
            )
            wait_until(lambda: _status(ops.url) == 503, "/readyz to say 503", timeout=5)
            body = httpx.get(f"{ops.url}/readyz", timeout=10).json()
            assert body["checks"]["storage"] != "ok"
            assert body["checks"]["database"] == "ok"
            assert scrape(ops.url).value("jointpool_ready", check="storage") == 0
            private_seaweed.start()
            private_seaweed.wait_ready()
            wait_until(lambda: _status(ops.url) == 200, "/readyz to say 200 again")
            assert scrape(ops.url).value("jointpool_ready", check="storage") == 1
    finally:
        db.dispose()
