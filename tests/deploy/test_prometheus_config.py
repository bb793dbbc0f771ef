"""deploy/prometheus.yml: promtool accepts it, as the prometheus service of compose sees it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.promtool import promtool, requires_promtool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    return data


def _as_in_the_container(folder: Path, *, token: bool) -> Path:
    """Lay the files out as docker-compose.yml mounts them in /etc/prometheus."""
    shutil.copy(DEPLOY / "prometheus.yml", folder / "prometheus.yml")
    shutil.copy(DEPLOY / "alerts.yml", folder / "alerts.yml")
    if token:
        (folder / "secrets").mkdir()
        (folder / "secrets" / "metrics_token").write_text("a-test-token")
    return folder / "prometheus.yml"


@requires_promtool
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    output = promtool("check", "config", _as_in_the_container(tmp_path, token=True))
    assert "SUCCESS" in output
    assert "6 rules found" in output  # the rule file was found and read


@requires_promtool
def test_a_missing_token_file_is_refused(tmp_path: Path) -> None:
    output = promtool(
        "check", "config", _as_in_the_container(tmp_path, token=False), expect_success=False
    )
    assert "metrics_token" in output


def test_rule_files_point_at_the_alert_rules() -> None:
    assert _config()["rule_files"] == ["alerts.yml"]


def test_every_pool_job_sends_the_bearer_token_from_a_file() -> None:
    pool_jobs = [
        job for job in _config()["scrape_configs"] if job["job_name"].startswith("jointpool-")
    ]
    assert {job["job_name"] for job in pool_jobs} == {
        "jointpool-api",
        "jointpool-ftp",
        "jointpool-worker",
    }
    for job in pool_jobs:
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"] == {
            "type": "Bearer",
            "credentials_file": "secrets/metrics_token",
        }, job["job_name"]
