"""An HTTP request's id: taken from `X-Request-ID` or made, echoed, logged, carried into jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Job, JobStatus
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.logs import JsonLines, json_log_lines
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import make_asset
from transcode.worker import build_runner


@pytest.fixture
def captured() -> Iterator[JsonLines]:
    with json_log_lines("api") as lines:
        yield lines


def test_a_request_id_is_echoed_or_made_up(live_api: LiveServer, members: Members) -> None:
    with httpx.Client(base_url=live_api.base_url, timeout=30) as client:
        given = client.get("/v1/organization", headers={"X-Request-ID": "nightly-robot.7:42"})
        assert given.headers["X-Request-ID"] == "nightly-robot.7:42"
        made = client.get("/v1/organization")
        # A malformed id (spaces, too long) is replaced, so no client writes its own log fields.
        spaced = client.get("/v1/organization", headers={"X-Request-ID": 'a b="c"'})
        long = client.get("/v1/organization", headers={"X-Request-ID": "x" * 129})
    ids = [response.headers["X-Request-ID"] for response in (made, spaced, long)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids), ids
    assert len(set(ids)) == 3


def test_a_requests_id_is_in_its_log_lines_its_job_and_the_workers_lines(
    database: Database,
    live_api: LiveServer,
    members: Members,
    api_storage: S3Storage,
    api_settings: Settings,
    media: MediaFactory,
    tmp_path: Any,
    captured: JsonLines,
) -> None:
    settings = api_settings.model_copy(update={"transcode_tmp_dir": tmp_path / "scratch"})
    runner = build_runner(settings, database, api_storage, poll_interval=0.1, backoff_seconds=0.1)
    asset_id = make_asset(database, api_storage, media.path("xdcam_mxf"), enqueue=True)
    assert runner.run_until_idle() == 1

    request_id = "ops-ticket-4711"
    with httpx.Client(base_url=live_api.base_url, timeout=30) as client:
        response = client.put(
            f"/v1/assets/{asset_id}/audio-mapping",
            json={"left": 3, "right": 4},
            headers={**members.headers("kztv"), "X-Request-ID": request_id},
        )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == request_id

    with database.session() as session:
        queued = session.scalars(
            select(Job).where(Job.kind == "transcode", Job.status == JobStatus.QUEUED)
        ).one()
        job_id = str(queued.id)
        assert queued.payload["trace"] == {"request_id": request_id}
        assert queued.payload["asset_id"] == asset_id
    request_lines = [line for line in captured.lines if line.get("request_id") == request_id]
    assert any(
        line["logger"] == "pool_core.queue" and line["job_id"] == job_id for line in request_lines
    ), captured.lines

    rerun = build_runner(settings, database, api_storage, poll_interval=0.1, backoff_seconds=0.1)
    assert rerun.run_until_idle() == 1
    worker_lines = [
        line
        for line in captured.lines
        if line.get("request_id") == request_id and line["logger"].startswith("transcode")
    ]
    assert any(f"asset {asset_id} ready" in line["message"] for line in worker_lines), (
        captured.lines
    )


def test_an_unhandled_errors_line_names_the_request(captured: JsonLines) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from catalog_api.errors import install_error_handlers
    from catalog_api.request_id import RequestIdMiddleware

    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    errors = [line for line in captured.lines if line["message"].startswith("unhandled error")]
    assert [line.get("request_id") for line in errors] == ["crash-1"], captured.lines
