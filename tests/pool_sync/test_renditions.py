"""Proxies and posters beside the masters: opt-in, verified, and a missing one is not fatal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, Delivery, Rendition
from pool_core.services import licensing
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.config import STATE_DIR
from tests.pool_sync.test_sync import EP1, EP2, Env, _env, sha

PROXY_540 = os.urandom(150_000)
PROXY_360 = os.urandom(60_000)
POSTER = os.urandom(20_000)


def add_rendition(
    env: Env, asset: Asset, *, kind: str, name: str, data: bytes, meta: dict[str, Any]
) -> None:
    """Store a rendition of `asset` the way the transcoder does (row plus object)."""
    key = f"renditions/{asset.id}/{kind}/{name}"
    env.storage.put(key, data)
    with env.db.session() as session:
        session.add(
            Rendition(
                asset_id=asset.id,
                kind=kind,
                name=name,
                object_key=key,
                size=len(data),
                content_type="image/jpeg" if kind == "poster" else "video/mp4",
                meta=meta,
            )
        )


@pytest.fixture
def env(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> Iterator[Env]:
    """The licensed world; ep1 has a two-rung proxy ladder and a poster, ep2 nothing yet."""
    for instance in _env(database, storage, storage_settings, tmp_path):
        ep1 = instance.lw.world.assets[0]
        add_rendition(
            instance, ep1, kind="proxy", name="360p.mp4", data=PROXY_360, meta={"height": 360}
        )
        add_rendition(
            instance, ep1, kind="proxy", name="540p.mp4", data=PROXY_540, meta={"height": 540}
        )
        add_rendition(instance, ep1, kind="poster", name="poster.jpg", data=POSTER, meta={})
        yield instance


def deliveries(env: Env, channel: str) -> list[tuple[int, str]]:
    with env.db.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.channel == channel))
        return [(d.license_id, str(d.asset_id)) for d in rows]


def test_proxies_are_fetched_verified_and_a_missing_one_is_skipped(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.write_config(proxies=True)
    code, summary = env.run()
    assert code == 0, capsys.readouterr()
    # The tallest rung of the ladder, beside its master, byte for byte.
    proxy = env.dest / (EP1 + ".proxy.mp4")
    assert sha(proxy.read_bytes()) == sha(PROXY_540)
    assert (env.dest / EP1).exists() and (env.dest / EP2).exists()
    assert not (env.dest / (EP1 + ".poster.jpg")).exists()  # posters were not asked for
    assert not list((env.dest / STATE_DIR / "partial").iterdir())
    # ep2 has no proxy: reported as skipped, the run still succeeds and saves its cursor.
    assert summary["failed"] == 0 and summary["cursor_saved"] is True
    assert summary["unavailable"] == [
        {
            "path": EP2 + ".proxy",
            "asset_id": str(env.lw.world.assets[1].id),
            "kind": "proxy",
            "note": "no proxy in the pool yet (not transcoded, or transcoding failed)",
        }
    ]
    by_path = {i["path"]: i for i in summary["items"]}
    assert by_path[EP1 + ".proxy.mp4"]["status"] == "downloaded"
    assert by_path[EP1 + ".proxy.mp4"]["size"] == len(PROXY_540)
    out = capsys.readouterr().out
    assert f"ok {EP1}.proxy.mp4" in out and "size verified" in out
    assert "1 renditions not in the pool yet (skipped)" in out
    # The proxy hand-out is logged against the license.
    assert deliveries(env, "api:proxy") == [(env.lw.license_id, str(env.lw.world.assets[0].id))]

    # Nothing new: no download, and no new grant (a grant is a logged delivery).
    code, again = env.run()
    assert code == 0 and again["bytes_fetched"] == 0 and again["downloaded"] == 0
    assert len(deliveries(env, "api:proxy")) == 1

    # ep2 gets transcoded later: the next run fetches only its proxy, not its master again.
    add_rendition(
        env, env.lw.world.assets[1], kind="proxy", name="540p.mp4", data=PROXY_360, meta={}
    )
    code, later = env.run()
    assert code == 0 and later["unavailable"] == []
    assert [i["path"] for i in later["items"] if i["status"] == "downloaded"] == [
        EP2 + ".proxy.mp4"
    ]
    assert later["bytes_fetched"] == len(PROXY_360)
    assert (env.dest / (EP2 + ".proxy.mp4")).read_bytes() == PROXY_360

    # Pruning a file no longer licensed removes its proxy too.
    with env.db.session() as session:
        owner_rm = session.get(type(env.lw.world.owner_rm), env.lw.world.owner_rm.id)
        assert owner_rm is not None
        licensing.revoke_license(session, license_id=env.lw.license_id, user=owner_rm)
    code, pruned = env.run("--prune")
    assert code == 0 and sorted(pruned["pruned"]) == [EP1, EP2]
    assert not proxy.exists() and not (env.dest / (EP2 + ".proxy.mp4")).exists()


def test_no_renditions_without_the_option(env: Env) -> None:
    code, summary = env.run()
    assert code == 0 and summary["downloaded"] == 2
    assert {i["kind"] for i in summary["items"]} == {"master"}
    assert summary["unavailable"] == []
    assert not list(env.dest.rglob("*.proxy.*")) and not list(env.dest.rglob("*.poster.*"))
    assert deliveries(env, "api:proxy") == [] and deliveries(env, "api:poster") == []


def test_cli_flags_fetch_proxy_and_poster(env: Env) -> None:
    code, summary = env.run("--with-proxies", "--with-posters")
    assert code == 0, summary
    assert (env.dest / (EP1 + ".poster.jpg")).read_bytes() == POSTER
    assert (env.dest / (EP1 + ".proxy.mp4")).read_bytes() == PROXY_540
    assert sorted(u["path"] for u in summary["unavailable"]) == [EP2 + ".poster", EP2 + ".proxy"]


def test_a_proxy_of_the_wrong_size_fails_that_file_only(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ep1 = env.lw.world.assets[0]
    env.storage.put(f"renditions/{ep1.id}/proxy/540p.mp4", PROXY_540[:-1000])
    env.write_config(proxies=True)
    code, summary = env.run()
    assert code == 1 and summary["cursor_saved"] is False
    failed = [i for i in summary["items"] if i["status"] == "failed"]
    assert [(i["path"], i["kind"]) for i in failed] == [(EP1 + ".proxy.mp4", "proxy")]
    assert "catalog publishes" in failed[0]["error"]
    assert not (env.dest / (EP1 + ".proxy.mp4")).exists()
    assert (env.dest / EP1).exists() and (env.dest / EP2).exists()
    assert f"failed: {EP1}.proxy.mp4" in capsys.readouterr().err


def test_rendition_download_endpoint(env: Env) -> None:
    ep1, ep2 = env.lw.world.assets[0], env.lw.world.assets[1]
    buyer = httpx.Client(
        base_url=env.base, headers={"Authorization": f"Bearer {env.lw.buyer_token}"}, timeout=30
    )
    rival = httpx.Client(
        base_url=env.base, headers={"Authorization": f"Bearer {env.lw.rival_token}"}, timeout=30
    )
    with buyer, rival:
        listed = {i["asset_id"]: i for i in buyer.get("/v1/licensed-assets").json()["items"]}
        assert listed[str(ep1.id)]["renditions"] == [
            {
                "kind": "proxy",
                "name": "540p.mp4",
                "size": len(PROXY_540),
                "content_type": "video/mp4",
            },
            {
                "kind": "poster",
                "name": "poster.jpg",
                "size": len(POSTER),
                "content_type": "image/jpeg",
            },
        ]
        assert listed[str(ep2.id)]["renditions"] == []

        grant = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "proxy"})
        assert grant.status_code == 200, grant.text
        body = grant.json()
        assert body["rendition"] == "proxy" and body["sha256"] is None
        assert body["filename"] == "540p.mp4" and body["size"] == len(PROXY_540)
        assert httpx.get(body["url"]).content == PROXY_540

        missing = buyer.get(f"/v1/assets/{ep2.id}/download", params={"rendition": "proxy"})
        assert missing.status_code == 404
        assert "has no proxy rendition" in missing.json()["detail"]
        # Only the license holder (or the owner) may have it, as for the master.
        refused = rival.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "proxy"})
        assert refused.status_code == 403
        wrong = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "thumbnail"})
        assert wrong.status_code == 422
    assert deliveries(env, "api:proxy") == [(env.lw.license_id, str(ep1.id))]
