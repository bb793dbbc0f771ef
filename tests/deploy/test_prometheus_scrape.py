"""The real Prometheus runs deploy/prometheus.yml: it sends the token from the file and
loads the alert rules.

Only the service discovery is swapped (Docker's DNS names api, ftp and worker do not resolve
here) for a static target: a stand-in /metrics that refuses any other token, as the nodes do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from tests.fixtures.api import free_loopback_port
from tests.fixtures.ftp import requires_tool, wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "scrape-token-for-the-test"
EXPOSITION = b"""# HELP jointpool_ready 1 when the check passes.
# TYPE jointpool_ready gauge
jointpool_ready{check="storage"} 1
jointpool_ready{check="database"} 1
"""


class StandInMetrics(BaseHTTPRequestHandler):
    """GET /metrics with the right bearer token gets an exposition; anything else 403."""

    seen_tokens: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.seen_tokens.append(self.headers.get("Authorization"))
        if self.path != "/metrics" or self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_error(403)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(EXPOSITION)))
        self.end_headers()
        self.wfile.write(EXPOSITION)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads seen_tokens, not stderr


@pytest.fixture
def stand_in_node() -> Iterator[str]:
    StandInMetrics.seen_tokens = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInMetrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _config_pointing_at(target: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        if job.pop("dns_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": [target]}]
    return config


def _api(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.load(response)["data"]


def _ready_series(port: int) -> list[dict[str, Any]]:
    try:
        result: list[dict[str, Any]] = _api(port, "/api/v1/query?query=jointpool_ready")["result"]
    except OSError:
        return []  # not listening yet
    return result


@requires_tool("prometheus")
def test_prometheus_scrapes_with_the_token_file_and_loads_the_rules(
    tmp_path: Path, stand_in_node: str
) -> None:
    config_dir = tmp_path / "etc"
    (config_dir / "secrets").mkdir(parents=True)
    (config_dir / "secrets" / "metrics_token").write_text(TOKEN)
    shutil.copy(DEPLOY / "alerts.yml", config_dir / "alerts.yml")
    (config_dir / "prometheus.yml").write_text(yaml.safe_dump(_config_pointing_at(stand_in_node)))
    port = free_loopback_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # The first scrape of each job comes within one scrape interval (15 s).
        wait_until(
            lambda: (
                {s["metric"]["job"] for s in _ready_series(port)}
                >= {"jointpool-api", "jointpool-ftp", "jointpool-worker"}
            ),
            "Prometheus to scrape the three pool jobs",
            timeout=90,
            interval=0.5,
        )
        assert set(StandInMetrics.seen_tokens) == {f"Bearer {TOKEN}"}
        groups = _api(port, "/api/v1/rules")["groups"]
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
        assert loaded == {rule["alert"] for rule in rules}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
