"""deploy/grafana: the dashboard is valid, uses the contract's metrics, and is provisioned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metrics_contract import violations
from tests.deploy.promtool import promtool, requires_promtool

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
PROVISIONING = GRAFANA / "provisioning"


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAFANA / "jointpool.json").read_text())
    return data


def _panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in _dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return [panel for panel in panels if panel["type"] != "row"]


def _expressions() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def test_dashboard_is_a_current_grafana_dashboard() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == "jointpool"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_prometheus_is_chosen_by_a_datasource_variable() -> None:
    variables = {item["name"]: item for item in _dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


@pytest.mark.parametrize(
    ("topic", "metric"),
    [
        ("uploads", "jointpool_ftp_uploads_total"),
        ("throughput", "jointpool_ftp_received_bytes_total"),
        ("throughput", "jointpool_ftp_upload_throughput_bytes_per_second_bucket"),
        ("queue", "jointpool_queue_jobs"),
        ("transcode speed", "jointpool_transcode_realtime_factor_bucket"),
        ("logins", "jointpool_ftp_logins_total"),
        ("storage per member", "jointpool_storage_bytes"),
        ("sync freshness", "jointpool_sync_last_success_timestamp_seconds"),
    ],
)
def test_dashboard_shows(topic: str, metric: str) -> None:
    assert any(metric in expr for expr in _expressions()), f"no panel for {topic}"


def test_every_panel_expression_uses_only_contract_metrics() -> None:
    expressions = _expressions()
    assert len(expressions) >= 20
    problems = {expr: violations(expr) for expr in expressions}
    assert {expr: found for expr, found in problems.items() if found} == {}


@requires_promtool
def test_every_panel_expression_is_valid_promql(tmp_path: Path) -> None:
    # promtool has no "check expression": each one goes in as a recording rule.
    rules = [
        {"record": f"dashboard:expression_{number}", "expr": expr.replace("$__rate_interval", "5m")}
        for number, expr in enumerate(_expressions())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", path)


def test_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "jointpool.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    # docker-compose.yml mounts the dashboard into this folder (tests/jointpool checks that).
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
