"""Liveness, readiness and the Prometheus metrics of the API process."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from catalog_api.deps import app_state
from pool_core.ops.exposition import CONTENT_TYPE, metrics_allowed, render
from pool_core.ops.readiness import ReadinessChecker

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    """The process is alive."""

    status: str


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """Answer while the process is alive (readiness is /readyz)."""
    return HealthOut(status="ok")


# Not in the OpenAPI schema: an orchestrator probe whose 503 is its answer, not an API error.
@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    """200 when the database and S3 answer and migrations are at head; 503 naming the check."""
    checker: ReadinessChecker = request.app.state.readiness
    result = await run_in_threadpool(checker.check)
    return JSONResponse(result.body(), status_code=200 if result.ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition (every uvicorn worker's, aggregated); loopback or token."""
    state = app_state(request)
    client = request.client.host if request.client else None
    if not metrics_allowed(state.settings, client, request.headers.get("authorization")):
        return JSONResponse({"detail": "metrics need a bearer token from this address"}, 403)
    # Refresh jointpool_ready (cached for a second): Prometheus scrapes /metrics, not /readyz,
    # and the S3-not-ready alert and the readiness panel read that gauge.
    checker: ReadinessChecker = request.app.state.readiness
    await run_in_threadpool(checker.check)
    return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE)
