"""The API's /metrics after a license approval, a download and a search over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
from pydantic import SecretStr

from pool_core.db import Database
from pool_core.models import utcnow
from pool_core.ops.exposition import metrics_allowed
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import requires_tool, wait_until
from tests.ops.scrape import ops_server, promtool_check, scrape, stamp_head
from tests.pool_sync.harness import build_app, licensed_world, serve

APPROVE = "/v1/license-requests/{request_id}/approve"
DOWNLOAD = "/v1/assets/{asset_id}/download"


@requires_tool("promtool")
def test_approval_download_and_search_are_counted_by_route_template(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    stamp_head(database)
    lw = licensed_world(database, storage)
    title_id = str(lw.world.title.id)
    asset_id = lw.world.assets[0].id
    start = utcnow()
    period = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(days=10)).isoformat()}
    with (
        serve(build_app(storage_settings, database, storage)) as base,
        ops_server(storage_settings, database, pool_gauges=True) as pool_node,
    ):
        pool_before = scrape(pool_node.url)
        rival = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {lw.rival_token}"})
        owner = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {lw.owner_rm_token}"}
        )
        before = scrape(base)
        made = rival.post(
            "/v1/license-requests",
            json={
                "title_id": title_id,
                "territories": ["KG"],
                "license_type": "free_exchange",
                **period,
            },
        )
        assert made.status_code == 201, made.text
        granted = owner.post(f"/v1/license-requests/{made.json()['id']}/approve", json={})
        assert granted.status_code == 201, granted.text
        assert rival.get(f"/v1/assets/{asset_id}/download").status_code == 200
        assert rival.get("/v1/search", params={"q": "Qaraqum"}).status_code == 200
        assert rival.get("/no/such/route").status_code == 404
        ready = httpx.get(f"{base}/readyz")
        health = httpx.get(f"{base}/healthz")
        after = scrape(base)
        rival.close()
        owner.close()
        # The pool-wide gauges are computed from the database at most every 10 s.
        active = pool_before.value("jointpool_licenses", state="active") + 1
        wait_until(
            lambda: scrape(pool_node.url).value("jointpool_licenses", state="active") == active,
            "the pool gauges to count the approved license",
            timeout=30,
            interval=0.5,
        )
        pool_after = scrape(pool_node.url)

    # The rival's first delivery (the download above) is its last successful sync.
    synced = "jointpool_sync_last_success_timestamp_seconds"
    assert pool_before.value(synced, org="ktrk") == 0
    assert start.timestamp() - 1 <= pool_after.value(synced, org="ktrk") <= utcnow().timestamp()
    assert pool_after.value("jointpool_licenses", state="revoked") == pool_before.value(
        "jointpool_licenses", state="revoked"
    )

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "jointpool_http_requests_total"
    assert delta(requests, method="POST", route=APPROVE, status="201") == 1
    assert delta(requests, method="GET", route=DOWNLOAD, status="200") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    duration = "jointpool_http_request_duration_seconds_count"
    assert delta(duration, method="GET", route=DOWNLOAD, status="200") == 1
    assert delta(duration, method="GET", route="unmatched", status="404") == 1
    assert delta("jointpool_downloads_total", channel="api") == 1
    assert delta("jointpool_search_duration_seconds_count") == 1
    # Never the raw path: no label holds an id.
    assert str(asset_id) not in after.text
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "migrations": "ok"}
    assert health.json() == {"status": "ok"}
    promtool_check(after.text)


def test_readyz_names_a_database_behind_on_migrations(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    # `create_all` without a stamp: the database is not at the migrations' head.
    with serve(build_app(storage_settings, database, storage)) as base:
        # Scraped before any /readyz: /metrics runs the (cached) checks itself.
        scraped = scrape(base)
        ready = httpx.get(f"{base}/readyz")
    assert scraped.values[("jointpool_ready", (("check", "migrations"),))] == 0
    assert scraped.values[("jointpool_ready", (("check", "storage"),))] == 1
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"].startswith("database at None")
    assert ready.json()["checks"]["storage"] == "ok"


def test_metrics_outside_loopback_need_the_token(storage_settings: Settings) -> None:
    # The decision itself (tests may only use loopback addresses, so no remote client here).
    no_token = storage_settings
    placeholder = storage_settings.model_copy(update={"metrics_token": SecretStr("changeme")})
    with_token = storage_settings.model_copy(
        update={"metrics_token": SecretStr("s3cr3t-metrics-token")}
    )
    assert metrics_allowed(no_token, "127.0.0.1", None)
    assert metrics_allowed(no_token, "::1", None)
    assert not metrics_allowed(no_token, "10.1.2.3", None)
    assert not metrics_allowed(no_token, "10.1.2.3", "Bearer ")
    assert not metrics_allowed(placeholder, "10.1.2.3", "Bearer changeme")
    assert not metrics_allowed(with_token, "10.1.2.3", None)
    assert not metrics_allowed(with_token, "10.1.2.3", "Bearer wrong")
    assert metrics_allowed(with_token, "10.1.2.3", "Bearer s3cr3t-metrics-token")
    assert not metrics_allowed(with_token, None, "Basic s3cr3t-metrics-token")
