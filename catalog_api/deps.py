"""Dependencies every router shares, as `Annotated` aliases (`SessionDep`, `CurrentUser`, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from pool_core.common.actor import API, Actor
from pool_core.db import Database
from pool_core.errors import AuthenticationFailed
from pool_core.models import User
from pool_core.roles import require_route
from pool_core.services.accounts import check_api_token, record_token_use
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage

# Refuses NUL and other C0 controls in free text parameters (PostgreSQL cannot store NUL).
SAFE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
MAX_PAGE = 200


@dataclass(frozen=True)
class ApiState:
    """The shared objects the app was built with."""

    settings: Settings
    db: Database
    storage: ObjectStorage


def get_state(request: Request) -> ApiState:
    """The app's shared objects."""
    state: ApiState = request.app.state.pool
    return state


# Methods that only read: their unit of work never writes, so it needs no write lock.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request, committed before the response is sent.

    Writing requests queue for SQLite's single writer at BEGIN (`Database.write_session`); a
    read-only request never upgrades to a write, so it needs no lock.
    """
    db = get_state(request).db
    unit_of_work = db.session if request.method in READ_METHODS else db.write_session
    with unit_of_work() as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A writing unit of work whatever the method (a GET that logs what it handed out)."""
    with get_state(request).db.write_session() as session:
        yield session


bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer jp_…`")

StateDep = Annotated[ApiState, Depends(get_state)]
# scope="function": the commit happens before the response, so a failed commit is an error
# response rather than a silently lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


def get_current_user(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user the bearer token belongs to, if their role may call this route.

    The route's action comes from the one roles table (`pool_core.roles.ROUTES`); a route
    missing from it is open to no role. Checked read-only; the token's last use is recorded
    (at most once a minute) in its own short transaction, so read-only requests stay read-only
    and a refused token writes nothing.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("send an API token as 'Authorization: Bearer <token>'")
    db = state.db
    with db.session() as session:
        check = check_api_token(session, token=credentials.credentials)
        # Loaded now so the detached user can still name its organization.
        _ = check.user.organization.code
    if check.use_due:
        _record_use(db, check.token_id)
    path = request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"
    require_route(check.user.role, request.method, path)
    return check.user


def _record_use(db: Database, token_id: int) -> None:
    # Runs before the request opens its own unit of work (a test checks the order for every
    # route), so queueing for the writer here cannot wait on this request itself.
    with db.write_session() as session:
        record_token_use(session, token_id=token_id)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_actor(user: CurrentUser, request: Request) -> Actor:
    """The current user as an audited actor on the API channel."""
    remote = request.client.host if request.client else None
    return Actor.for_user(user, channel=API, remote_addr=remote)


ActorDep = Annotated[Actor, Depends(get_actor)]

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next_cursor` of the previous page; omit for the first page.",
    ),
]
