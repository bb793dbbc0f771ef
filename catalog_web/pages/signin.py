"""Sign in, sign out and the language switcher."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog_web import i18n
from catalog_web.auth import (
    SESSION_COOKIE,
    CurrentWebUser,
    check_same_origin,
    clear_session_cookie,
    client_addr,
    optional_user,
    require_csrf,
    safe_next,
    set_session_cookie,
)
from catalog_web.pages.common import web_router
from catalog_web.render import render
from catalog_web.state import WebState, web_state
from pool_core.common.actor import WEB
from pool_core.errors import AuthenticationFailed, PermissionDenied
from pool_core.login_guard import (
    account_under_attack,
    count_failure,
    count_success,
    refused,
)
from pool_core.services.audit import record_audit
from pool_core.services.web_sessions import NewWebSession, sign_in, sign_out

log = logging.getLogger(__name__)
router = web_router()

# The pre-session CSRF token of the sign-in form (double submit: cookie and field agree).
SIGNIN_CSRF_COOKIE = "jp_signin"
Text = Annotated[str, Form(max_length=200)]


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    """The sign-in form (a signed-in user goes straight on)."""
    if optional_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, next_path=safe_next(next))


def _form(request: Request, *, next_path: str, error: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {"next_path": next_path, "error": error, "signin_token": token},
        status=status,
    )
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signin")
async def signin_submit(
    request: Request,
    username: Text,
    password: Text,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password against the same limits as FTP logins and start a session."""
    check_same_origin(request)
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise PermissionDenied("the sign-in form expired or came from another site")
    state = web_state(request)
    ip = client_addr(request)
    name = username.strip().lower()
    if refused(state.guard, ip, name):
        record = {"user": name, "ip": ip, "reason": "banned"}
        log.warning("web sign-in refused", extra=record)
        return _form(request, next_path=safe_next(next), error="banned", status=429)
    if account_under_attack(state.guard, name):
        await asyncio.sleep(state.settings.ftp_account_slowdown_seconds)
    try:
        started = await run_in_threadpool(_start_session, state, name, password, ip)
    except AuthenticationFailed as exc:
        bans = count_failure(state.guard, ip, name)
        log.warning("web sign-in failed", extra={"user": name, "ip": ip, "bans": bans})
        await run_in_threadpool(_audit_failure, state, name, ip, str(exc))
        await asyncio.sleep(state.settings.ftp_auth_failed_delay)
        error = "disabled" if "disabled" in str(exc) else "failed"
        return _form(request, next_path=safe_next(next), error=error, status=401)
    count_success(state.guard, ip, name)
    log.info("web sign-in", extra={"user": name, "ip": ip})
    response = RedirectResponse(safe_next(next), status_code=303)
    lifetime = timedelta(hours=state.settings.web_session_hours)
    set_session_cookie(request, response, started.cookie, lifetime)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


def _start_session(state: WebState, name: str, password: str, ip: str) -> NewWebSession:
    lifetime = timedelta(hours=state.settings.web_session_hours)
    with state.db.write_session() as session:
        started = sign_in(
            session, username=name, password=password, remote_addr=ip, lifetime=lifetime
        )
        record_audit(
            session,
            channel=WEB,
            action="web.signin",
            org_id=started.org_id,
            user_id=started.user_id,
            subject=f"user:{name}",
            remote_addr=ip,
        )
        return started


def _audit_failure(state: WebState, name: str, ip: str, reason: str) -> None:
    with state.db.write_session() as session:
        record_audit(
            session,
            channel=WEB,
            action="web.signin_failed",
            org_id=None,
            user_id=None,
            subject=f"user:{name}",
            remote_addr=ip,
            detail={"reason": reason},
        )


@router.post("/signout")
def signout(
    request: Request, user: CurrentWebUser, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """End the session on the server, then forget the cookie."""
    require_csrf(request, user, csrf_token)
    with web_state(request).db.write_session() as session:
        sign_out(session, cookie=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.post("/language")
def switch_language(
    request: Request,
    language: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Remember the chosen UI language (a year) and go back to the page."""
    check_same_origin(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
