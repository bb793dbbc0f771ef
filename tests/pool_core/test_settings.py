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


def test_relative_paths_are_resolved_once_when_the_settings_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATA_DIR", "DATABASE_URL", "FTP_TLS_CERT", "FTP_TLS_KEY"):
        monkeypatch.delenv(f"JOINTPOOL_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOINTPOOL_TRANSCODE_TMP_DIR", "scratch")
    settings = load_settings()
    assert settings.data_dir == tmp_path.resolve() / "var"
    assert settings.transcode_tmp_dir == tmp_path.resolve() / "scratch"
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve()}/var/pool.db"
    # The embedded secrets were written under the resolved folder, not somewhere cwd-relative.
    assert (tmp_path / "var" / "embedded-secrets.json").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Nothing read later depends on the cwd any more.
    assert settings.data_dir == tmp_path.resolve() / "var"

    explicit = Settings(
        data_dir=Path("data"),
        database_url="sqlite:///db/pool.db",
        ftp_tls_cert=Path("certs/pool.pem"),
        ftp_tls_key=Path("~/pool.key"),
    )
    assert explicit.data_dir == elsewhere.resolve() / "data"
    assert explicit.database_url == f"sqlite:///{elsewhere.resolve()}/db/pool.db"
    assert explicit.ftp_tls_cert == elsewhere.resolve() / "certs" / "pool.pem"
    assert explicit.ftp_tls_key == Path.home().resolve() / "pool.key"

    tools = Settings(ffmpeg="bin/ffmpeg", transcode_font="fonts/Sans.ttf")
    assert tools.ffmpeg == str(elsewhere.resolve() / "bin" / "ffmpeg")
    assert tools.transcode_font == str(elsewhere.resolve() / "fonts" / "Sans.ttf")
    # A bare command name is left for the PATH lookup.
    assert Settings(ffmpeg="ffmpeg").ffmpeg == "ffmpeg"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////abs/pool.db",
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgresql+psycopg://u:p%40ss@db.example.org/pool",
    ],
)
def test_urls_without_a_relative_file_are_kept(url: str) -> None:
    assert Settings(database_url=url).database_url == url


def test_empty_path_variables_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FTP_TLS_CERT", "FTP_TLS_KEY", "TRANSCODE_TMP_DIR"):
        monkeypatch.setenv(f"JOINTPOOL_{name}", "")
    settings = Settings()
    assert settings.ftp_tls_cert is None
    assert settings.ftp_tls_key is None
    assert settings.transcode_tmp_dir is None
