"""Give every HTTP request an id: the client's `X-Request-ID` when well-formed, else a new one.

The id is bound (pool_core.tracing) while the request runs, so its log lines and the jobs it
enqueues carry it, and it is echoed in the response's `X-Request-ID` header so a client can
quote it. A plain ASGI middleware: it adds one header and no task hop per request.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pool_core.tracing import accept_request_id, bind, reset

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Bind a request id for the request's duration and echo it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id bound."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(Headers(scope=scope).get(HEADER))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = bind(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # Left bound: Starlette's outermost ServerErrorMiddleware logs an unhandled error
            # after this returns, and its line should name the request too. The binding dies
            # with the request: the server runs each request in a task of its own.
            raise
        reset(token)
