"""Roles over HTTP: every route for every role, from the one table in pool_core.roles."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pool_core.catalog import inputs as catalog
from pool_core.licensing import rights as licensing
from pool_core.models import Role
from pool_core.roles import ROUTES, Action, may, roles_holding, route_of
from pool_core.services import webhooks
from tests.fixtures.api import Members

PROTECTED = sorted(key for key, action in ROUTES.items() if action is not None)
# Values for path parameters that name nothing: an allowed role then meets a 404 or 422 from
# the service, a refused one the 403 of the roles table before anything is looked up.
PARAMS = {"title_id": str(uuid.uuid4()), "asset_id": str(uuid.uuid4()), "number": "1"}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "2147483000"), path)


def test_every_route_is_in_the_roles_table(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    served = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert served == set(ROUTES), (
        f"routes without a row in pool_core.roles.ROUTES: {sorted(served - set(ROUTES))}; "
        f"rows without a route: {sorted(set(ROUTES) - served)}"
    )


def test_each_route_matches_only_its_own_row() -> None:
    for method, path in ROUTES:
        assert route_of(method, _url(path)) == (method, path)


def test_the_services_own_checks_agree_with_the_table() -> None:
    assert roles_holding(Action.CATALOG_WRITE) == catalog.CATALOG_WRITERS
    assert roles_holding(Action.SCREEN) == catalog.SCREENERS
    assert roles_holding(Action.RIGHTS_MANAGE) == licensing.RIGHTS_ROLES
    assert roles_holding(Action.LICENSE_REQUEST) == licensing.REQUEST_ROLES
    assert roles_holding(Action.WEBHOOKS) == webhooks.MANAGE_ROLES
    assert roles_holding(Action.MANAGE_USERS) == {Role.ADMIN}


@pytest.mark.parametrize("role", [role.value for role in Role])
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_route_follows_the_roles_table(
    api_client: TestClient, members: Members, method: str, path: str, role: str
) -> None:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = api_client.request(
        method, _url(path), json=body, headers=members.headers("kztv", role)
    )
    action = ROUTES[(method, path)]
    assert action is not None
    refused_by_role = response.status_code == 403 and f"the {role} role may not" in response.text
    if may(role, action):
        assert not refused_by_role, response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "urn:jointpool:problem:forbidden"
        assert refused_by_role, response.text


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_route_needs_a_token(api_client: TestClient, method: str, path: str) -> None:
    assert api_client.request(method, _url(path)).status_code == 401
