"""Tokens over the API: shown once, hashed at rest, listed without secrets, revocable, expiring."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from catalog_api.deps import get_current_user, get_session, get_write_session
from pool_core.db import Database
from pool_core.models import ApiToken, AuditEvent, User, utcnow
from pool_core.security import hash_token
from tests.fixtures.api import Members, bearer


def test_missing_malformed_and_unknown_tokens(api_client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}, bearer("jp_not-a-real-token")):
        response = api_client.get("/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="jointpool"'


def test_token_lifecycle(api_client: TestClient, members: Members, database: Database) -> None:
    me = api_client.get("/v1/me", headers=members.headers("uztv", "rights_manager")).json()
    assert me["organization"] == "uztv" and me["role"] == "rights_manager"

    issued = api_client.post(
        "/v1/tokens", json={"name": "laptop", "expires_in_days": 7}, headers=members.headers("uztv")
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert api_client.get("/v1/me", headers=bearer(token)).status_code == 200
    with database.session() as session:
        stored = session.scalar(select(ApiToken).where(ApiToken.id == issued.json()["id"]))
        assert stored is not None
        assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    listed = api_client.get("/v1/tokens", headers=bearer(token)).json()["items"]
    assert all("token" not in t for t in listed)
    assert issued.json()["id"] in [t["id"] for t in listed]

    other = api_client.delete(f"/v1/tokens/{issued.json()['id']}", headers=members.headers("kztv"))
    assert other.status_code == 404
    revoked = api_client.delete(f"/v1/tokens/{issued.json()['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    after = api_client.get("/v1/me", headers=bearer(token))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    with database.session() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"token.created", "token.revoked"} <= actions


def test_expired_token_is_refused(
    api_client: TestClient, members: Members, database: Database
) -> None:
    token = members.token("kztv", "editor")
    with database.session() as session:
        record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert record is not None
        record.expires_at = utcnow() - timedelta(seconds=1)
    response = api_client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_admins_create_users_in_their_own_organization(
    api_client: TestClient, members: Members, database: Database
) -> None:
    body = {"username": "kztv-night-editor", "role": "editor"}
    denied = api_client.post("/v1/users", json=body, headers=members.headers("kztv", "editor"))
    assert denied.status_code == 403
    created = api_client.post("/v1/users", json=body, headers=members.headers("kztv", "admin"))
    assert created.status_code == 201, created.text
    assert created.json()["user"]["organization"] == "kztv"
    token = created.json()["api_token"]
    assert api_client.get("/v1/me", headers=bearer(token)).json()["username"] == (
        "kztv-night-editor"
    )
    again = api_client.post("/v1/users", json=body, headers=members.headers("kztv", "admin"))
    assert again.status_code == 409
    with database.session() as session:
        user = session.scalar(select(User).where(User.username == "kztv-night-editor"))
        assert user is not None and user.org_id == members.org_ids["kztv"]


def test_token_use_is_recorded_at_most_once_a_minute(
    api_client: TestClient, members: Members, database: Database
) -> None:
    token = members.token("kztv", "editor")

    def last_used() -> object:
        with database.session() as session:
            record = session.scalar(
                select(ApiToken).where(ApiToken.token_hash == hash_token(token))
            )
            assert record is not None
            return record.last_used_at

    assert last_used() is None
    assert api_client.get("/v1/me", headers=bearer(token)).status_code == 200
    first = last_used()
    assert first is not None
    # Within the resolution further reads leave the row alone (reads stay read-only)...
    assert api_client.get("/v1/me", headers=bearer(token)).status_code == 200
    assert last_used() == first
    # ...and once it is a minute old, the next request stamps it again.
    with database.session() as session:
        record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert record is not None
        record.last_used_at = utcnow() - timedelta(minutes=2)
    assert api_client.get("/v1/me", headers=bearer(token)).status_code == 200
    stamped = last_used()
    assert isinstance(stamped, datetime) and stamped > utcnow() - timedelta(minutes=1)


def test_every_route_authenticates_before_opening_its_unit_of_work(api_app: FastAPI) -> None:
    # Recording a token's use may write; on SQLite a writing request's own unit of work holds
    # the write lock, so authenticating after opening it would wait on itself.
    def calls(dependant: Dependant) -> list[object]:
        found: list[object] = []
        for sub in dependant.dependencies:
            found += [*calls(sub), sub.call]
        return found

    def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            # FastAPI 0.165 keeps included routers as lazy wrappers around the original.
            elif (included := getattr(route, "original_router", None)) is not None:
                yield from api_routes(included.routes)

    checked = 0
    for route in api_routes(api_app.routes):
        order = calls(route.dependant)
        for opener in (get_session, get_write_session):
            if opener in order and get_current_user in order:
                checked += 1
                assert order.index(get_current_user) < order.index(opener), route.path
    assert checked > 20


def test_routes_that_read_in_one_hop_authenticate_like_every_route(
    api_client: TestClient, members: Members, database: Database
) -> None:
    # Search and a title's page authenticate on their own worker thread (`as_viewer`), not
    # through `CurrentUser`: the same checks, the token's use recorded, refusals alike.
    token = members.token("kztv", "editor")
    paths = {"/v1/search?q=anything&facets=false": 200, f"/v1/titles/{uuid.uuid4()}": 404}
    for path, status in paths.items():
        assert api_client.get(path, headers=bearer(token)).status_code == status
    with database.session() as session:
        record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert record is not None and record.last_used_at is not None
        record.revoked_at = utcnow()
    for path in paths:
        refused = api_client.get(path, headers=bearer(token))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        assert api_client.get(path).status_code == 401
