"""RFC 9457 problem+json responses: the one table mapping domain errors to HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pool_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    InvalidInput,
    JobError,
    NotFound,
    ObjectNotFound,
    PermissionDenied,
    PoolError,
    QuotaExceeded,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)

logger = logging.getLogger("catalog_api.errors")

PROBLEM_JSON = "application/problem+json"

# Domain error -> (HTTP status, problem type slug, title). Looked up along the class's MRO,
# so the most specific entry wins (ObjectNotFound before StorageError and NotFound).
ERROR_TABLE: dict[type[BaseException], tuple[int, str, str]] = {
    AuthenticationFailed: (401, "unauthenticated", "Authentication required"),
    PermissionDenied: (403, "forbidden", "Not allowed"),
    QuotaExceeded: (403, "quota-exceeded", "Quota exceeded"),
    ObjectNotFound: (404, "object-not-found", "Stored object not found"),
    NotFound: (404, "not-found", "Not found"),
    AlreadyExists: (409, "already-exists", "Already exists"),
    Conflict: (409, "conflict", "Conflict"),
    InvalidInput: (422, "invalid-input", "Invalid input"),
    StorageUnavailable: (503, "storage-unavailable", "Storage temporarily unavailable"),
    StorageAuthError: (502, "storage-error", "Storage refused the request"),
    StorageError: (502, "storage-error", "Storage error"),
    ConfigurationError: (500, "configuration", "Server misconfigured"),
    JobError: (500, "job-failed", "Background job failed"),
    PoolError: (500, "internal", "Internal error"),
}
# Statuses whose detail may carry internals; clients get the title only.
HIDDEN_DETAIL = frozenset({500, 502})


def problem_type(slug: str) -> str:
    """The URI naming a problem type."""
    return f"urn:jointpool:problem:{slug}"


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build one problem+json response."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def map_error(exc: BaseException) -> tuple[int, str, str]:
    """Find the table entry for an exception (500 for anything unknown)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "internal", "Internal error"


async def _pool_error(request: Request, exc: Exception) -> JSONResponse:
    status, slug, title = map_error(exc)
    if status >= 500:
        logger.error("request failed: %s", exc, exc_info=exc, extra={"path": request.url.path})
    headers = {"WWW-Authenticate": 'Bearer realm="jointpool"'} if status == 401 else None
    detail = None if status in HIDDEN_DETAIL else str(exc)
    return problem_response(
        request, status=status, slug=slug, title=title, detail=detail, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        request,
        status=422,
        slug="invalid-input",
        title="Invalid input",
        detail=summary,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        request,
        status=exc.status_code,
        slug=slug,
        title=str(exc.detail) if exc.detail else "HTTP error",
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # A value the schema let through but the database refused (e.g. a NUL in text on
    # PostgreSQL): the client's input, so 422 rather than a server error.
    return problem_response(
        request,
        status=422,
        slug="invalid-input",
        title="Invalid input",
        detail="the database refused a value in this request",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug or an unmapped vendor error: logged with its traceback, never shown to clients.
    logger.error("unhandled error: %r", exc, exc_info=exc, extra={"path": request.url.path})
    return problem_response(request, status=500, slug="internal", title="Internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on the app."""
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(PoolError, _pool_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
