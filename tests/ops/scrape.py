"""Reading a node's /metrics in tests: values by (name, labels), and promtool's verdict."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from alembic import command
from prometheus_client.parser import text_string_to_metric_families

from pool_core import migrate
from pool_core.db import Database
from pool_core.ops.http import OpsServer
from pool_core.ops.pool import PoolCollector
from pool_core.ops.readiness import ReadinessChecker
from pool_core.settings import Settings
from tests.deploy.metrics_contract import exposition_gaps


@dataclass(frozen=True)
class Scrape:
    """One /metrics answer, parsed with prometheus_client's own text parser."""

    text: str
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0 when the series does not exist yet)."""
        return self.values.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.values.items() if n == name and wanted <= set(found))

    def has(self, name: str) -> bool:
        """Whether any series of `name` is exported."""
        return any(n == name for n, _ in self.values)


def scrape(base_url: str, **headers: str) -> Scrape:
    """GET /metrics and parse it (fails the test on anything but 200)."""
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return Scrape(response.text, values)


def promtool_check(text: str) -> None:
    """The exposition names only metrics of the shared contract (what the dashboard and the
    alert rules read), and `promtool check metrics` accepts it (skipped quietly when absent:
    the tests that call this carry `requires_tool("promtool")`, which CI turns into a failure).
    """
    unknown, _ = exposition_gaps(text)
    assert not unknown, f"metrics outside the contract (deploy/ would not see them): {unknown}"
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def stamp_head(db: Database) -> None:
    """Mark a `create_all` schema as migrated (the readiness check compares revisions)."""
    url = db.engine.url.render_as_string(hide_password=False)
    command.stamp(migrate.alembic_config(url), "head")


@contextmanager
def ops_server(
    settings: Settings, db: Database, *, pool_gauges: bool = False
) -> Iterator[OpsServer]:
    """A node's metrics-and-health port on a free loopback port, for the block."""
    collectors = [PoolCollector(db)] if pool_gauges else []
    checker = ReadinessChecker.from_settings(settings, db)
    server = OpsServer(settings, 0, checker.check, collectors=collectors).start()
    try:
        yield server
    finally:
        server.stop()
        for collector in collectors:
            collector.close()
