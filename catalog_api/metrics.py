"""Request metrics for the API: a pure ASGI middleware labelled by route template.

The label is the matched route's template (`/v1/titles/{title_id}`), never the raw path: a
raw path would make one time series per title id and grow without bound. Requests no route
matched are "unmatched".
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pool_core.ops import metrics

UNMATCHED = "unmatched"


class MetricsMiddleware:
    """Counts every HTTP request and observes its duration (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            method = scope["method"]
            route = route_template(scope)
            labels = {"method": method, "route": route, "status": str(status)}
            metrics.http_requests.labels(**labels).inc()
            metrics.http_request_duration.labels(**labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (FastAPI records it in the scope)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
