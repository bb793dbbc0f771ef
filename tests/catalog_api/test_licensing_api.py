"""Licensing endpoints over HTTP: workflow, clash 409, download URL, revocation, feed, webhooks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from pool_core.db import Database
from pool_core.models import Delivery, utcnow
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.pool_sync.harness import LicensedWorld, build_app, licensed_world, serve


@dataclass
class Api:
    """A running API and the world behind it."""

    base: str
    lw: LicensedWorld
    db: Database

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@pytest.fixture
def api(database: Database, storage: S3Storage, storage_settings: Settings) -> Iterator[Api]:
    lw = licensed_world(database, storage)
    # The webhook tests register loopback receivers.
    settings = storage_settings.model_copy(update={"webhook_allow_private_targets": True})
    with serve(build_app(settings, database, storage)) as base:
        yield Api(base=base, lw=lw, db=database)


def _period(days_from: int, days: int) -> dict[str, str]:
    start = utcnow() + timedelta(days=days_from)
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=days)).isoformat(),
    }


def test_download_is_licensed_logged_and_range_capable(api: Api) -> None:
    w = api.lw.world
    asset = w.assets[1]
    with api.client(api.lw.buyer_token) as buyer:
        response = buyer.get(f"/v1/assets/{asset.id}/download")
        assert response.status_code == 200, response.text
        grant = response.json()
        assert grant["license_id"] == api.lw.license_id
        assert grant["sha256"] == asset.sha256
        whole = httpx.get(grant["url"])
        assert hashlib.sha256(whole.content).hexdigest() == asset.sha256
        part = httpx.get(grant["url"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == api.lw.masters[asset.filename][100:200]
        listed = buyer.get("/v1/licensed-assets").json()["items"]
        assert sorted(i["path"] for i in listed) == [
            "aztv/Qaraqum _ Desert/S01E01/ep1.mxf",
            "aztv/Qaraqum _ Desert/S01E02/ep2.mxf",
        ]
        assert listed[0]["metadata"]["title"]["original_title"] == "Qaraqum / Desert"
    with api.db.session() as session:
        logged = list(session.scalars(select(Delivery)))
        assert [(d.license_id, d.asset_id, d.channel) for d in logged] == [
            (api.lw.license_id, asset.id, "api")
        ]
    with api.client(api.lw.rival_token) as rival:
        refused = rival.get(f"/v1/assets/{asset.id}/download")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert rival.get("/v1/licensed-assets").json()["items"] == []
    anonymous = httpx.get(f"{api.base}/v1/assets/{asset.id}/download")
    assert anonymous.status_code == 401


def test_concurrent_downloads_all_get_their_url_and_their_log_row(api: Api) -> None:
    # Each download GET reads the license and then writes a delivery row; on SQLite a read
    # transaction that later writes fails at once if another writer committed meanwhile.
    assets = api.lw.world.assets
    per_thread = 6

    def fetch(n: int) -> list[int]:
        with api.client(api.lw.buyer_token) as buyer:
            return [
                buyer.get(f"/v1/assets/{assets[(n + k) % len(assets)].id}/download").status_code
                for k in range(per_thread)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [code for codes in pool.map(fetch, range(8)) for code in codes]
    assert statuses == [200] * (8 * per_thread)
    with api.db.session() as session:
        logged = session.scalar(select(func.count()).select_from(Delivery))
    assert logged == 8 * per_thread


def test_request_approve_clash_decline_revoke(api: Api) -> None:
    w = api.lw.world
    title_id = str(w.title.id)
    with api.client(api.lw.rival_token) as rival, api.client(api.lw.owner_rm_token) as owner:
        windows = rival.get(f"/v1/titles/{title_id}/rights-windows").json()
        assert windows[0]["territories"] == ["KG", "KZ"]
        # The buyer holds a non-exclusive KZ license; an exclusive KZ one clashes with it.
        made = rival.post(
            "/v1/license-requests",
            json={
                "title_id": title_id,
                "territories": ["KZ"],
                "license_type": "free_exchange",
                "exclusive": True,
                **_period(1, 10),
            },
        )
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        assert rival.post(f"/v1/license-requests/{request_id}/approve").status_code == 403
        clash = owner.post(f"/v1/license-requests/{request_id}/approve", json={})
        assert clash.status_code == 409
        assert f"license {api.lw.license_id}" in clash.json()["detail"]
        no_comment = owner.post(f"/v1/license-requests/{request_id}/decline", json={})
        assert no_comment.status_code == 422
        declined = owner.post(
            f"/v1/license-requests/{request_id}/decline", json={"comment": "Exclusive is taken"}
        )
        assert declined.json()["status"] == "declined"
        # Non-exclusive in KG: granted.
        made = rival.post(
            "/v1/license-requests",
            json={
                "title_id": title_id,
                "territories": ["KG"],
                "license_type": "free_exchange",
                **_period(0, 10),
            },
        ).json()
        granted = owner.post(f"/v1/license-requests/{made['id']}/approve", json={"comment": "ok"})
        assert granted.status_code == 201
        license_id = granted.json()["id"]
        mine = rival.get("/v1/licenses", params={"side": "licensee"}).json()["items"]
        assert [lic["id"] for lic in mine] == [license_id]
        asset_id = w.assets[0].id
        assert rival.get(f"/v1/assets/{asset_id}/download").status_code == 200
        revoked = owner.post(f"/v1/licenses/{license_id}/revoke", json={"reason": "breach"})
        assert revoked.json()["status"] == "revoked"
        assert rival.get(f"/v1/assets/{asset_id}/download").status_code == 403
        assert len(owner.get(f"/v1/licenses/{license_id}/deliveries").json()) == 1


def test_changes_feed_over_http(api: Api) -> None:
    with api.client(api.lw.buyer_token) as buyer:
        events: list[dict[str, object]] = []
        cursor = ""
        while True:
            page = buyer.get("/v1/changes", params={"cursor": cursor, "limit": 2}).json()
            events.extend(page["events"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        kinds = [e["kind"] for e in events]
        assert "license.granted" in kinds
        again = buyer.get("/v1/changes", params={"cursor": cursor}).json()
        assert again["events"] == []
        assert buyer.get("/v1/changes", params={"cursor": "!!"}).status_code == 422
    with api.client(api.lw.rival_token) as rival:
        kinds = [e["kind"] for e in rival.get("/v1/changes").json()["events"]]
        assert "license.granted" not in kinds


def test_webhook_crud(api: Api) -> None:
    with api.client(api.lw.owner_rm_token) as owner, api.client(api.lw.buyer_token) as editor:
        assert editor.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}).status_code == 403
        made = owner.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "event_kinds": ["asset.ready"]}
        )
        assert made.status_code == 201
        hook = made.json()
        assert hook["secret"].startswith("whsec_")
        listed = owner.get("/v1/webhooks").json()
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
        patched = owner.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}).json()
        assert patched["active"] is False
        assert owner.get(f"/v1/webhooks/{hook['id']}/deliveries").json() == []
        # Editors see no webhooks at all (pool_core.roles), another member's least of all.
        assert editor.get(f"/v1/webhooks/{hook['id']}").status_code == 403
        assert owner.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
        assert owner.get(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_webhook_to_a_private_address_is_refused_by_default(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    assert storage_settings.webhook_allow_private_targets is False
    lw = licensed_world(database, storage)
    with serve(build_app(storage_settings, database, storage)) as base:
        api = Api(base=base, lw=lw, db=database)
        with api.client(lw.owner_rm_token) as owner:
            refused = owner.post("/v1/webhooks", json={"url": "http://169.254.169.254/latest"})
            assert refused.status_code == 422
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "169.254.169.254 (link-local address)" in refused.json()["detail"]
            made = owner.post("/v1/webhooks", json={"url": "https://hooks.example.org/pool"})
            assert made.status_code == 201
            moved = owner.patch(
                f"/v1/webhooks/{made.json()['id']}", json={"url": "http://10.0.0.8/hook"}
            )
            assert moved.status_code == 422 and "private address" in moved.json()["detail"]
            assert owner.get(f"/v1/webhooks/{made.json()['id']}").json()["url"] == (
                "https://hooks.example.org/pool"
            )
