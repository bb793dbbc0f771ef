"""Mount the web UI on the API's FastAPI app: pages under /, static files under /static."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from catalog_web.auth import SignInRequired
from catalog_web.pages import ROUTERS
from catalog_web.render import STATIC, is_htmx, render
from catalog_web.state import WebState
from pool_core.db import Database
from pool_core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PoolError,
)
from pool_core.login_guard import guard_from_settings
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage

WEB_TAG = "web"
Handler = Callable[[Request, Exception], Awaitable[Response]]


class VersionedStatic(StaticFiles):
    """Static files; their URLs carry a content hash, so browsers may keep them a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Serve the file with a long cache lifetime."""
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_web(app: FastAPI, settings: Settings, db: Database, storage: ObjectStorage) -> None:
    """Serve the editors' web UI from this app (the API stays under /v1)."""
    app.state.web = WebState(
        settings=settings, db=db, storage=storage, guard=guard_from_settings(settings)
    )
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", VersionedStatic(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _to_sign_in)
    for error in (PoolError, RequestValidationError, StarletteHTTPException):
        api_handler = app.exception_handlers.get(error)
        if api_handler is not None:
            app.add_exception_handler(error, _pages_get_html(cast(Handler, api_handler)))


def is_web_route(request: Request) -> bool:
    """Whether the request was routed to a web page (not to the API)."""
    route = request.scope.get("route")
    return WEB_TAG in (getattr(route, "tags", None) or []) or not request.url.path.startswith(
        ("/v1", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static")
    )


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = "/signin?" + urlencode({"next": exc.next_path})
    if is_htmx(request):
        # htmx follows a redirect inside the fragment; HX-Redirect moves the whole page.
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _pages_get_html(api_handler: Handler) -> Handler:
    """Answer errors of web pages with an HTML page; API errors keep their problem+json."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not is_web_route(request):
            return await api_handler(request, exc)
        if isinstance(exc, AuthenticationFailed):
            return await _to_sign_in(request, SignInRequired(request.url.path))
        status, message = _status_of(exc)
        return render(request, "error.html", {"status": status, "message": message}, status=status)

    return handler


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, ""
    if isinstance(exc, PermissionDenied):
        return 403, str(exc)
    if isinstance(exc, RequestValidationError):
        return 422, ""
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, ""
    if isinstance(exc, InvalidInput | Conflict):
        return 422, str(exc)
    return 500, ""
