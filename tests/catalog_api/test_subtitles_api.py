"""Subtitle tracks end to end: delivered next to a master or PUT, read back through the API.

Deliveries go through the ingest core (`deliver`) and the worker's real job handlers; the FTP
door itself is covered by tests/pool_server/test_subtitle_delivery.py.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from catalog_api.jobs import build_handlers
from pool_core.db import Database
from pool_core.files.tree import get_entry
from pool_core.models import Asset, ChangeEvent, ReleasedObject
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_sidecar_ingest import deliver, ftp_file, run_jobs_until_idle
from tests.fixtures import subtitle_files as sf
from tests.fixtures.api import Members
from tests.pool_core.test_subtitle_reading import sample


def run_jobs(database: Database, storage: S3Storage, settings: Settings) -> None:
    """Run every queued catalog job (sidecars and subtitles) with the worker's handlers."""
    run_jobs_until_idle(database, build_handlers(settings, database, storage))


def tracks(client: TestClient, members: Members, asset_id: Any, org: str = "kztv") -> Any:
    response = client.get(f"/v1/assets/{asset_id}/subtitles", headers=members.headers(org))
    assert response.status_code == 200, response.text
    return response.json()


def events(database: Database, asset_id: Any) -> list[tuple[str, dict[str, Any]]]:
    with database.session() as session:
        rows = session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.subject_id == str(asset_id), ChangeEvent.kind.like("%subtitle%"))
            .order_by(ChangeEvent.id)
        ).all()
        return [(row.kind, dict(row.data)) for row in rows]


@pytest.mark.parametrize("fmt", sf.FORMATS)
@pytest.mark.parametrize("master_first", [True, False], ids=["master-first", "subtitles-first"])
def test_each_format_becomes_a_track_in_either_upload_order(
    fmt: str,
    master_first: bool,
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    data, cues = sample(fmt)
    folder = f"/incoming/{fmt}-{uuid.uuid4().hex[:6]}"
    tag = "ru" if fmt == "stl" else "kk-Cyrl"
    subtitle_path = f"{folder}/ep01.{tag}.{fmt}"
    if master_first:
        master = deliver(database, api_storage, members, f"{folder}/ep01.mxf", b"master")
        deliver(database, api_storage, members, subtitle_path, data)
    else:
        deliver(database, api_storage, members, subtitle_path, data)
        master = deliver(database, api_storage, members, f"{folder}/ep01.mxf", b"master")
    run_jobs(database, api_storage, api_settings)

    [track] = tracks(api_client, members, master)
    assert track["language"] == tag
    assert track["format"] == fmt
    assert track["source"] == "ftp"
    assert track["original_name"] == f"ep01.{tag}.{fmt}"
    assert track["original_sha256"] == hashlib.sha256(data).hexdigest()
    assert track["cue_count"] == len(cues)
    assert track["last_cue_end"] == pytest.approx(753.0, abs=0.05)

    vtt = api_client.get(f"/v1/assets/{master}/subtitles/{tag}", headers=members.headers("kztv"))
    assert vtt.status_code == 200
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert hashlib.sha256(vtt.content).hexdigest() == track["vtt_sha256"]
    text = vtt.content.decode("utf-8")
    assert text.startswith("WEBVTT")
    assert cues[0].text in text and "00:12:31." in text

    original = api_client.get(
        f"/v1/assets/{master}/subtitles/{tag}",
        params={"format": "original"},
        headers=members.headers("kztv"),
    )
    assert original.status_code == 200
    assert original.content == data
    assert f"ep01.{tag}.{fmt}" in original.headers["content-disposition"]
    assert [kind for kind, _ in events(database, master)] == ["asset.subtitle_added"]


@pytest.mark.parametrize("fmt", sf.FORMATS)
def test_an_unreadable_file_leaves_a_readable_errors_file_and_loses_nothing(
    fmt: str,
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    folder = f"/incoming/bad-{fmt}-{uuid.uuid4().hex[:6]}"
    master = deliver(database, api_storage, members, f"{folder}/ep01.mxf", b"master")
    bad = sf.malformed(fmt)
    deliver(database, api_storage, members, f"{folder}/ep01.kk.{fmt}", bad)
    run_jobs(database, api_storage, api_settings)

    assert tracks(api_client, members, master) == []
    report = ftp_file(database, api_storage, members, f"{folder}/ep01.kk.{fmt}.errors.txt")
    assert report is not None
    assert report.startswith(f"subtitle file ep01.kk.{fmt} could not be read:\n- ")
    assert "ep01.kk-Cyrl.srt" in report  # says how to name a file
    # The delivered file is still there, byte for byte.
    with database.session() as session:
        entry = get_entry(session, org_id=members.org_ids["kztv"], path=f"{folder}/ep01.kk.{fmt}")
        assert entry is not None and entry.object_key is not None
        assert api_storage.get(entry.object_key) == bad
    [(kind, data)] = events(database, master)
    assert kind == "asset.subtitle_rejected" and data["file"] == f"ep01.kk.{fmt}"

    # A readable file under the same name makes the track and removes the stale report.
    deliver(database, api_storage, members, f"{folder}/ep01.kk.{fmt}", sample(fmt)[0])
    run_jobs(database, api_storage, api_settings)
    assert [t["language"] for t in tracks(api_client, members, master)] == ["kk"]
    assert ftp_file(database, api_storage, members, f"{folder}/ep01.kk.{fmt}.errors.txt") is None


def test_a_new_file_replaces_the_track_and_releases_the_old_bytes(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    folder = f"/incoming/replace-{uuid.uuid4().hex[:6]}"
    master = deliver(database, api_storage, members, f"{folder}/ep01.mxf", b"master")
    first = sf.srt([sf.Cue(1.0, 2.0, "бірінші")])
    deliver(database, api_storage, members, f"{folder}/ep01.kk.srt", first)
    run_jobs(database, api_storage, api_settings)
    [before] = tracks(api_client, members, master)

    second = sf.vtt([sf.Cue(1.0, 2.0, "екінші"), sf.Cue(3.0, 4.0, "үшінші")])
    put = api_client.put(
        f"/v1/assets/{master}/subtitles/KK",
        content=second,
        params={"filename": "ep01.kk.vtt"},
        headers=members.headers("kztv"),
    )
    assert put.status_code == 200, put.text
    after = put.json()
    assert after["language"] == "kk" and after["format"] == "vtt" and after["source"] == "api"
    assert after["cue_count"] == 2 and after["original_sha256"] != before["original_sha256"]
    assert [t["original_name"] for t in tracks(api_client, members, master)] == ["ep01.kk.vtt"]
    kinds = [kind for kind, _ in events(database, master)]
    assert kinds == ["asset.subtitle_added", "asset.subtitle_replaced"]
    with database.session() as session:
        released = set(session.scalars(select(ReleasedObject.object_key)))
    old_keys = {k for k in released if f"/{before['original_sha256'][:16]}/" in k}
    assert len(old_keys) == 2  # the old original and its WebVTT, swept by maintenance


def test_who_may_read_and_write_tracks(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    folder = f"/incoming/who-{uuid.uuid4().hex[:6]}"
    master = deliver(database, api_storage, members, f"{folder}/ep01.mxf", b"master")
    data = sf.srt([sf.Cue(1.0, 2.0, "Сәлем")])
    url = f"/v1/assets/{master}/subtitles/kk"

    # Another member does not see an unpublished master, nor its tracks.
    listed = api_client.get(f"/v1/assets/{master}/subtitles", headers=members.headers("uztv"))
    assert listed.status_code == 404
    assert api_client.put(url, content=data, headers=members.headers("uztv")).status_code == 404
    # The owner's uploader delivers by FTP but does not change the catalog through the API.
    put = api_client.put(url, content=data, headers=members.headers("kztv", "uploader"))
    assert put.status_code == 403
    # Unknown content, a bad language and a broken file are readable 422s; nothing is stored.
    put = api_client.put(url, content=b"just words", headers=members.headers("kztv"))
    assert put.status_code == 422 and "?format=" in put.json()["detail"]
    put = api_client.put(
        f"/v1/assets/{master}/subtitles/not-a-tag", content=data, headers=members.headers("kztv")
    )
    assert put.status_code == 422 and "BCP 47" in put.json()["detail"]
    put = api_client.put(
        url, content=sf.malformed("vtt"), params={"format": "vtt"}, headers=members.headers("kztv")
    )
    assert put.status_code == 422 and "could not be read" in put.json()["detail"]
    assert tracks(api_client, members, master) == []
    missing = api_client.get(url, headers=members.headers("kztv"))
    assert missing.status_code == 404 and "no kk subtitles" in missing.json()["detail"]
    assert api_client.put(url, content=data, headers=members.headers("kztv")).status_code == 200

    # Published, the master's tracks and WebVTT are every member's; the original stays the
    # owner's, and only the owner adds tracks.
    title = api_client.post(
        "/v1/titles",
        json={"kind": "film", "original_title": "Сәлем"},
        headers=members.headers("kztv"),
    ).json()
    linked = api_client.put(
        f"/v1/assets/{master}/link", json={"title_id": title["id"]}, headers=members.headers("kztv")
    )
    assert linked.status_code == 200, linked.text
    assert [t["language"] for t in tracks(api_client, members, master, "uztv")] == ["kk"]
    vtt = api_client.get(url, headers=members.headers("uztv"))
    assert vtt.status_code == 200 and "Сәлем" in vtt.text
    original = api_client.get(url, params={"format": "original"}, headers=members.headers("uztv"))
    assert original.status_code == 403
    assert api_client.put(url, content=data, headers=members.headers("uztv")).status_code == 403
    # The other member's feed announces the track, without the owner's file name.
    feed = api_client.get("/v1/changes", headers=members.headers("uztv")).json()
    added = [e for e in feed["events"] if e["kind"] == "asset.subtitle_added"]
    assert [e["data"] for e in added] == [
        {"language": "kk", "subtitle_format": "srt", "cue_count": 1}
    ]


def search(client: TestClient, members: Members, org: str = "kztv", **params: Any) -> Any:
    response = client.get("/v1/search/subtitles", params=params, headers=members.headers(org))
    assert response.status_code == 200, response.text
    return response.json()


def test_cue_search_finds_cyrillic_by_latin_with_language_and_timecode(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    folder = f"/incoming/search-{uuid.uuid4().hex[:6]}"
    master = deliver(database, api_storage, members, f"{folder}/ep07.mxf", b"master")
    deliver(database, api_storage, members, f"{folder}/ep07.kk-Cyrl.srt", sample("srt")[0])
    deliver(database, api_storage, members, f"{folder}/ep07.ru.stl", sample("stl")[0])
    run_jobs(database, api_storage, api_settings)
    with database.session() as session:  # the transcoder's probe: 29.97 fps
        asset_row = session.get(Asset, master)
        assert asset_row is not None
        asset_row.technical = {"video": {"frame_rate": 29.97}, "container": {"duration": 800.0}}

    # "Қорқыт ата" typed in Latin, the last word cut short.
    found = search(api_client, members, q="Qorqyt at")
    assert [(h["language"], h["text"], h["timecode"]) for h in found["hits"]] == [
        ("kk-Cyrl", "Қорқыт ата келді", "00:00:01;00")
    ]
    assert found["hits"][0]["asset_id"] == str(master)
    assert found["hits"][0]["screen_url"] == f"/assets/{master}/screen?t=1.000"
    assert found["languages"] == {"kk-Cyrl": 1}
    # Russian from the Cyrillic EBU STL, in Latin; the hour/minute timecode at 29.97 fps.
    konets = search(api_client, members, q="Konets")["hits"]
    assert [(h["language"], h["timecode"]) for h in konets] == [("ru", "00:12:31;05")]
    # Every word must be in one cue.
    assert search(api_client, members, q="sony konets")["hits"] == []
    # Words in both tracks: the facet counts each language, the filter keeps one.
    every = search(api_client, members, q="k")
    assert set(every["languages"]) == {"kk-Cyrl", "ru"}
    assert search(api_client, members, q="k", facets="false")["languages"] == {}
    only = search(api_client, members, q="k", language="RU")
    assert {h["language"] for h in only["hits"]} == {"ru"}
    assert only["languages"] == every["languages"]
    # Another member does not find cues of a master it may not see.
    assert search(api_client, members, "uztv", q="Qorqyt") == {"hits": [], "languages": {}}
    # Replacing the track replaces what is found.
    new = sf.srt([sf.Cue(2.0, 3.0, "Жаңа мәтін")])
    deliver(database, api_storage, members, f"{folder}/ep07.kk-Cyrl.srt", new)
    run_jobs(database, api_storage, api_settings)
    assert search(api_client, members, q="Qorqyt")["hits"] == []
    assert [h["text"] for h in search(api_client, members, q="jana")["hits"]] == ["Жаңа мәтін"]


def test_title_search_has_a_subtitles_facet_and_filter(
    api_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    folder = f"/incoming/facet-{uuid.uuid4().hex[:6]}"
    titles = {}
    for name, tracks_wanted in (("Dala", ["kk-Cyrl", "ru"]), ("Dalan", ["ru"]), ("Dalam", [])):
        master = deliver(database, api_storage, members, f"{folder}/{name}.mxf", b"master")
        for tag in tracks_wanted:
            data = sf.srt([sf.Cue(1.0, 2.0, f"{name} {tag}")])
            deliver(database, api_storage, members, f"{folder}/{name}.{tag}.srt", data)
        title = api_client.post(
            "/v1/titles",
            json={"kind": "film", "original_title": name},
            headers=members.headers("kztv"),
        ).json()
        titles[title["id"]] = name
        linked = api_client.put(
            f"/v1/assets/{master}/link",
            json={"title_id": title["id"]},
            headers=members.headers("kztv"),
        )
        assert linked.status_code == 200, linked.text
    run_jobs(database, api_storage, api_settings)

    def found(**params: Any) -> tuple[list[str], dict[str, int]]:
        response = api_client.get("/v1/search", params=params, headers=members.headers("uztv"))
        assert response.status_code == 200, response.text
        body = response.json()
        return sorted(titles[i["title"]["id"]] for i in body["items"]), body["facets"]["subtitles"]

    names, facet = found(q="dala")
    assert names == ["Dala", "Dalam", "Dalan"]
    assert facet == {"kk-Cyrl": 1, "ru": 2}
    names, facet = found(q="dala", subtitles="RU")
    assert names == ["Dala", "Dalan"]
    assert facet == {"kk-Cyrl": 1, "ru": 2}  # a facet is counted without its own filter
    assert found(q="dala", subtitles=["kk-cyrl", "tr"])[0] == ["Dala"]
    assert found(q="dala", subtitles="tr")[0] == []
