"""Proxies and posters beside the masters: opt-in, verified, and a missing one is not fatal.

Renditions the transcoder made since it records hashes publish a SHA-256 (`meta["sha256"]`)
and are verified by it; older ones publish none and are verified by size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.models import Asset, Delivery, Rendition
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.config import STATE_DIR
from pool_sync.state import SyncState
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha

PROXY_540 = os.urandom(150_000)
PROXY_360 = os.urandom(60_000)
POSTER = os.urandom(20_000)


def add_rendition(
    env: Env, asset: Asset, *, kind: str, name: str, data: bytes, meta: dict[str, Any]
) -> None:
    """Store a rendition of `asset` the way the transcoder does (row plus object)."""
    key = f"renditions/{asset.id}/{kind}/{name}"
    env.storage.put(key, data)
    with env.db.write_session() as session:
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
    """The licensed world; ep1 has a two-rung proxy ladder and a poster, ep2 nothing yet.

    ep1's renditions carry their SHA-256 in meta, as the transcoder now records it.
    """
    for instance in make_env(database, storage, storage_settings, tmp_path):
        ep1 = instance.lw.world.assets[0]
        add_rendition(
            instance,
            ep1,
            kind="proxy",
            name="360p.mp4",
            data=PROXY_360,
            meta={"height": 360, "sha256": sha(PROXY_360)},
        )
        add_rendition(
            instance,
            ep1,
            kind="proxy",
            name="540p.mp4",
            data=PROXY_540,
            meta={"height": 540, "sha256": sha(PROXY_540)},
        )
        add_rendition(
            instance,
            ep1,
            kind="poster",
            name="poster.jpg",
            data=POSTER,
            meta={"sha256": sha(POSTER)},
        )
        yield instance


def set_meta(env: Env, key: str, meta: dict[str, Any]) -> None:
    """Replace the meta of the rendition stored under `key` (e.g. to make it a legacy one)."""
    with env.db.session() as session:
        row = session.scalars(select(Rendition).where(Rendition.object_key == key)).one()
        row.meta = meta


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
    assert f"ok {EP1}.proxy.mp4 (" in out
    assert "sha256 verified" in out.split(f"ok {EP1}.proxy.mp4 (")[1].splitlines()[0]
    assert "1 renditions not in the pool yet (skipped)" in out
    # The proxy hand-out is logged against the license.
    assert deliveries(env, "api:proxy") == [(env.lw.license_id, str(env.lw.world.assets[0].id))]

    # Nothing new: no download, and no new grant (a grant is a logged delivery).
    code, again = env.run()
    assert code == 0 and again["bytes_fetched"] == 0 and again["downloaded"] == 0
    assert len(deliveries(env, "api:proxy")) == 1

    # ep2 gets transcoded later: the next run fetches only its proxy, not its master again.
    add_rendition(
        env,
        env.lw.world.assets[1],
        kind="proxy",
        name="540p.mp4",
        data=PROXY_360,
        meta={"sha256": sha(PROXY_360)},
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
        workflow.revoke_license(
            session, license_id=env.lw.license_id, actor=Actor.for_user(owner_rm)
        )
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
                "sha256": sha(PROXY_540),
            },
            {
                "kind": "poster",
                "name": "poster.jpg",
                "size": len(POSTER),
                "content_type": "image/jpeg",
                "sha256": sha(POSTER),
            },
        ]
        assert listed[str(ep2.id)]["renditions"] == []

        grant = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "proxy"})
        assert grant.status_code == 200, grant.text
        body = grant.json()
        assert body["rendition"] == "proxy" and body["sha256"] == sha(PROXY_540)
        assert body["filename"] == "540p.mp4" and body["size"] == len(PROXY_540)
        assert httpx.get(body["url"]).content == PROXY_540
        poster = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "poster"})
        assert poster.status_code == 200 and poster.json()["sha256"] == sha(POSTER)

        # A rendition made before the transcoder recorded hashes publishes null.
        set_meta(env, f"renditions/{ep1.id}/poster/poster.jpg", {"time": 1.0})
        legacy = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "poster"})
        assert legacy.status_code == 200 and legacy.json()["sha256"] is None
        listed = {i["asset_id"]: i for i in buyer.get("/v1/licensed-assets").json()["items"]}
        assert [r["sha256"] for r in listed[str(ep1.id)]["renditions"]] == [sha(PROXY_540), None]

        missing = buyer.get(f"/v1/assets/{ep2.id}/download", params={"rendition": "proxy"})
        assert missing.status_code == 404
        assert "has no proxy rendition" in missing.json()["detail"]
        # Only the license holder (or the owner) may have it, as for the master.
        refused = rival.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "proxy"})
        assert refused.status_code == 403
        wrong = buyer.get(f"/v1/assets/{ep1.id}/download", params={"rendition": "thumbnail"})
        assert wrong.status_code == 422
    assert deliveries(env, "api:proxy") == [(env.lw.license_id, str(ep1.id))]

    # The owner's asset detail names each rendition's hash too.
    with httpx.Client(
        base_url=env.base, headers={"Authorization": f"Bearer {env.lw.owner_token}"}, timeout=30
    ) as owner:
        detail = owner.get(f"/v1/assets/{ep1.id}")
        assert detail.status_code == 200, detail.text
        assert [(r["name"], r["sha256"]) for r in detail.json()["renditions"]] == [
            ("poster.jpg", None),
            ("360p.mp4", sha(PROXY_360)),
            ("540p.mp4", sha(PROXY_540)),
        ]


def test_a_corrupted_proxy_of_the_right_size_fails_that_file_only(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ep1 = env.lw.world.assets[0]
    key = f"renditions/{ep1.id}/proxy/540p.mp4"
    # Same size, different bytes: only the published hash can tell.
    env.storage.put(key, os.urandom(len(PROXY_540)))
    env.write_config(proxies=True, posters=True)
    code, summary = env.run()
    assert code == 1 and summary["cursor_saved"] is False
    failed = [i for i in summary["items"] if i["status"] == "failed"]
    assert [(i["path"], i["kind"]) for i in failed] == [(EP1 + ".proxy.mp4", "proxy")]
    assert f"does not match the published {sha(PROXY_540)}" in failed[0]["error"]
    # Nothing of the bad proxy is left: neither in place nor as a partial file.
    assert not (env.dest / (EP1 + ".proxy.mp4")).exists()
    assert not list((env.dest / STATE_DIR / "partial").iterdir())
    # Both masters and the (good) poster made it.
    assert (env.dest / EP1).exists() and (env.dest / EP2).exists()
    assert (env.dest / (EP1 + ".poster.jpg")).read_bytes() == POSTER
    err = capsys.readouterr().err
    assert f"failed: {EP1}.proxy.mp4" in err and "SHA-256" in err

    # The pool's object is repaired: the next run fetches only the proxy, and saves the cursor.
    env.storage.put(key, PROXY_540)
    code, again = env.run()
    assert code == 0 and again["cursor_saved"] is True
    assert [i["path"] for i in again["items"] if i["status"] == "downloaded"] == [
        EP1 + ".proxy.mp4"
    ]
    assert (env.dest / (EP1 + ".proxy.mp4")).read_bytes() == PROXY_540


def test_renditions_of_a_failed_master_are_listed_as_not_attempted(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ep1 = env.lw.world.assets[0]
    env.storage.put(ep1.object_key, os.urandom(ep1.size))
    env.write_config(proxies=True, posters=True)
    code, summary = env.run()
    assert code == 1 and summary["cursor_saved"] is False
    failed = {i["path"]: i for i in summary["items"] if i["status"] == "failed"}
    assert sorted(failed) == [EP1, EP1 + ".poster.jpg", EP1 + ".proxy.mp4"]
    assert "SHA-256" in failed[EP1]["error"]
    for path in (EP1 + ".poster.jpg", EP1 + ".proxy.mp4"):
        assert failed[path]["error"] == "not attempted: its master failed"
        assert not (env.dest / path).exists()
    assert summary["failed"] == 3
    err = capsys.readouterr().err
    assert f"failed: {EP1}.proxy.mp4" in err and f"failed: {EP1}.poster.jpg" in err

    # Once the master is whole again the next run brings it and both renditions.
    env.storage.put(ep1.object_key, env.lw.masters[ep1.filename])
    code, again = env.run()
    assert code == 0 and again["cursor_saved"] is True
    assert (env.dest / (EP1 + ".proxy.mp4")).read_bytes() == PROXY_540
    assert (env.dest / (EP1 + ".poster.jpg")).read_bytes() == POSTER


def test_a_legacy_rendition_without_a_hash_syncs_by_size(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    ep1 = env.lw.world.assets[0]
    key = f"renditions/{ep1.id}/proxy/540p.mp4"
    set_meta(env, key, {"height": 540})  # made before the transcoder recorded hashes
    env.write_config(proxies=True)
    code, summary = env.run()
    assert code == 0 and summary["failed"] == 0, summary
    proxy = env.dest / (EP1 + ".proxy.mp4")
    assert proxy.read_bytes() == PROXY_540
    out = capsys.readouterr().out
    assert f"{EP1}.proxy.mp4: the pool publishes no SHA-256 for this proxy" in out
    assert "verifying the size only" in out
    assert "size verified, no sha256 published" in out
    state = SyncState.load(env.dest / STATE_DIR / "state.json")
    assert state.files[EP1]["renditions"]["proxy"]["sha256"] is None

    # The pool publishes the hash later: the file on disk is checked locally, not refetched,
    # and the manifest remembers the hash.
    set_meta(env, key, {"height": 540, "sha256": sha(PROXY_540)})
    code, later = env.run()
    assert code == 0 and later["downloaded"] == 0 and later["bytes_fetched"] == 0
    state = SyncState.load(env.dest / STATE_DIR / "state.json")
    assert state.files[EP1]["renditions"]["proxy"]["sha256"] == sha(PROXY_540)

    # A re-transcode to a proxy of the very same size but other bytes is noticed by its hash.
    other = os.urandom(len(PROXY_540))
    env.storage.put(key, other)
    set_meta(env, key, {"height": 540, "sha256": sha(other)})
    code, redone = env.run()
    assert code == 0 and redone["downloaded"] == 1
    assert proxy.read_bytes() == other
