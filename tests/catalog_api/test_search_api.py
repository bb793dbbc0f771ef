"""GET /v1/search over the API: cross-script, facets, filters, isolation, cursors."""

# Multilingual titles are the test data.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import Members

CATALOG: list[tuple[str, dict[str, Any]]] = [
    (
        "kztv",
        {
            "kind": "documentary",
            "original_title": "Қазақстан тарихы",
            "localizations": {
                "kk-Cyrl": {"title": "Қазақстан тарихы"},
                "ru": {"title": "История Казахстана"},
            },
            "genres": ["history"],
            "production_year": 2022,
            "duration_seconds": 3000,
        },
    ),
    (
        "uztv",
        {
            "kind": "serial",
            "original_title": "Ўзбекистон оҳанглари",
            "localizations": {"uz-Cyrl": {"title": "Ўзбекистон оҳанглари"}},
            "genres": ["music"],
            "production_year": 2018,
            "duration_seconds": 1500,
        },
    ),
    (
        "uztv",
        {
            "kind": "film",
            "original_title": "Azərbaycan nağılları",
            "localizations": {
                "az-Latn": {"title": "Azərbaycan nağılları", "synopsis": "Xalq nağılları"}
            },
            "genres": ["family"],
            "production_year": 2020,
        },
    ),
    ("uztv", {"kind": "film", "original_title": "Qazaqstan secret draft", "status": "draft"}),
]


@pytest.fixture
def catalog(api_client: TestClient, members: Members) -> None:
    """Titles from both organizations."""
    for org, body in CATALOG:
        response = api_client.post("/v1/titles", json=body, headers=members.headers(org))
        assert response.status_code == 201, response.text


def titles(client: TestClient, members: Members, org: str = "kztv", **params: Any) -> list[str]:
    """The original titles a search returns."""
    response = client.get("/v1/search", params=params, headers=members.headers(org, "uploader"))
    assert response.status_code == 200, response.text
    return [hit["title"]["original_title"] for hit in response.json()["items"]]


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Qazaqstan", "Қазақстан тарихы"),
        ("Kazakhstana", "Қазақстан тарихы"),
        ("Özbekiston", "Ўзбекистон оҳанглари"),
        ("ozbekiston ohanglari", "Ўзбекистон оҳанглари"),
        ("Azerbaycan", "Azərbaycan nağılları"),
        ("AZƏRBAYCAN NAĞILLARI", "Azərbaycan nağılları"),
        ("Azrbaycan", "Azərbaycan nağılları"),
        ("Азәрбајҹан", "Azərbaycan nağılları"),
    ],
)
def test_cross_script_queries(
    api_client: TestClient, members: Members, query: str, expected: str
) -> None:
    assert titles(api_client, members, q=query) == [expected]


@pytest.mark.usefixtures("catalog")
def test_drafts_stay_with_their_owner(api_client: TestClient, members: Members) -> None:
    assert titles(api_client, members, "kztv", q="secret") == []
    assert titles(api_client, members, "uztv", q="secret") == ["Qazaqstan secret draft"]
    uz = titles(api_client, members, "uztv", q="qazaqstan", sort="title")
    assert uz == ["Qazaqstan secret draft", "Қазақстан тарихы"]


@pytest.mark.usefixtures("catalog")
def test_facets_filters_and_sorting(api_client: TestClient, members: Members) -> None:
    response = api_client.get("/v1/search", headers=members.headers("kztv"))
    body = response.json()
    assert body["total"] == 3
    assert body["facets"]["owner"] == {"kztv": 1, "uztv": 2}
    assert body["facets"]["kind"] == {"documentary": 1, "serial": 1, "film": 1}
    assert body["facets"]["duration"] == {"5-30": 1, "30-60": 1}
    assert titles(api_client, members, kind=["film", "serial"], sort="title") == [
        "Azərbaycan nağılları",
        "Ўзбекистон оҳанглари",
    ]
    assert titles(api_client, members, genre="history") == ["Қазақстан тарихы"]
    assert titles(api_client, members, language="uz-Cyrl") == ["Ўзбекистон оҳанглари"]
    assert titles(api_client, members, owner="KZTV") == ["Қазақстан тарихы"]
    assert titles(api_client, members, year_from=2019, year_to=2021) == ["Azərbaycan nağılları"]
    assert titles(api_client, members, duration_max=1800) == ["Ўзбекистон оҳанглари"]
    assert titles(api_client, members, sort="newest") == [
        "Azərbaycan nağılları",
        "Ўзбекистон оҳанглари",
        "Қазақстан тарихы",
    ]
    no_facets = api_client.get(
        "/v1/search", params={"facets": False}, headers=members.headers("kztv")
    )
    assert no_facets.json()["facets"] == {}


@pytest.mark.usefixtures("catalog")
def test_cursor_and_explained_terms(api_client: TestClient, members: Members) -> None:
    first = api_client.get(
        "/v1/search", params={"limit": 2}, headers=members.headers("kztv")
    ).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api_client.get(
        "/v1/search",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=members.headers("kztv"),
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    explained = api_client.get(
        "/v1/search", params={"q": "Azrbaycan"}, headers=members.headers("kztv")
    )
    assert explained.json()["terms"] == [{"term": "azrbaycan", "typo_variants": ["azerbaycan"]}]


def test_search_needs_a_token(api_client: TestClient) -> None:
    response = api_client.get("/v1/search", params={"q": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_episode_names_are_searched_and_the_hit_names_the_episode(
    api_client: TestClient, members: Members
) -> None:
    headers = members.headers("uztv")
    created = api_client.post(
        "/v1/titles",
        json={"kind": "serial", "original_title": "Dədə Qorqud", "status": "published"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    title_id = created.json()["id"]
    for number, name, localizations in (
        (1, "Bamsı Beyrək", {"az-Cyrl": {"title": "Бамсы Бејрәк"}}),
        (2, "Dəli Domrul", {"tr": {"title": "Deli Dumrul"}}),
    ):
        response = api_client.post(
            f"/v1/titles/{title_id}/episodes",
            json={"season": 1, "number": number, "name": name, "localizations": localizations},
            headers=headers,
        )
        assert response.status_code == 201, response.text
    episode_1 = api_client.get(f"/v1/titles/{title_id}/episodes", headers=headers).json()["items"][
        0
    ]

    def search(query: str) -> list[dict[str, Any]]:
        response = api_client.get(
            "/v1/search", params={"q": query}, headers=members.headers("kztv", "uploader")
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    for query in ("Bamsı", "bamsi", "Бамсы", "BEYREK"):
        (hit,) = search(query)
        assert hit["title"]["original_title"] == "Dədə Qorqud", query
        (episode,) = hit["matched_episodes"]
        assert episode["id"] == episode_1["id"]
        assert (episode["season"], episode["number"], episode["name"]) == (1, 1, "Bamsı Beyrək")
    (hit,) = search("Бамсы")
    assert {(n["language"], n["name"]) for n in hit["matched_episodes"][0]["matched_names"]} == {
        ("az-Cyrl", "Бамсы Бејрәк"),
        (None, "Bamsı Beyrək"),  # "bamsy" is one typo from "bamsi"
    }
    (hit,) = search("Dumrul")  # the Turkish name; "Domrul" is one typo away
    assert hit["matched_episodes"][0]["matched_names"] == [
        {"language": None, "name": "Dəli Domrul"},
        {"language": "tr", "name": "Deli Dumrul"},
    ]
    (hit,) = search("Deli")  # "dəli" folds to "deli" too
    assert [e["number"] for e in hit["matched_episodes"]] == [2]
    (hit,) = search("Qorqud")
    assert hit["matched_episodes"] == []


def test_licensable_now_filter_facet_and_rights(api_client: TestClient, members: Members) -> None:
    """A window over KZ now makes an Uzbek title licensable for kztv; an approval, licensed."""
    uz = members.headers("uztv", "rights_manager")
    ids = {}
    for name in ("Offered", "Withheld"):
        created = api_client.post(
            "/v1/titles",
            json={"kind": "film", "original_title": name},
            headers=members.headers("uztv", "editor"),
        )
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    now = datetime.now(UTC)
    window = api_client.post(
        f"/v1/titles/{ids['Offered']}/rights-windows",
        json={
            "territories": ["KZ"],
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=60)).isoformat(),
            "license_type": "free_exchange",
        },
        headers=uz,
    )
    assert window.status_code == 201, window.text
    kz = members.headers("kztv", "editor")

    def search(**params: Any) -> dict[str, Any]:
        response = api_client.get("/v1/search", params=params, headers=kz)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = search(sort="title")
    assert everything["facets"]["licensable_now"] == {"true": 1}
    rights = {h["title"]["original_title"]: h["rights"] for h in everything["items"]}
    assert rights == {"Offered": "licensable", "Withheld": "not_offered"}
    only = search(licensable_now=True)
    assert [h["title"]["original_title"] for h in only["items"]] == ["Offered"]
    assert only["total"] == 1
    # The owner sees its own titles as its own, never as licensable.
    mine = api_client.get("/v1/search", headers=members.headers("uztv")).json()
    assert {h["rights"] for h in mine["items"]} == {"yours"}
    assert mine["facets"]["licensable_now"] == {"true": 0}
    # Once a request is approved, the title is licensed.
    request = api_client.post(
        "/v1/license-requests",
        json={
            "title_id": ids["Offered"],
            "territories": ["KZ"],
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "license_type": "free_exchange",
        },
        headers=kz,
    )
    assert request.status_code == 201, request.text
    approved = api_client.post(
        f"/v1/license-requests/{request.json()['id']}/approve", json={}, headers=uz
    )
    assert approved.status_code == 201, approved.text
    after = {h["title"]["original_title"]: h["rights"] for h in search()["items"]}
    assert after["Offered"] == "licensed"
