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
    assert used <= SETTING_NAMES, f"not settings: {sorted(used - SETTING_NAMES)}"


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
    for name in ("POSTGRES_PASSWORD", "JOINTPOOL_S3_ACCESS_KEY", "JOINTPOOL_S3_SECRET_KEY"):
        for value in re.findall(rf"{name}: (.+)", text):
            assert value.strip().startswith("${"), f"{name} is hard-coded: {value}"


def test_dockerfile_builds_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("pool_core", "pool_server", "catalog_api", "transcode"):
        assert f"COPY {package} " in dockerfile
    # The sync client is its own distribution, installed before the server that needs it.
    assert "COPY clients/sync ./clients/sync" in dockerfile
    assert "RUN pip install ./clients/sync ." in dockerfile
    assert 'ENTRYPOINT ["jointpool"]' in dockerfile
