"""Settings: defaults, embedded secrets generated once, placeholders refused for real S3."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from pool_core.settings import Settings, load_settings


def test_embedded_default_generates_and_keeps_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINTPOOL_DATA_DIR", str(tmp_path))
    first = load_settings()
    second = load_settings()
    assert first.embedded_s3
    key = first.s3_secret_key.get_secret_value()
    assert len(key) >= 30
    assert second.s3_secret_key.get_secret_value() == key
    secrets_file = tmp_path / "embedded-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert first.effective_database_url == f"sqlite:///{(tmp_path / 'pool.db').resolve()}"
    assert first.ftp_port == 2121 and first.api_port == 8000
    assert first.passive_port_range == range(30000, 30100)


@pytest.mark.parametrize("secret", ["", "changeme", "minioadmin", "  secret "])
def test_external_s3_refuses_placeholder_secrets(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOINTPOOL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JOINTPOOL_S3_ENDPOINT", "https://s3.example.invalid")
    monkeypatch.setenv("JOINTPOOL_S3_ACCESS_KEY", "AKIAREALKEY123")
    monkeypatch.setenv("JOINTPOOL_S3_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="placeholder"):
        load_settings()
    assert not (tmp_path / "embedded-secrets.json").exists()


def test_external_s3_with_real_secrets_is_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        s3_endpoint="https://s3.example.invalid",
        s3_access_key="AKIAREALKEY123",
        s3_secret_key="a-long-random-secret-value",
    ).with_embedded_secrets()
    assert not settings.embedded_s3
    assert settings.effective_s3_endpoint == "https://s3.example.invalid"


@pytest.mark.parametrize("value", ["30000", "30100-30000", "0-10", "a-b"])
def test_bad_passive_port_range_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="port range"):
        Settings(ftp_passive_ports=value)
