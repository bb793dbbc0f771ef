"""The caller, their API tokens, and user creation by organization admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog_api.deps import ActorDep, CurrentUser, Limit, SessionDep, StateDep
from catalog_api.schemas.auth import (
    DisabledUserOut,
    MeOut,
    NewTokenOut,
    NewUserOut,
    TokenIn,
    TokenOut,
    UserIn,
)
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from pool_core.common.actor import Actor, audit_as
from pool_core.errors import InvalidInput, PermissionDenied
from pool_core.models import ApiToken, Organization, Role
from pool_core.services.accounts import (
    create_api_token,
    create_member_user,
    disable_user,
    get_member_user,
    revoke_api_token,
)

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    """Who the token belongs to."""
    return MeOut.from_model(user)


TokenCursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,10}$", description="Last id seen.")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role is not Role.ADMIN:
        raise PermissionDenied(f"only an organization admin may {what}")


@router.get("/tokens", response_model=Page[TokenOut])
def list_tokens(
    user: CurrentUser, session: SessionDep, limit: Limit = 50, cursor: TokenCursor = None
) -> Page[TokenOut]:
    """Your API tokens (without their secrets), oldest first."""
    return _token_page(session, user_id=user.id, limit=limit, cursor=cursor)


@router.get("/users/{user_id}/tokens", response_model=Page[TokenOut])
def list_user_tokens(
    user_id: UserId,
    actor: ActorDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: TokenCursor = None,
) -> Page[TokenOut]:
    """A user's API tokens, for their organization's admin (revoke with DELETE /v1/tokens)."""
    _require_admin(actor, "list another user's tokens")
    member = get_member_user(session, org_id=actor.org_id, user_id=user_id)
    return _token_page(session, user_id=member.id, limit=limit, cursor=cursor)


def _token_page(
    session: Session, *, user_id: int, limit: int, cursor: str | None
) -> Page[TokenOut]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id)
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
    body: TokenIn, user: CurrentUser, actor: ActorDep, session: SessionDep, state: StateDep
) -> NewTokenOut:
    """Issue yourself a new token; the secret is in this response only.

    Tokens live at most `JOINTPOOL_API_TOKEN_MAX_DAYS` (90 by default), which is also the
    default; asking for longer is refused with 422.
    """
    max_ttl = timedelta(days=state.settings.api_token_max_days)
    ttl = max_ttl if body.expires_in_days is None else timedelta(days=body.expires_in_days)
    record, token = create_api_token(session, user=user, name=body.name, ttl=ttl, max_ttl=max_ttl)
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
    actor: ActorDep,
    session: SessionDep,
) -> Response:
    """Revoke one of your tokens at once; an admin may revoke any token of the organization."""
    revoke_api_token(session, token_id=token_id, actor=actor)
    audit_as(
        session,
        actor,
        action="token.revoked",
        subject=f"token:{token_id}",
    )
    return Response(status_code=204)


@router.post("/users", response_model=NewUserOut, status_code=201)
def add_user(body: UserIn, actor: ActorDep, session: SessionDep, state: StateDep) -> NewUserOut:
    """Create a user in your organization (admins only); secrets are shown once.

    The username must start with your organization's code and a dash (`kztv-night-ops`); a
    name that is taken answers 409 without saying by whom.
    """
    _require_admin(actor, "create users")
    org = session.get(Organization, actor.org_id)
    assert org is not None
    created = create_member_user(
        session,
        org=org,
        username=body.username,
        role=body.role,
        display_name=body.display_name,
        token_ttl=timedelta(days=state.settings.api_token_max_days),
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


@router.post("/users/{user_id}/disable", response_model=DisabledUserOut)
def disable_member(user_id: UserId, actor: ActorDep, session: SessionDep) -> DisabledUserOut:
    """Disable a user of your organization (admins only): their tokens are revoked and their
    FTP logins refused at once; their live FTP sessions end within seconds."""
    _require_admin(actor, "disable users")
    member = get_member_user(session, org_id=actor.org_id, user_id=user_id)
    if member.id == actor.user_id:
        raise InvalidInput("you cannot disable yourself; ask another admin")
    revoked = disable_user(session, user=member)
    audit_as(
        session,
        actor,
        action="user.disabled",
        subject=f"user:{member.username}",
        detail={"tokens_revoked": revoked},
    )
    return DisabledUserOut(user=MeOut.from_model(member), tokens_revoked=revoked)
