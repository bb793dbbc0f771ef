"""Start the metrics-and-health port of the FTP node or the worker."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.registry import Collector

from pool_core.db import Database
from pool_core.ops.exposition import set_enabled
from pool_core.ops.http import OpsServer
from pool_core.ops.readiness import ReadinessChecker
from pool_core.settings import Settings


def start_ops_server(
    settings: Settings,
    db: Database,
    *,
    port: int,
    component: str,
    collectors: Iterable[Collector] = (),
) -> OpsServer | None:
    """Serve /metrics, /healthz and /readyz on `port` (None and nothing served when 0).

    Also applies JOINTPOOL_METRICS_ENABLED to this process's instrumentation; health is
    served either way.
    """
    set_enabled(settings.metrics_enabled)
    if not port:
        return None
    checker = ReadinessChecker.from_settings(settings, db)
    return OpsServer(
        settings, port, checker.check, collectors=collectors, component=component
    ).start()
