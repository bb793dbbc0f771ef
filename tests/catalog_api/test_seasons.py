"""Seasons over the API: create, list with counts, auto-creation, filter, roles, audit, errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import AuditEvent, ChangeEvent, Episode, Season
from tests.catalog_api.test_titles import create
from tests.fixtures.api import Members


def serial(client: TestClient, members: Members, **overrides: Any) -> str:
    """Create a serial owned by kztv and return its id."""
    title = create(client, members, kind="serial", original_title="Dala", **overrides)
    title_id: str = title["id"]
    return title_id


def add_episode(
    client: TestClient, members: Members, title_id: str, season: int, number: int
) -> None:
    """Deliver an episode as kztv's editor."""
    response = client.post(
        f"/v1/titles/{title_id}/episodes",
        json={"season": season, "number": number},
        headers=members.headers("kztv"),
    )
    assert response.status_code == 201, response.text


def seasons(client: TestClient, members: Members, title_id: str, org: str = "kztv") -> list[Any]:
    """Every season of a title as (number, name, episode_count), walking all pages."""
    found: list[Any] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = client.get(
            f"/v1/titles/{title_id}/seasons", params=params, headers=members.headers(org)
        )
        assert response.status_code == 200, response.text
        page = response.json()
        found += [(s["number"], s["name"], s["episode_count"]) for s in page["items"]]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def test_put_creates_then_renames(api_client: TestClient, members: Members) -> None:
    title_id = serial(api_client, members)
    url = f"/v1/titles/{title_id}/seasons/2"
    created = api_client.put(url, json={"name": " Köktem "}, headers=members.headers("kztv"))
    assert created.status_code == 201, created.text
    assert created.json() == {
        "title_id": title_id,
        "number": 2,
        "name": "Köktem",
        "episode_count": 0,
    }
    renamed = api_client.put(url, json={"name": "Жаз"}, headers=members.headers("kztv", "admin"))
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Жаз"
    assert seasons(api_client, members, title_id) == [(2, "Жаз", 0)]


def test_list_orders_by_number_with_episode_counts(
    api_client: TestClient, members: Members
) -> None:
    title_id = serial(api_client, members)
    for number, name in [(3, "Three"), (1, "One"), (2, "Two"), (5, "Empty")]:
        response = api_client.put(
            f"/v1/titles/{title_id}/seasons/{number}",
            json={"name": name},
            headers=members.headers("kztv"),
        )
        assert response.status_code == 201, response.text
    for season, number in [(1, 1), (1, 2), (1, 3), (3, 1), (2, 1), (2, 2), (0, 7)]:
        add_episode(api_client, members, title_id, season, number)
    expected = [(1, "One", 3), (2, "Two", 2), (3, "Three", 1), (5, "Empty", 0)]
    # Pages of two, read by another member: the title is published.
    assert seasons(api_client, members, title_id, org="uztv") == expected
    # Not JSON; two values where one is expected; a number that would overflow the driver.
    for cursor in ("bm9wZQ", "WyJhIiwgImIiXQ", "WyI5OTk5OTk5OTk5OTk5OTk5OTk5OSJd"):
        bogus = api_client.get(
            f"/v1/titles/{title_id}/seasons",
            params={"cursor": cursor},
            headers=members.headers("kztv"),
        )
        assert bogus.status_code == 422, cursor
        assert bogus.headers["content-type"] == "application/problem+json"


def test_an_episode_creates_its_season(
    api_client: TestClient, members: Members, database: Database
) -> None:
    title_id = serial(api_client, members)
    add_episode(api_client, members, title_id, 4, 1)
    add_episode(api_client, members, title_id, 4, 2)
    add_episode(api_client, members, title_id, 0, 1)
    assert seasons(api_client, members, title_id) == [(4, "", 2)]
    with database.session() as session:
        rows = session.scalars(select(Season)).all()
        created = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "season.created")
        ).all()
    # One row for season 4, none for "no season" (0), created once though two episodes came.
    assert [(str(r.title_id), r.number) for r in rows] == [(title_id, 4)]
    assert created == ["season.created"]


def test_seasons_of_older_episodes_are_listed(
    api_client: TestClient, members: Members, database: Database
) -> None:
    title_id = serial(api_client, members)
    add_episode(api_client, members, title_id, 2, 1)
    with database.write_session() as session:
        # As stored before seasons were rows: an episode whose season has none.
        for season in session.scalars(select(Season)):
            session.delete(season)
    assert seasons(api_client, members, title_id) == [(2, "", 1)]
    named = api_client.put(
        f"/v1/titles/{title_id}/seasons/2", json={"name": "Two"}, headers=members.headers("kztv")
    )
    assert named.status_code == 201
    assert named.json()["episode_count"] == 1
    assert seasons(api_client, members, title_id) == [(2, "Two", 1)]


def test_episodes_filter_by_season(api_client: TestClient, members: Members) -> None:
    title_id = serial(api_client, members)
    for season, number in [(1, 1), (2, 3), (2, 1), (2, 2), (0, 1)]:
        add_episode(api_client, members, title_id, season, number)
    url = f"/v1/titles/{title_id}/episodes"
    headers = members.headers("uztv")
    first = api_client.get(url, params={"season": 2, "limit": 2}, headers=headers).json()
    assert [(e["season"], e["number"]) for e in first["items"]] == [(2, 1), (2, 2)]
    rest = api_client.get(
        url, params={"season": 2, "limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [(e["season"], e["number"]) for e in rest["items"]] == [(2, 3)]
    assert rest["next_cursor"] is None
    unseasoned = api_client.get(url, params={"season": 0}, headers=headers).json()
    assert [(e["season"], e["number"]) for e in unseasoned["items"]] == [(0, 1)]
    assert api_client.get(url, params={"season": 9}, headers=headers).json()["items"] == []
    everything = api_client.get(url, headers=headers).json()["items"]
    assert len(everything) == 5
    # A well-formed cursor holding words instead of numbers is refused, not a server error.
    words = api_client.get(url, params={"cursor": "WyJhIiwgImIiXQ"}, headers=headers)
    assert words.status_code == 422
    for bad in (-1, 1001, "two"):
        response = api_client.get(url, params={"season": bad}, headers=headers)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"


def test_only_the_owners_writers_may_write(api_client: TestClient, members: Members) -> None:
    title_id = serial(api_client, members)
    url = f"/v1/titles/{title_id}/seasons/1"
    assert (
        api_client.put(url, json={"name": "One"}, headers=members.headers("kztv")).status_code
        == 201
    )
    for org, role in [
        ("uztv", "admin"),
        ("uztv", "editor"),
        ("kztv", "uploader"),
        ("kztv", "rights_manager"),
    ]:
        put = api_client.put(url, json={"name": "Hijacked"}, headers=members.headers(org, role))
        assert put.status_code == 403, (org, role)
        assert put.json()["type"] == "urn:jointpool:problem:forbidden"
        assert api_client.delete(url, headers=members.headers(org, role)).status_code == 403
    # Readers of other organizations see the published title's seasons, unchanged.
    assert seasons(api_client, members, title_id, org="uztv") == [(1, "One", 0)]


def test_drafts_are_invisible_to_other_members(api_client: TestClient, members: Members) -> None:
    title_id = serial(api_client, members, status="draft")
    url = f"/v1/titles/{title_id}/seasons"
    assert api_client.put(f"{url}/1", json={}, headers=members.headers("kztv")).status_code == 201
    assert seasons(api_client, members, title_id) == [(1, "", 0)]
    other = members.headers("uztv", "admin")
    for response in (
        api_client.get(url, headers=other),
        api_client.put(f"{url}/1", json={"name": "x"}, headers=other),
        api_client.delete(f"{url}/1", headers=other),
        api_client.get(f"/v1/titles/{title_id}/episodes", params={"season": 1}, headers=other),
    ):
        assert response.status_code == 404, response.request.method
        assert response.headers["content-type"] == "application/problem+json"


def test_delete_is_refused_while_episodes_remain(
    api_client: TestClient, members: Members, database: Database
) -> None:
    title_id = serial(api_client, members)
    add_episode(api_client, members, title_id, 1, 1)
    headers = members.headers("kztv")
    refused = api_client.delete(f"/v1/titles/{title_id}/seasons/1", headers=headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:jointpool:problem:conflict"
    assert "1 episode" in refused.json()["detail"]
    assert seasons(api_client, members, title_id) == [(1, "", 1)]
    with database.session() as session:
        assert session.scalar(select(Episode.number).where(Episode.season_number == 1)) == 1
    missing = api_client.delete(f"/v1/titles/{title_id}/seasons/2", headers=headers)
    assert missing.status_code == 404
    assert (
        api_client.put(f"/v1/titles/{title_id}/seasons/2", json={}, headers=headers).status_code
        == 201
    )
    deleted = api_client.delete(f"/v1/titles/{title_id}/seasons/2", headers=headers)
    assert deleted.status_code == 204
    assert seasons(api_client, members, title_id) == [(1, "", 1)]
    # Deleting the whole title takes its seasons and episodes along.
    assert api_client.delete(f"/v1/titles/{title_id}", headers=headers).status_code == 204
    with database.session() as session:
        assert session.scalars(select(Season)).all() == []
        assert session.scalars(select(Episode)).all() == []


def test_writes_are_audited_and_fed(
    api_client: TestClient, members: Members, database: Database
) -> None:
    title_id = serial(api_client, members)
    url = f"/v1/titles/{title_id}/seasons/3"
    headers = members.headers("kztv")
    api_client.put(url, json={"name": "Three"}, headers=headers)
    api_client.put(url, json={"name": "Third"}, headers=headers)
    assert api_client.delete(url, headers=headers).status_code == 204
    with database.session() as session:
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("season.%")).order_by(AuditEvent.id)
        ).all()
        changes = session.scalars(
            select(ChangeEvent).where(ChangeEvent.subject_type == "season").order_by(ChangeEvent.id)
        ).all()
    assert [a.action for a in audits] == ["season.created", "season.updated", "season.deleted"]
    assert {a.user_id for a in audits} == {members.user_ids[("kztv", "editor")]}
    assert all(a.channel == "api" and a.remote_addr for a in audits)
    assert len({a.subject for a in audits}) == 1 and audits[0].subject.startswith("season:")
    assert [a.detail for a in audits][1] == {"title_id": title_id, "number": 3, "name": "Third"}
    assert [c.kind for c in changes] == ["season.created", "season.updated", "season.deleted"]
    assert all(c.data == {"title_id": title_id, "number": 3} for c in changes)
    assert {c.org_id for c in changes} == {members.org_ids["kztv"]}


def test_invalid_input_is_a_problem(api_client: TestClient, members: Members) -> None:
    title_id = serial(api_client, members)
    headers = members.headers("kztv")
    base = f"/v1/titles/{title_id}/seasons"
    for number in ("0", "1001", "-1", "two"):
        for response in (
            api_client.put(f"{base}/{number}", json={"name": "x"}, headers=headers),
            api_client.delete(f"{base}/{number}", headers=headers),
        ):
            assert response.status_code == 422, (number, response.request.method)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "urn:jointpool:problem:invalid-input"
    for body in ({"name": "x" * 513}, {"name": "bad\x00name"}, {"name": None}, []):
        response = api_client.put(f"{base}/1", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        api_client.put(f"{base}/1000", json={"name": "x" * 512}, headers=headers).status_code == 201
    )
    assert seasons(api_client, members, title_id) == [(1000, "x" * 512, 0)]
