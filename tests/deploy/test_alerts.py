"""deploy/alerts.yml: valid for Prometheus, unit-tested by promtool, built on the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metrics_contract import violations
from tests.deploy.promtool import promtool, requires_promtool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "alerts.yml"
ALERT_TESTS = DEPLOY / "alerts_test.yml"


def _rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


@requires_promtool
def test_promtool_accepts_the_rules() -> None:
    output = promtool("check", "rules", ALERTS)
    assert f"SUCCESS: {len(_rules())} rules found" in output


@requires_promtool
def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    promtool("test", "rules", ALERT_TESTS)


@requires_promtool
def test_promtool_unit_tests_catch_a_broken_threshold(tmp_path: Path) -> None:
    # The unit tests must bite: the quota alert at 99 % instead of 90 % fails them.
    broken = ALERTS.read_text().replace("            > 0.9\n", "            > 0.99\n", 1)
    assert broken != ALERTS.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text(ALERT_TESTS.read_text())
    output = promtool("test", "rules", tmp_path / "alerts_test.yml", expect_success=False)
    assert "JointpoolQuotaAbove90Percent" in output


@pytest.mark.parametrize(
    "alert",
    ["JointpoolTranscodeBacklogGrowing", "JointpoolSyncMissing", "JointpoolQuotaAbove90Percent"],
)
def test_unit_tests_see_the_alert_both_firing_and_quiet(alert: str) -> None:
    cases = [
        case
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == alert
    ]
    assert any(case["exp_alerts"] for case in cases), f"{alert} is never expected to fire"
    assert any(not case["exp_alerts"] for case in cases), f"{alert} is never expected quiet"


def test_every_alert_of_the_issue_is_there() -> None:
    rules = _rules()
    assert set(rules) >= {
        "JointpoolTranscodeBacklogGrowing",
        "JointpoolLoginFailuresSpike",
        "JointpoolSyncMissing",
        "JointpoolStorageNotReady",
        "JointpoolQuotaAbove90Percent",
        "JointpoolDiskAbove90Percent",
    }
    assert rules["JointpoolTranscodeBacklogGrowing"]["for"] == "30m"
    assert 'kind="transcode",state="queued"' in rules["JointpoolTranscodeBacklogGrowing"]["expr"]
    assert "36 * 3600" in rules["JointpoolSyncMissing"]["expr"]
    assert 'jointpool_ready{check="storage"} == 0' in rules["JointpoolStorageNotReady"]["expr"]
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


@pytest.mark.parametrize("alert", sorted(_rules()))
def test_alert_uses_only_contract_metrics(alert: str) -> None:
    assert violations(_rules()[alert]["expr"]) == []
