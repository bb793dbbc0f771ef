"""Who is signed in, the session cookie, and CSRF checks.

The session cookie is HttpOnly and SameSite=Lax, and Secure whenever the request came over
TLS (directly, or through a trusted proxy that says so). Every form carries the session's
synchronizer token, htmx sends it as `X-CSRF-Token`, and a request whose `Origin` is another
site is refused before its token is even read.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response

from catalog_web.state import web_state
from pool_core.common.actor import WEB, Actor
from pool_core.errors import AuthenticationFailed, PermissionDenied
from pool_core.models import User
from pool_core.services.web_sessions import check_web_session, record_seen

SESSION_COOKIE = "jp_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The page needs a signed-in user; the handler redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class WebUser:
    """The signed-in user of this request, with their session's CSRF token."""

    user: User
    session_id: int
    csrf_token: str
    remote_addr: str

    @property
    def actor(self) -> Actor:
        """The user as an audited actor on the web channel."""
        return Actor.for_user(self.user, channel=WEB, remote_addr=self.remote_addr)


def client_addr(request: Request) -> str:
    """The client's address (uvicorn already applied trusted proxy headers)."""
    return request.client.host if request.client else ""


def optional_user(request: Request) -> WebUser | None:
    """The signed-in user, or None; read-only (the last-seen time is written once a minute)."""
    cached: WebUser | None = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    db = web_state(request).db
    try:
        with db.session() as session:
            check = check_web_session(session, cookie=cookie)
            _ = check.user.organization.code  # loaded now: the user outlives the session
    except AuthenticationFailed:
        return None
    if check.seen_due:
        with db.write_session() as session:
            record_seen(session, session_id=check.session_id)
    user = WebUser(check.user, check.session_id, check.csrf_token, client_addr(request))
    request.state.web_user = user
    return user


def require_user(request: Request) -> WebUser:
    """The signed-in user; anyone else is sent to the sign-in page and back here after."""
    user = optional_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return user


def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request sent from another site (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return
    host = urlsplit(source).netloc
    if host != request.headers.get("host", request.url.netloc):
        raise PermissionDenied("cross-site request refused")


def require_csrf(request: Request, user: WebUser, form_token: str | None) -> None:
    """Refuse a form post or htmx request that lacks this session's token."""
    check_same_origin(request)
    token = form_token or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
        raise PermissionDenied("the form expired or came from another site; reload the page")


def set_session_cookie(
    request: Request, response: Response, cookie: str, lifetime: timedelta
) -> None:
    """Send the session cookie with its flags."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def safe_next(path: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return quote(path, safe="/?=&%:;,+-_.~")


CurrentWebUser = Annotated[WebUser, Depends(require_user)]
OptionalWebUser = Annotated[WebUser | None, Depends(optional_user)]
