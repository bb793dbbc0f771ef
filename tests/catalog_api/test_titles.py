"""Titles and episodes over the API: CRUD, roles, isolation, audit, pagination."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import AuditEvent, ChangeEvent
from tests.fixtures.api import Members

FILM: dict[str, Any] = {
    "kind": "film",
    "original_title": "Көшпенділер",
    "original_language": "kk",
    "localizations": {
        "kk-cyrl": {"title": "Көшпенділер", "synopsis": "Тарихи фильм"},
        "en": {"title": "Nomad"},
    },
    "genres": ["History", "drama"],
    "keywords": ["steppe"],
    "production_year": 2005,
    "countries": ["kz"],
    "duration_seconds": 6720,
    "age_rating": "12+",
    "eidr": "10.5240/7791-8534-2C23-9030-8610-5",
    "isan": "ISAN 0000-0001-8947-0000-8-0000-0000-D",
    "contributors": [{"name": "Sergei Bodrov", "role": "director"}],
}


def create(
    client: TestClient, members: Members, org: str = "kztv", **overrides: Any
) -> dict[str, Any]:
    """Create a title as that organization's editor and return it."""
    response = client.post("/v1/titles", json={**FILM, **overrides}, headers=members.headers(org))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_normalises_and_validates(api_client: TestClient, members: Members) -> None:
    title = create(api_client, members)
    assert title["owner"] == "kztv"
    assert sorted(title["localizations"]) == ["en", "kk-Cyrl"]
    assert title["genres"] == ["drama", "history"]
    assert title["countries"] == ["KZ"]
    assert title["isan"] == "ISAN 0000-0001-8947-0000-8-0000-0000-D"
    fetched = api_client.get(f"/v1/titles/{title['id']}", headers=members.headers("uztv"))
    assert fetched.status_code == 200
    assert fetched.json() == title


def test_invalid_identifiers_and_codes_are_problems(
    api_client: TestClient, members: Members
) -> None:
    for field, value, needle in [
        ("eidr", "10.5240/7791-8534-2C23-9030-8610-6", "check character"),
        ("isan", "ISAN 0000-0001-8947-0000-9", "check character"),
        ("genres", ["telenovela-ish"], "controlled list"),
        ("localizations", {"kazakh!": {"title": "x"}}, "BCP 47"),
        ("countries", ["Kazakhstan"], "ISO 3166"),
    ]:
        response = api_client.post(
            "/v1/titles", json={**FILM, field: value}, headers=members.headers("kztv")
        )
        assert response.status_code == 422, field
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "urn:jointpool:problem:invalid-input"
        assert needle in problem["detail"], (field, problem)


def test_patch_changes_only_named_fields(api_client: TestClient, members: Members) -> None:
    title = create(api_client, members)
    response = api_client.patch(
        f"/v1/titles/{title['id']}",
        json={"production_year": 2006, "localizations": {"ru": {"title": "Кочевник"}}},
        headers=members.headers("kztv", "admin"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["production_year"] == 2006
    assert list(body["localizations"]) == ["ru"]
    assert body["eidr"] == FILM["eidr"]
    nulled = api_client.patch(
        f"/v1/titles/{title['id']}", json={"kind": None}, headers=members.headers("kztv")
    )
    assert nulled.status_code == 422


def test_owners_write_others_read(api_client: TestClient, members: Members) -> None:
    title = create(api_client, members)
    url = f"/v1/titles/{title['id']}"
    other = members.headers("uztv", "admin")
    assert api_client.patch(url, json={"production_year": 1999}, headers=other).status_code == 403
    assert api_client.delete(url, headers=other).status_code == 403
    for role in ("uploader", "rights_manager"):
        response = api_client.post("/v1/titles", json=FILM, headers=members.headers("kztv", role))
        assert response.status_code == 403, role
        assert response.json()["type"] == "urn:jointpool:problem:forbidden"


def test_drafts_are_invisible_to_other_members(api_client: TestClient, members: Members) -> None:
    draft = create(api_client, members, status="draft")
    url = f"/v1/titles/{draft['id']}"
    assert api_client.get(url, headers=members.headers("kztv", "uploader")).status_code == 200
    hidden = api_client.get(url, headers=members.headers("uztv"))
    assert hidden.status_code == 404
    assert api_client.patch(url, json={}, headers=members.headers("uztv")).status_code == 404
    listed = api_client.get("/v1/titles", headers=members.headers("uztv")).json()["items"]
    assert draft["id"] not in [t["id"] for t in listed]


def test_external_id_is_unique_per_organization(api_client: TestClient, members: Members) -> None:
    create(api_client, members, external_id="KZ-1")
    again = api_client.post(
        "/v1/titles", json={**FILM, "external_id": "KZ-1"}, headers=members.headers("kztv")
    )
    assert again.status_code == 409
    assert again.json()["type"] == "urn:jointpool:problem:already-exists"
    create(api_client, members, org="uztv", external_id="KZ-1")


def test_list_walks_pages_with_cursors(api_client: TestClient, members: Members) -> None:
    ids = {create(api_client, members, original_title=f"Title {n}")["id"] for n in range(5)}
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "owner": "kztv"}
    while True:
        page = api_client.get("/v1/titles", params=params, headers=members.headers("uztv")).json()
        seen += [t["id"] for t in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 5 and set(seen) == ids
    bogus = api_client.get(
        "/v1/titles", params={"cursor": "bm9wZQ"}, headers=members.headers("kztv")
    )
    assert bogus.status_code == 422


def test_episodes(api_client: TestClient, members: Members) -> None:
    serial = create(api_client, members, kind="serial", original_title="Dala")
    url = f"/v1/titles/{serial['id']}/episodes"
    headers = members.headers("kztv")
    for season, number in [(2, 1), (1, 2), (1, 1)]:
        response = api_client.post(
            url,
            json={"season": season, "number": number, "localizations": {"kk-Latn": {"title": "B"}}},
            headers=headers,
        )
        assert response.status_code == 201, response.text
    again = api_client.post(url, json={"season": 1, "number": 1, "name": "Pilot"}, headers=headers)
    assert again.json()["name"] == "Pilot"
    first = api_client.get(url, params={"limit": 2}, headers=members.headers("uztv")).json()
    assert [(e["season"], e["number"]) for e in first["items"]] == [(1, 1), (1, 2)]
    rest = api_client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=members.headers("uztv")
    ).json()
    assert [(e["season"], e["number"]) for e in rest["items"]] == [(2, 1)]
    assert rest["next_cursor"] is None
    denied = api_client.post(url, json={"number": 9}, headers=members.headers("uztv"))
    assert denied.status_code == 403


def test_every_write_is_audited_and_fed(
    api_client: TestClient, members: Members, database: Database
) -> None:
    title = create(api_client, members)
    headers = members.headers("kztv")
    api_client.patch(f"/v1/titles/{title['id']}", json={"age_rating": "16+"}, headers=headers)
    api_client.delete(f"/v1/titles/{title['id']}", headers=headers)
    assert api_client.get(f"/v1/titles/{title['id']}", headers=headers).status_code == 404
    with database.session() as session:
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.subject == f"title:{title['id']}")
        ).all()
        changes = session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.subject_id == title["id"])
            .order_by(ChangeEvent.id)
        ).all()
    assert [a.action for a in audits] == ["title.created", "title.updated", "title.deleted"]
    assert {a.user_id for a in audits} == {members.user_ids[("kztv", "editor")]}
    assert all(a.channel == "api" and a.remote_addr for a in audits)
    assert [c.kind for c in changes] == ["title.created", "title.updated", "title.deleted"]


def test_a_titles_page_shows_what_its_writes_returned(
    api_client: TestClient, members: Members
) -> None:
    # A title's page is read as a card (`read_title`), its writes answer from the ORM: both
    # must render the same title, sparse or full, draft (to its owner) or published.
    bare = {"kind": "news", "original_title": "Bare", "localizations": {"uz": {"title": "Yalang"}}}
    for body in (bare, FILM):
        for status in ("draft", "published"):
            created = api_client.post(
                "/v1/titles", json={**body, "status": status}, headers=members.headers("kztv")
            )
            assert created.status_code == 201, created.text
            url = f"/v1/titles/{created.json()['id']}"
            assert api_client.get(url, headers=members.headers("kztv")).json() == created.json()
            changed = api_client.patch(
                url, json={"keywords": ["changed"]}, headers=members.headers("kztv")
            )
            assert changed.status_code == 200, changed.text
            assert api_client.get(url, headers=members.headers("kztv")).json() == changed.json()
