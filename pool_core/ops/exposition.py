"""Rendering /metrics and deciding who may read it.

Multiprocess mode: the API under several uvicorn workers keeps its metrics in files under
`<DATA_DIR>/prometheus` (PROMETHEUS_MULTIPROC_DIR, set by the parent before the workers
start: prometheus_client picks its storage when first imported); /metrics then aggregates
every worker's files, whichever worker answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pool_core.settings import PLACEHOLDER_SECRETS, Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_enabled = True


def set_enabled(flag: bool) -> None:
    """Turn the instrumentation of this process on or off (JOINTPOOL_METRICS_ENABLED)."""
    global _enabled
    _enabled = flag


def enabled() -> bool:
    """Whether instrumentation sites should count (checked on every event, so cheap)."""
    return _enabled


def prepare_multiprocess_dir(settings: Settings) -> Path:
    """Empty `<DATA_DIR>/prometheus` and point PROMETHEUS_MULTIPROC_DIR at it.

    Called by the API's parent process before it starts workers; a previous run's files
    would otherwise be summed into this run's counters.
    """
    path = settings.data_dir / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of this process (or of every worker in multiprocess mode)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    collectors = list(extra)
    if collectors:
        own = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            own.register(collector)
        output += generate_latest(own)
    return output


def is_loopback(host: str | None) -> bool:
    """Whether a client address is loopback (127.0.0.0/8, ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def metrics_allowed(settings: Settings, client_host: str | None, authorization: str | None) -> bool:
    """Loopback clients read /metrics freely; others need `Bearer $JOINTPOOL_METRICS_TOKEN`.

    With no token set (or a placeholder such as "changeme"), clients outside loopback are
    refused: metrics name organizations and reveal traffic.
    """
    if is_loopback(client_host):
        return True
    token = settings.metrics_token.get_secret_value()
    if token.strip().lower() in PLACEHOLDER_SECRETS:
        return False
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
