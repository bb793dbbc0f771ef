# Multilingual titles are the test data.
# ruff: noqa: RUF001
"""The title page: localized metadata, seasons and episodes, masters with QC, links, visibility."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pool_core.db import Database
from pool_core.storage.s3 import S3Storage
from tests.catalog_web.test_search_page import link_ready_asset, new_title, signed_in
from tests.fixtures.api import Members

QC_REPORT = {
    "verdict": "warn",
    "findings": [
        {
            "check": "loudness",
            "severity": "warn",
            "message": "Integrated loudness -19.8 LUFS is outside -23 ± 1 LU.",
        },
        {
            "check": "black",
            "severity": "fail",
            "message": "Black picture from 10:12:03:05 to 10:12:09:00 (5.8 s).",
        },
    ],
}


def h1(page: str) -> str:
    """The page's main heading."""
    found = re.search(r"<h1[^>]*>([^<]*)</h1>", page)
    assert found, "no h1"
    return found.group(1)


def test_the_name_follows_the_ui_language_and_falls_back(
    web_client: TestClient, members: Members
) -> None:
    title_id = new_title(
        web_client,
        members,
        "kztv",
        original_title="Қазақ хандығы",
        original_language="kk-Cyrl",
        localizations={
            "kk-Cyrl": {"title": "Қазақ хандығы", "synopsis": "Тарихи драма."},
            "ru": {"title": "Казахское ханство", "synopsis": "Историческая драма."},
        },
    )
    client = signed_in(web_client, members, "uztv")
    url = f"/titles/{title_id}"
    russian = client.get(url, headers={"Accept-Language": "ru"})
    assert russian.status_code == 200
    assert h1(russian.text) == "Казахское ханство"
    assert "Историческая драма." in russian.text
    assert "Қазақ хандығы" in russian.text  # the original is named too
    kazakh = client.get(url, headers={"Accept-Language": "kk"})
    assert h1(kazakh.text) == "Қазақ хандығы"
    assert "Тарихи драма." in kazakh.text
    # No Turkish name: the original title, and the synopsis in the original language.
    turkish = client.get(url, headers={"Accept-Language": "tr"})
    assert h1(turkish.text) == "Қазақ хандығы"
    assert "Тарихи драма." in turkish.text and "Историческая драма." not in turkish.text


def test_seasons_episodes_contributors_identifiers(
    web_client: TestClient, members: Members
) -> None:
    title_id = new_title(
        web_client,
        members,
        "uztv",
        kind="serial",
        original_title="Mahalla",
        external_id="UZ-2024-0042",
        contributors=[{"name": "Dilnoza Aliyeva", "role": "director"}],
        localizations={"uz-Latn": {"title": "Mahalla"}},
    )
    editor = members.headers("uztv", "editor")
    season = web_client.put(
        f"/v1/titles/{title_id}/seasons/1", json={"name": "Bahor"}, headers=editor
    )
    assert season.status_code in (200, 201), season.text
    for number, name in ((1, "Birinchi kun"), (2, "Ikkinchi kun")):
        episode = web_client.post(
            f"/v1/titles/{title_id}/episodes",
            json={
                "season_number": 1,
                "number": number,
                "name": name,
                "localizations": {"kk-Cyrl": {"title": f"Күн {number}"}},
            },
            headers=editor,
        )
        assert episode.status_code in (200, 201), episode.text
    client = signed_in(web_client, members, "kztv")
    page = client.get(f"/titles/{title_id}", headers={"Accept-Language": "en"}).text
    assert "Season 1" in page and "Bahor" in page and "2 episodes" in page
    assert "Birinchi kun" in page and "Ikkinchi kun" in page
    assert "Dilnoza Aliyeva" in page and "director" in page
    assert "UZ-2024-0042" in page and title_id in page
    # Episode names follow the UI language too.
    kazakh = client.get(f"/titles/{title_id}", headers={"Accept-Language": "kk"}).text
    assert "Күн 1" in kazakh and "Birinchi kun" not in kazakh


def test_masters_show_technical_metadata_and_readable_qc(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    title_id = new_title(web_client, members, "uztv", original_title="Masters")
    asset_id = link_ready_asset(
        web_client, database, api_storage, members, "uztv", title_id, qc=QC_REPORT
    )
    client = signed_in(web_client, members, "kztv")
    page = client.get(f"/titles/{title_id}").text
    assert "Black picture from 10:12:03:05 to 10:12:09:00 (5.8 s)." in page
    assert "Integrated loudness -19.8 LUFS is outside -23 ± 1 LU." in page
    assert '<span class="badge warn">Warnings</span>' in page
    assert '<span class="badge fail">Failure</span>' in page
    assert "10:00:00:00" in page and "1920×1080" in page and "mpeg2video" in page
    assert "0:25:00" in page  # the container's duration
    # An editor may screen the proxy and ask for a license of another member's title.
    assert f'href="/assets/{asset_id}/screen"' in page
    assert f'href="/titles/{title_id}/license"' in page


def test_links_follow_the_role_and_ownership(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    title_id = new_title(web_client, members, "uztv", original_title="Links")
    asset_id = link_ready_asset(web_client, database, api_storage, members, "uztv", title_id)
    no_proxy = new_title(web_client, members, "uztv", original_title="No proxy")
    link_ready_asset(
        web_client, database, api_storage, members, "uztv", no_proxy, renditions=("poster",)
    )
    uploader = signed_in(web_client, members, "kztv", "uploader")
    page = uploader.get(f"/titles/{title_id}").text
    assert "/screen" not in page and f'href="/titles/{title_id}/license"' not in page
    uploader.cookies.clear()
    owner = signed_in(web_client, members, "uztv", "editor")
    own = owner.get(f"/titles/{title_id}").text
    assert f'href="/assets/{asset_id}/screen"' in own
    assert f'href="/titles/{title_id}/license"' not in own
    assert '<span class="badge yours">' in own
    assert "/screen" not in owner.get(f"/titles/{no_proxy}").text


def test_another_members_draft_is_not_found(web_client: TestClient, members: Members) -> None:
    draft = new_title(web_client, members, "uztv", original_title="Secret draft", status="draft")
    stranger = signed_in(web_client, members, "kztv")
    missing = stranger.get(f"/titles/{draft}")
    assert missing.status_code == 404
    assert "Secret draft" not in missing.text
    stranger.cookies.clear()
    owner = signed_in(web_client, members, "uztv")
    own = owner.get(f"/titles/{draft}")
    assert own.status_code == 200 and "Secret draft" in own.text and "Draft" in own.text
