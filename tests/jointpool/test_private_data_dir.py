"""A fresh data dir as `make run` makes it: only the pool's OS user can read it (finding 10)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pool_core.context import AppContext
from pool_core.db import Database
from pool_core.private_files import write_private
from pool_core.seaweed import EmbeddedSeaweed
from pool_core.settings import load_settings
from pool_server.tls import ensure_certificate
from tests.fixtures.storage import free_port_block
from tests.jointpool.test_cli import run_cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def everyday_umask() -> Iterator[None]:
    """The usual umask 022, under which a plain mkdir or open gives 0755 / 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_make_run_default_data_dir_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, everyday_umask: None
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    data_dir = tmp_path / "var"
    env["JOINTPOOL_DATA_DIR"] = str(data_dir)
    # `make run`, step 1: `jointpool db upgrade` on the default SQLite under the data dir.
    run_cli(env, "db", "upgrade")
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "pool.db") == 0o600
    for companion in data_dir.glob("pool.db-*"):
        assert _mode(companion) == 0o600, companion
    # Step 2 (`jointpool up`) builds the embedded secrets, the TLS key and SeaweedFS.
    monkeypatch.setenv("JOINTPOOL_DATA_DIR", str(data_dir))
    s3_port, base_port = free_port_block()
    settings = load_settings(s3_embedded_port=s3_port, s3_embedded_base_port=base_port)
    secrets = [p for p in data_dir.iterdir() if p.suffix == ".json"]
    assert secrets and all(_mode(p) == 0o600 for p in secrets), secrets
    _, key = ensure_certificate(settings)
    assert _mode(key) == 0o600
    seaweed = EmbeddedSeaweed.from_settings(settings)
    seaweed.start()
    try:
        seaweed.wait_ready()
        assert _mode(data_dir / "s3") == 0o700
        assert _mode(seaweed.identities_file) == 0o600
        assert _mode(seaweed.log_file) == 0o600
    finally:
        seaweed.stop()
    # The database file SQLite writes into stays private while in use (WAL companions too).
    db = Database(settings.effective_database_url)
    with db.write_session() as session:
        session.connection().exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
    for companion in data_dir.glob("pool.db*"):
        assert _mode(companion) == 0o600, companion
    db.engine.dispose()


def test_an_existing_readable_database_file_is_tightened(
    tmp_path: Path, everyday_umask: None
) -> None:
    data_dir = tmp_path / "old-var"
    data_dir.mkdir(mode=0o755)
    (data_dir / "pool.db").touch(mode=0o644)
    os.chmod(data_dir / "pool.db", 0o644)
    db = Database(f"sqlite:///{data_dir / 'pool.db'}")
    with db.session() as session:
        session.connection().exec_driver_sql("SELECT 1")
    db.engine.dispose()
    assert _mode(data_dir / "pool.db") == 0o600
    # The data dir itself is tightened by every command that opens it (AppContext).
    settings = load_settings(data_dir=data_dir)
    assert AppContext(settings).db is not None
    assert _mode(data_dir) == 0o700


def test_a_secret_is_never_in_a_readable_file(tmp_path: Path, everyday_umask: None) -> None:
    target = tmp_path / "secret.json"
    # A stale or planted temp file (here world-readable) is not reused.
    planted = tmp_path / f".secret.json.{os.getpid()}.tmp"
    planted.write_text("old")
    os.chmod(planted, 0o644)
    write_private(target, b"s3cr3t")
    assert target.read_bytes() == b"s3cr3t" and _mode(target) == 0o600
    assert not planted.exists()
