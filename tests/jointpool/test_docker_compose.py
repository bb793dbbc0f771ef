"""docker-compose.yml stays valid: every service is complete and every setting it names exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pool_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = {f"JOINTPOOL_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _jointpool_variables(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("JOINTPOOL_"):
                found.add(key)
            found |= _jointpool_variables(value)
    elif isinstance(node, list):
        for item in node:
            found |= _jointpool_variables(item)
    elif isinstance(node, str):
        found |= set(re.findall(r"(JOINTPOOL_[A-Z0-9_]+)=", node))
    return found


def test_every_jointpool_variable_is_a_real_setting() -> None:
    services = _compose()["services"]
    used: set[str] = set()
    for service in services.values():
        used |= _jointpool_variables(service.get("environment", {}))
    assert used, "compose sets no JOINTPOOL_ variables at all"
    unknown = used - SETTING_NAMES
    assert not unknown, f"not settings: {sorted(unknown)}"


def test_required_services_and_dependencies() -> None:
    services = _compose()["services"]
    required = {
        "postgres",
        "seaweed-master",
        "seaweed-volume",
        "seaweed-filer",
        "seaweed-s3",
        "migrate",
        "ftp",
        "api",
        "worker",
        "prometheus",
        "grafana",
        "node-exporter",
    }
    assert required <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        depends = service.get("depends_on", [])
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("ftp", "api", "worker"):
        assert services[name]["command"] == [name]
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        environment = services[name]["environment"]
        assert environment["JOINTPOOL_DATABASE_URL"].startswith("postgresql://")
        assert environment["JOINTPOOL_S3_ENDPOINT"].startswith("http://seaweed-s3:")


def test_no_secret_is_written_into_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = (
        "POSTGRES_PASSWORD",
        "JOINTPOOL_S3_ACCESS_KEY",
        "JOINTPOOL_S3_SECRET_KEY",
        "JOINTPOOL_METRICS_TOKEN",
        "METRICS_TOKEN",
        "GF_SECURITY_ADMIN_PASSWORD",
        "DATA_SOURCE_PASS",
    )
    for name in secrets:
        values = re.findall(rf"\b{name}: (.+)", text)
        assert values, f"{name} is not set at all"
        for value in values:
            # ${NAME:?message}: compose refuses to start when the secret is missing.
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value.strip()), (
                f"{name} is hard-coded or optional: {value}"
            )


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Map each bind mount's container path to its path in this checkout."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = source
    return mounts


def test_prometheus_runs_the_deploy_config_with_the_token_from_the_environment() -> None:
    prometheus = _compose()["services"]["prometheus"]
    mounts = _mounts(prometheus)
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"] == "./deploy/alerts.yml"
    for source in mounts.values():
        assert (ROOT / source).is_file(), source
    # The config names the token file relative to itself: secrets/metrics_token, which the
    # entry point writes from the environment into a tmpfs.
    assert "/etc/prometheus/secrets" in prometheus["tmpfs"]
    (script,) = prometheus["command"]
    assert '"$$METRICS_TOKEN" > /etc/prometheus/secrets/metrics_token' in script
    assert "--config.file=/etc/prometheus/prometheus.yml" in script
    assert prometheus["environment"]["METRICS_TOKEN"].startswith("${JOINTPOOL_METRICS_TOKEN:?")
    # No login on Prometheus: it is published on loopback only.
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"])


def test_prometheus_scrapes_every_pool_service_on_its_metrics_port() -> None:
    services = _compose()["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for discovery in job.get("dns_sd_configs", []):
            for name in discovery["names"]:
                scraped[name] = discovery["port"]
    expected_ports = {
        "api": int(services["api"]["environment"]["JOINTPOOL_API_PORT"]),
        "ftp": int(services["ftp"]["environment"]["JOINTPOOL_FTP_METRICS_PORT"]),
        "worker": int(services["worker"]["environment"]["JOINTPOOL_WORKER_METRICS_PORT"]),
    }
    assert scraped == expected_ports
    for name in expected_ports:
        environment = services[name]["environment"]
        # Bound beyond loopback (Prometheus is another container), so the token is required.
        assert environment["JOINTPOOL_METRICS_HOST"] == "0.0.0.0"
        assert environment["JOINTPOOL_METRICS_TOKEN"].startswith("${JOINTPOOL_METRICS_TOKEN:?")
    static = {
        target
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    assert "node-exporter:9100" in static


# Services scraped through an exporter, and services that run once and leave.
EXPORTED_BY = {"postgres": "postgres-exporter", "node-exporter": "node-exporter"}
NOT_RUNNING = {"migrate"}


def test_prometheus_scrapes_every_long_running_service() -> None:
    services = _compose()["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    hosts = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    } | {
        name
        for job in config["scrape_configs"]
        for discovery in job.get("dns_sd_configs", [])
        for name in discovery["names"]
    }
    hosts = {"prometheus" if host == "localhost" else host for host in hosts}
    for name in services:
        if name in NOT_RUNNING:
            continue
        assert EXPORTED_BY.get(name, name) in hosts, f"{name} is not scraped"
    # SeaweedFS serves metrics only where its command asks for them.
    for name in ("seaweed-master", "seaweed-volume", "seaweed-filer", "seaweed-s3"):
        command = services[name]["command"]
        text = command if isinstance(command, str) else " ".join(command)
        assert "-metricsPort=9324" in text, name
        assert f"{name}:9324" in {
            target
            for job in config["scrape_configs"]
            for group in job.get("static_configs", [])
            for target in group["targets"]
        }


def test_grafana_is_provisioned_from_the_deploy_folder() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounts["/etc/grafana/dashboards/jointpool.json"] == "./deploy/grafana/jointpool.json"
    for source in mounts.values():
        assert (ROOT / source).exists(), source
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )
    assert grafana["depends_on"] == ["prometheus"]


def test_dockerfile_builds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("pool_core", "pool_server", "catalog_api", "transcode"):
        assert f"COPY {package} " in dockerfile
    # The sync client is its own distribution, installed before the server that needs it.
    assert "COPY clients/sync ./clients/sync" in dockerfile
    assert "RUN pip install ./clients/sync ." in dockerfile
    assert 'ENTRYPOINT ["jointpool"]' in dockerfile
