"""The catalog API application: `create_app(settings, db, storage)`, `run_api(...)`."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from uvicorn.protocols.http.h11_impl import H11Protocol

from catalog_api.deps import ApiState
from catalog_api.errors import install_error_handlers
from catalog_api.metrics import MetricsMiddleware
from catalog_api.request_id import RequestIdMiddleware
from catalog_api.routers import (
    assets,
    auth,
    health,
    licensing,
    organization,
    reference,
    search,
    subtitles,
    titles,
    uploads,
)
from catalog_api.schemas.common import Problem
from pool_core.db import Database
from pool_core.ops.exposition import prepare_multiprocess_dir
from pool_core.ops.exposition import set_enabled as set_metrics_enabled
from pool_core.ops.readiness import ReadinessChecker
from pool_core.search.backends import ensure_search_schema
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage

logger = logging.getLogger("catalog_api")

DESCRIPTION = """
The Joint FTP Pool catalog: programmes the member broadcasters offer each other.

* **Auth**: `Authorization: Bearer <API token>`. Tokens belong to a user of one organization;
  roles are admin, rights_manager, editor and uploader. Owners write their own catalog
  (admins and editors); every member reads published titles.
* **Errors** are RFC 9457 `application/problem+json`.
* **Lists** are cursor-paginated: pass `next_cursor` back as `cursor`.
* **Search** folds every script to one Latin form: `Qazaqstan` finds `Қазақстан`,
  `Azerbaycan` finds `Azərbaycan`; each word matches as a prefix, with one typo tolerated.
* **Sidecars**: deliver `<master>.json` (schema at `/v1/sidecar-schema`), EBUCore `.xml`
  or a `.csv` manifest next to the master over FTP.
"""


def create_app(settings: Settings, db: Database, storage: ObjectStorage) -> FastAPI:
    """Build the FastAPI app around the shared database and storage."""
    app = FastAPI(
        title="Joint FTP Pool catalog API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    ensure_search_schema(db.engine)
    app.state.pool = ApiState(settings=settings, db=db, storage=storage)
    app.state.readiness = ReadinessChecker.from_settings(settings, db)
    set_metrics_enabled(settings.metrics_enabled)
    if settings.metrics_enabled:
        app.add_middleware(MetricsMiddleware)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.openapi = _openapi_with_problems(app)  # type: ignore[method-assign]
    for router in (
        health.router,
        auth.router,
        organization.router,
        titles.router,
        assets.router,
        subtitles.router,
        uploads.router,
        search.router,
        reference.router,
        *licensing.routers,
    ):
        app.include_router(router)
    return app


def _openapi_with_problems(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Document every error response as `application/problem+json` with the Problem schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = problem
        app.openapi_schema = schema
        return schema

    return openapi


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

    With several workers uvicorn binds the listening socket itself, without naming the TCP
    protocol, and asyncio then leaves TCP_NODELAY unset on accepted connections: a response
    written in two pieces waits for the client's delayed ACK, adding 40 ms to every request.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Turn Nagle off, then hand over to uvicorn."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


WORKER_HEALTHCHECK_SECONDS = 30


def run_api(
    settings: Settings,
    db: Database,
    storage: ObjectStorage,
    *,
    worker_factory: str,
    build_app: Callable[[], FastAPI] | None = None,
) -> None:
    """Serve the API with uvicorn on the configured address until interrupted.

    With `api_workers` > 1 every worker process builds its own app by calling
    `worker_factory` ("module:function"): database connections and S3 clients must not
    cross into another process. With one worker, `build_app` builds the app (default: the
    API alone; the launcher adds the web UI).
    """
    logger.info(
        "catalog API on http://%s:%s (%d worker%s)",
        settings.api_host,
        settings.api_port,
        settings.api_workers,
        "s" if settings.api_workers > 1 else "",
    )
    options: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        "log_config": None,
        "proxy_headers": settings.api_trust_proxy_headers,
        "forwarded_allow_ips": settings.api_forwarded_allow_ips,
        "access_log": False,
        "http": NoDelayH11Protocol,
    }
    if settings.api_workers > 1:
        # Every worker writes its metrics to files here; /metrics adds them up. Set before
        # the workers start (prometheus_client reads it when a worker first imports it).
        prepare_multiprocess_dir(settings)
        # One Python process runs one request's Python code at a time: several processes are
        # how the API uses every core. The index is made sure of here, once, so the workers
        # do not race to create it.
        ensure_search_schema(db.engine)
        uvicorn.run(
            worker_factory,
            factory=True,
            workers=settings.api_workers,
            # uvicorn's supervisor kills a worker that does not answer its health ping within
            # 5 s; a worker busy importing and building its app on a loaded 2-core machine can
            # take longer, and a kill loop is worse than a slow start.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )
        return
    app = build_app() if build_app is not None else create_app(settings, db, storage)
    uvicorn.run(app, **options)
