"""Offboarding over HTTP: admins disable users and revoke any token of their organization;
tokens live at most the configured cap; user names of other members cannot be probed."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import ApiToken, User, utcnow
from pool_core.security import hash_token
from tests.fixtures.api import Members, bearer


def test_names_of_other_members_cannot_be_probed(api_client: TestClient, members: Members) -> None:
    # uztv's admin asks for a name kztv uses and for one nobody uses: the answers must be
    # the same, so the first tells nothing about kztv. (Before the fix: 409 "user
    # 'kztv-editor' already exists" against 201 Created.)
    admin = members.headers("uztv", "admin")
    taken = api_client.post(
        "/v1/users", json={"username": "kztv-editor", "role": "editor"}, headers=admin
    )
    free = api_client.post(
        "/v1/users", json={"username": "kztv-nobody", "role": "editor"}, headers=admin
    )
    assert (taken.status_code, taken.json()) == (free.status_code, free.json())
    assert taken.status_code == 422
    assert "kztv-editor" not in taken.text
    # A name in the admin's own namespace that is taken is a plain conflict naming nobody.
    own = api_client.post(
        "/v1/users", json={"username": "uztv-editor", "role": "editor"}, headers=admin
    )
    assert own.status_code == 409
    assert own.json()["detail"] == "username 'uztv-editor' is not available; choose another"


def test_admin_disables_a_user_and_every_token_of_theirs_stops(
    api_client: TestClient, members: Members, database: Database
) -> None:
    victim_id = members.user_ids[("kztv", "editor")]
    first = members.token("kztv", "editor")
    second = api_client.post("/v1/tokens", json={"name": "laptop"}, headers=bearer(first))
    assert second.status_code == 201
    # Not an admin: refused. Another member's admin: the user does not exist for them.
    refused = api_client.post(
        f"/v1/users/{victim_id}/disable", headers=members.headers("kztv", "rights_manager")
    )
    assert refused.status_code == 403
    foreign = api_client.post(
        f"/v1/users/{victim_id}/disable", headers=members.headers("uztv", "admin")
    )
    assert foreign.status_code == 404
    assert api_client.get("/v1/me", headers=bearer(first)).status_code == 200

    done = api_client.post(
        f"/v1/users/{victim_id}/disable", headers=members.headers("kztv", "admin")
    )
    assert done.status_code == 200, done.text
    assert done.json()["tokens_revoked"] == 2
    for token in (first, second.json()["token"]):
        assert api_client.get("/v1/me", headers=bearer(token)).status_code == 401
    with database.session() as session:
        user = session.get(User, victim_id)
        assert user is not None and user.disabled
    admin_id = members.user_ids[("kztv", "admin")]
    myself = api_client.post(
        f"/v1/users/{admin_id}/disable", headers=members.headers("kztv", "admin")
    )
    assert myself.status_code == 422


def test_admin_revokes_any_token_of_their_organization_only(
    api_client: TestClient, members: Members
) -> None:
    editor = members.token("kztv", "editor")
    editor_id = members.user_ids[("kztv", "editor")]
    listed = api_client.get(
        f"/v1/users/{editor_id}/tokens", headers=members.headers("kztv", "admin")
    )
    assert listed.status_code == 200
    (token_id,) = [t["id"] for t in listed.json()["items"]]
    # The token list of another member's user is not theirs to see; nor is it for non-admins.
    assert (
        api_client.get(
            f"/v1/users/{editor_id}/tokens", headers=members.headers("uztv", "admin")
        ).status_code
        == 404
    )
    assert (
        api_client.get(
            f"/v1/users/{editor_id}/tokens", headers=members.headers("kztv", "uploader")
        ).status_code
        == 403
    )
    # Another member's admin and a colleague who is not an admin cannot revoke it.
    for headers in (members.headers("uztv", "admin"), members.headers("kztv", "rights_manager")):
        assert api_client.delete(f"/v1/tokens/{token_id}", headers=headers).status_code == 404
    assert api_client.get("/v1/me", headers=bearer(editor)).status_code == 200
    revoked = api_client.delete(f"/v1/tokens/{token_id}", headers=members.headers("kztv", "admin"))
    assert revoked.status_code == 204
    after = api_client.get("/v1/me", headers=bearer(editor))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]


def test_token_lifetime_is_capped_by_the_setting(
    api_client: TestClient, members: Members, database: Database
) -> None:
    headers = members.headers("kztv", "editor")
    for days in (91, 365, 730):
        refused = api_client.post("/v1/tokens", json={"expires_in_days": days}, headers=headers)
        assert refused.status_code == 422, days
        assert "at most 90 days" in refused.json()["detail"]
    default = api_client.post("/v1/tokens", json={"name": "default"}, headers=headers)
    assert default.status_code == 201
    longest = utcnow() + timedelta(days=90)
    issued_at = default.json()["expires_at"]
    assert issued_at is not None
    # The first token every user gets is capped too.
    with database.session() as session:
        initial = session.scalar(
            select(ApiToken).where(
                ApiToken.token_hash == hash_token(members.token("kztv", "editor"))
            )
        )
        assert initial is not None and initial.expires_at is not None
        assert initial.expires_at <= longest
        expires = [
            t.expires_at
            for t in session.scalars(select(ApiToken).where(ApiToken.name == "default"))
        ]
    assert expires and all(e is not None and e <= longest for e in expires)
    assert all(e is not None and e > longest - timedelta(minutes=5) for e in expires)
