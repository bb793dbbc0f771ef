"""The caller, their API tokens, and user creation by organization admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from catalog_api.deps import ActorDep, CurrentUser, Limit, SessionDep
from catalog_api.schemas.auth import MeOut, NewTokenOut, NewUserOut, TokenIn, TokenOut, UserIn
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from pool_core.common.actor import audit_as
from pool_core.errors import PermissionDenied
from pool_core.models import ApiToken, Organization, Role
from pool_core.services.accounts import create_api_token, create_user, revoke_api_token

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    """Who the token belongs to."""
    return MeOut.from_model(user)


@router.get("/tokens", response_model=Page[TokenOut])
def list_tokens(
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,10}$", description="Last id seen.")
    ] = None,
) -> Page[TokenOut]:
    """Your API tokens (without their secrets), oldest first."""
    stmt = select(ApiToken).where(ApiToken.user_id == user.id)
    if cursor:
        stmt = stmt.where(ApiToken.id > int(cursor))
    tokens = list(session.scalars(stmt.order_by(ApiToken.id).limit(limit + 1)))
    more = len(tokens) > limit
    tokens = tokens[:limit]
    return Page[TokenOut](
        items=[TokenOut.from_model(t) for t in tokens],
        next_cursor=str(tokens[-1].id) if more else None,
    )


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def issue_token(
    body: TokenIn, user: CurrentUser, actor: ActorDep, session: SessionDep
) -> NewTokenOut:
    """Issue yourself a new token; the secret is in this response only."""
    record, token = create_api_token(
        session, user=user, name=body.name, ttl=timedelta(days=body.expires_in_days)
    )
    audit_as(
        session,
        actor,
        action="token.created",
        subject=f"token:{record.id}",
    )
    return NewTokenOut(**TokenOut.from_model(record).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: CurrentUser,
    actor: ActorDep,
    session: SessionDep,
) -> Response:
    """Revoke one of your tokens at once."""
    revoke_api_token(session, token_id=token_id, user=user)
    audit_as(
        session,
        actor,
        action="token.revoked",
        subject=f"token:{token_id}",
    )
    return Response(status_code=204)


@router.post("/users", response_model=NewUserOut, status_code=201)
def add_user(body: UserIn, actor: ActorDep, session: SessionDep) -> NewUserOut:
    """Create a user in your organization (admins only); secrets are shown once."""
    if actor.role is not Role.ADMIN:
        raise PermissionDenied("only an organization admin may create users")
    org = session.get(Organization, actor.org_id)
    assert org is not None
    created = create_user(
        session, org=org, username=body.username, role=body.role, display_name=body.display_name
    )
    audit_as(
        session,
        actor,
        action="user.created",
        subject=f"user:{created.user.username}",
        detail={"role": str(created.user.role)},
    )
    return NewUserOut(
        user=MeOut.from_model(created.user),
        api_token=created.api_token,
        ftp_password=created.ftp_password,
    )
