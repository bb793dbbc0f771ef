"""Subtitles travel with the master: the sync, FTP `/licensed` and the listing, SHA-256 checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.files.licensed import licensed_tree
from pool_core.licensing import workflow
from pool_core.models import Asset, Delivery
from pool_core.search.cues import search_cues
from pool_core.search.normalize import fold
from pool_core.services import subtitles
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.subtitles.convert import sniff_format
from tests.fixtures import subtitle_files as sf
from tests.pool_core.test_subtitle_reading import sample
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha

STL = sample("stl")[0]


def add_track(env: Env, asset_id: object, language: str, data: bytes, name: str) -> None:
    """Give a licensed master a subtitle track, as its owner's upload would."""
    with env.db.write_session() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        subtitles.store_track(
            session, env.storage, asset=asset, language=language, filename=name, data=data,
            fmt=sniff_format(data) or "srt", source="api", uploaded_by=None,
        )  # fmt: skip


def vtt_of(env: Env, asset_id: object, language: str) -> bytes:
    with env.db.session() as session:
        track = next(
            t
            for t in subtitles.list_tracks(session, session.get(Asset, asset_id))  # type: ignore[arg-type]
            if t.language == language
        )
        return env.storage.get(track.vtt_key)


@pytest.fixture
def env(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> Iterator[Env]:
    """The licensed world; ep1 has Russian subtitles (a Cyrillic EBU STL), ep2 none."""
    for instance in make_env(database, storage, storage_settings, tmp_path):
        add_track(instance, instance.lw.world.assets[0].id, "ru", STL, "ep1.ru.stl")
        yield instance


def test_tracks_come_beside_the_master_verified_and_are_replaced_and_pruned(env: Env) -> None:
    ep1 = env.lw.world.assets[0]
    code, summary = env.run()
    assert code == 0, summary
    vtt, original = env.dest / f"{EP1}.ru.vtt", env.dest / f"{EP1}.ru.original.stl"
    assert original.read_bytes() == STL
    assert vtt.read_bytes() == vtt_of(env, ep1.id, "ru")
    assert "Привет, мир" in vtt.read_text(encoding="utf-8")
    # ep2 has no track: nothing fetched and nothing reported missing.
    assert sorted(p.name for p in (env.dest / EP2).parent.iterdir()) == ["ep2.mxf", "ep2.mxf.json"]
    assert summary["unavailable"] == []
    with env.db.session() as session:
        channels = [d.channel for d in session.scalars(select(Delivery))]
    assert channels.count("api:subtitles") == 2
    # The FTP `/licensed` view shows the same names with the same hashes.
    with env.db.session() as session:
        files = {f.path: f for f in licensed_tree(session, org_id=env.lw.world.buyer.id)}
    assert files[f"/licensed/{EP1}.ru.original.stl"].sha256 == sha(STL)
    assert files[f"/licensed/{EP1}.ru.vtt"].sha256 == sha(vtt.read_bytes())

    # Nothing new: nothing fetched. A replaced track is fetched again, the master is not.
    code, again = env.run()
    assert code == 0 and again["bytes_fetched"] == 0
    srt = sf.srt([sf.Cue(1.0, 2.0, "Новый текст")])
    add_track(env, ep1.id, "ru", srt, "ep1.ru.srt")
    code, later = env.run()
    assert code == 0, later
    fetched = sorted(i["path"] for i in later["items"] if i["status"] == "downloaded")
    assert fetched == [f"{EP1}.ru.original.srt", f"{EP1}.ru.vtt"]
    assert "Новый текст" in vtt.read_text(encoding="utf-8")

    # Revoked: pruning removes the subtitles with the masters.
    with env.db.session() as session:
        owner_rm = session.get(type(env.lw.world.owner_rm), env.lw.world.owner_rm.id)
        assert owner_rm is not None
        workflow.revoke_license(
            session, license_id=env.lw.license_id, actor=Actor.for_user(owner_rm)
        )
    code, pruned = env.run("--prune")
    assert code == 0 and sorted(pruned["pruned"]) == [EP1, EP2]
    assert not vtt.exists() and not (env.dest / f"{EP1}.ru.original.srt").exists()


def test_subtitles_can_be_turned_off(env: Env) -> None:
    code, summary = env.run("--no-subtitles")
    assert code == 0 and summary["downloaded"] == 2
    assert not list(env.dest.rglob("*.vtt")) and not list(env.dest.rglob("*.stl"))
    env.write_config(subtitles=False)
    code, summary = env.run()
    assert code == 0 and not list(env.dest.rglob("*.vtt"))


def test_a_damaged_subtitle_copy_fails_that_file_only(env: Env) -> None:
    ep1 = env.lw.world.assets[0]
    with env.db.session() as session:
        [track] = subtitles.list_tracks(session, session.get(Asset, ep1.id))  # type: ignore[arg-type]
        key = track.original_key
    env.storage.put(key, STL[:-128])  # the stored copy lost its last block
    code, summary = env.run()
    assert code == 1 and summary["cursor_saved"] is False
    failed = [i["path"] for i in summary["items"] if i["status"] == "failed"]
    assert failed == [f"{EP1}.ru.original.stl"]
    assert not (env.dest / f"{EP1}.ru.original.stl").exists()
    assert (env.dest / EP1).exists() and (env.dest / f"{EP1}.ru.vtt").exists()


def test_the_listing_names_each_file_and_the_download_hands_it_out(env: Env) -> None:
    ep1 = env.lw.world.assets[0]
    headers = {"Authorization": f"Bearer {env.lw.buyer_token}"}
    listed = httpx.get(f"{env.base}/v1/licensed-assets", headers=headers).json()
    item = next(i for i in listed["items"] if i["asset_id"] == str(ep1.id))
    assert [(s["kind"], s["name"], s["format"]) for s in item["subtitles"]] == [
        ("ru", "ru.vtt", "stl"),
        ("ru.original", "ep1.ru.stl", "stl"),
    ]
    grant = httpx.get(
        f"{env.base}/v1/assets/{ep1.id}/download",
        params={"rendition": "ru.original"},
        headers=headers,
    ).json()
    assert grant["sha256"] == sha(STL) and httpx.get(grant["url"]).content == STL
    missing = httpx.get(
        f"{env.base}/v1/assets/{ep1.id}/download", params={"rendition": "kk"}, headers=headers
    )
    assert missing.status_code == 404 and "ru.original" in missing.json()["detail"]
    # Someone without a license gets none of it.
    rival = {"Authorization": f"Bearer {env.lw.rival_token}"}
    refused = httpx.get(
        f"{env.base}/v1/assets/{ep1.id}/download", params={"rendition": "ru"}, headers=rival
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("fmt", sf.FORMATS)
def test_each_format_is_found_by_its_words_and_delivered_as_delivered(
    fmt: str, database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> None:
    data, cues = sample(fmt)
    for env in make_env(database, storage, storage_settings, tmp_path):
        ep2 = env.lw.world.assets[1]
        add_track(env, ep2.id, "kk", data, f"ep2.kk.{fmt}")
        # The licensee finds the first line by its words typed in Latin, at its timecode.
        first = cues[0].text.split("\n")[0]
        with env.db.session() as session:
            hits = search_cues(session, fold(first), viewer_org_id=env.lw.world.buyer.id).hits
        assert [(h.asset_id, h.language, h.text.split("\n")[0], h.timecode) for h in hits] == [
            (ep2.id, "kk", first, "00:00:01:00")
        ]
        code, summary = env.run()
        assert code == 0, summary
        assert (env.dest / f"{EP2}.kk.original.{fmt}").read_bytes() == data
        vtt = (env.dest / f"{EP2}.kk.vtt").read_text(encoding="utf-8")
        assert vtt.startswith("WEBVTT") and first.split()[0] in vtt
        with env.db.session() as session:
            listed = {f.path for f in licensed_tree(session, org_id=env.lw.world.buyer.id)}
        assert {f"/licensed/{EP2}.kk.vtt", f"/licensed/{EP2}.kk.original.{fmt}"} <= listed
