"""A tiny threaded HTTP server for the FTP node and the worker: /metrics, /healthz, /readyz.

The API serves the same three paths from its own app (`catalog_api.routers.health`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.registry import Collector

from pool_core.ops.exposition import CONTENT_TYPE, metrics_allowed, render
from pool_core.ops.readiness import Readiness
from pool_core.settings import Settings

log = logging.getLogger(__name__)


class OpsServer(ThreadingHTTPServer):
    """Serves one process's metrics and health until `stop()`."""

    daemon_threads = True

    def __init__(
        self,
        settings: Settings,
        port: int,
        readiness: Callable[[], Readiness],
        *,
        collectors: Iterable[Collector] = (),
        component: str = "",
    ) -> None:
        self.settings = settings
        self.readiness = readiness
        self.collectors = list(collectors)
        self.component = component
        self._thread: threading.Thread | None = None
        super().__init__((settings.metrics_host, port), _Handler)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """`http://host:port`."""
        host = self.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self.port}"

    def start(self) -> OpsServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.25}, name="ops-http", daemon=True
        )
        self._thread.start()
        log.info("metrics and health", extra={"url": self.url, "component": self.component})
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: OpsServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._json(200, {"status": "ok"})
        elif path == "/readyz":
            result = self.server.readiness()
            self._json(200 if result.ok else 503, result.body())
        elif path == "/metrics":
            allowed = metrics_allowed(
                self.server.settings, self.client_address[0], self.headers.get("Authorization")
            )
            if not allowed:
                self._json(403, {"detail": "metrics need a bearer token from this address"})
                return
            # Refresh jointpool_ready (cached for a second): Prometheus scrapes /metrics, not
            # /readyz, and the S3-not-ready alert and the readiness panel read that gauge.
            self.server.readiness()
            self._send(200, CONTENT_TYPE, render(self.server.collectors))
        else:
            self._json(404, {"detail": "not found"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Scrapes every 15 s would drown the console; errors still reach the log.
        return
