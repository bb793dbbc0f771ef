"""Dependencies every router shares, as `Annotated` aliases (`SessionDep`, `CurrentUser`, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

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

T = TypeVar("T")


@dataclass(frozen=True)
class ApiState:
    """The shared objects the app was built with."""

    settings: Settings
    db: Database
    storage: ObjectStorage


# Dependencies that neither block nor touch the database are `async def`: FastAPI runs a sync
# dependency on a worker thread, one more trip through the thread pool per request. Alone this
# did not measurably speed up a route (`/v1/organization`, A/B over HTTP); folding a read
# route's hops into one (`as_viewer`) did.


def app_state(request: Request) -> ApiState:
    """The app's shared objects (set once by `create_app`), typed."""
    state: ApiState = request.app.state.pool
    return state


async def get_state(request: Request) -> ApiState:
    """The app's shared objects, as a dependency."""
    return app_state(request)


# Methods that only read: their unit of work never writes, so it needs no write lock.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request, committed before the response is sent.

    Writing requests queue for SQLite's single writer at BEGIN (`Database.write_session`), on
    a worker thread since that may wait; a read-only request never upgrades to a write, so it
    needs no lock, and its session opens here without a thread hop (a session touches the
    database only when first used, on the endpoint's thread). The commit or rollback runs on
    a worker thread, shielded so a client that goes away cannot leave the unit of work open.
    """
    db = app_state(request).db
    if request.method in READ_METHODS:
        unit_of_work = db.session()
        session = unit_of_work.__enter__()
    else:
        unit_of_work = db.write_session()
        session = await run_in_threadpool(unit_of_work.__enter__)
    try:
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(unit_of_work.__exit__, type(exc), exc, exc.__traceback__)
        raise
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(unit_of_work.__exit__, None, None, None)


def get_write_session(request: Request) -> Iterator[Session]:
    """A writing unit of work whatever the method (a GET that logs what it handed out)."""
    with app_state(request).db.write_session() as session:
        yield session


bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer jp_…`")

StateDep = Annotated[ApiState, Depends(get_state)]
# scope="function": the commit happens before the response, so a failed commit is an error
# response rather than a silently lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticate(
    db: Database, credentials: HTTPAuthorizationCredentials | None, *, method: str, path: str
) -> User:
    """The user the bearer token belongs to, if their role may call `method` on `path`.

    The route's action comes from the one roles table (`pool_core.roles.ROUTES`); a route
    missing from it is open to no role. Checked read-only; the token's last use is recorded
    (at most once a minute) in its own short transaction, so read-only requests stay read-only
    and a refused token writes nothing. Blocking: call it on a worker thread.
    """
    with db.session() as session:
        return _authenticated(db, session, credentials, method=method, path=path)


def _authenticated(
    db: Database,
    session: Session,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    method: str,
    path: str,
) -> User:
    """`authenticate` inside a read-only unit of work the caller holds open.

    Recording the token's use writes in its own short transaction meanwhile; a reader does
    not block it on either database.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("send an API token as 'Authorization: Bearer <token>'")
    # The user's organization comes loaded with it, so a detached user can still name it.
    check = check_api_token(session, token=credentials.credentials)
    if check.use_due:
        _record_use(db, check.token_id)
    require_route(check.user.role, method, path)
    return check.user


def _route_path(request: Request) -> str:
    return request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"


def get_current_user(request: Request, state: StateDep, credentials: BearerCredentials) -> User:
    """The authenticated caller of this route (`authenticate`)."""
    return authenticate(state.db, credentials, method=request.method, path=_route_path(request))


def _record_use(db: Database, token_id: int) -> None:
    # Runs before the request opens its own unit of work (a test checks the order for every
    # route), or inside one that is read-only (`as_viewer`), so queueing for the writer here
    # cannot wait on this request itself.
    with db.write_session() as session:
        record_token_use(session, token_id=token_id)


def as_viewer(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    work: Callable[[Session, User], T],
) -> Callable[[], T]:
    """A read-only route's work, authenticated and in its own unit of work, as one blocking call.

    For the routes an editor calls on every keystroke (search, a title's page): run on one
    worker thread, it replaces the three thread hops and four dependencies of `CurrentUser`
    plus `SessionDep`, which cost those requests more than their SQL (`bench.search`). The
    token is checked first, within the unit of work: it is read-only, so recording the
    token's use cannot wait on it.
    """
    db = app_state(request).db
    method, path = request.method, _route_path(request)
    if method not in READ_METHODS:
        raise RuntimeError("as_viewer serves read-only routes")

    def run() -> T:
        # The token is checked inside the route's own read-only unit of work: one session
        # less per request, which on PostgreSQL is three round trips (the pool's ping, BEGIN,
        # COMMIT; about 0.6 ms each here).
        with db.session() as session:
            user = _authenticated(db, session, credentials, method=method, path=path)
            return work(session, user)

    return run


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_actor(user: CurrentUser, request: Request) -> Actor:
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
