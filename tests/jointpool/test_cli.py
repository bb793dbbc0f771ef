"""The `jointpool` command line, run as a real subprocess against a scratch data dir."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pool_core.db import Database
from pool_core.errors import PoolError
from pool_core.services import accounts


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `python -m jointpool ARGS` with the given environment."""
    result = subprocess.run(
        [sys.executable, "-m", "jointpool", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment pointing the pool at a scratch data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env["JOINTPOOL_DATA_DIR"] = str(tmp_path / "var")
    return env


def test_db_upgrade_is_idempotent_and_accounts_work(cli_env: dict[str, str]) -> None:
    first = run_cli(cli_env, "db", "upgrade")
    assert "upgraded from empty" in first.stdout
    second = run_cli(cli_env, "db", "upgrade")
    assert "already at revision" in second.stdout
    assert run_cli(cli_env, "db", "current").stdout.strip().endswith("(up to date)")

    run_cli(cli_env, "org", "add", "aztv", "--name", "AzTV", "--country", "az")
    created = run_cli(cli_env, "user", "add", "aztv", "aztv-ops", "--role", "uploader")
    password = re.search(r"FTP password: (\S+)", created.stdout)
    token = re.search(r"API token:\s+(\S+)", created.stdout)
    assert password and token

    listed = run_cli(cli_env, "org", "list").stdout
    assert "aztv\tAZ\tAzTV" in listed

    db = Database(f"sqlite:///{Path(cli_env['JOINTPOOL_DATA_DIR']) / 'pool.db'}")
    try:
        with db.session() as session:
            user = accounts.verify_ftp_login(
                session, username="aztv-ops", password=password.group(1)
            )
            assert accounts.check_api_token(session, token=token.group(1)).user.id == user.id
    finally:
        db.dispose()


def test_failures_exit_non_zero_with_one_line(cli_env: dict[str, str]) -> None:
    run_cli(cli_env, "db", "upgrade")
    run_cli(cli_env, "org", "add", "trt", "--name", "TRT", "--country", "TR")
    duplicate = run_cli(
        cli_env, "org", "add", "trt", "--name", "TRT", "--country", "TR", check=False
    )
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "jointpool: error: organization 'trt' already exists"
    missing = run_cli(cli_env, "user", "add", "nope", "someone", "--role", "editor", check=False)
    assert missing.returncode == 1 and "no organization" in missing.stderr

    cli_env["JOINTPOOL_S3_ENDPOINT"] = "https://s3.example.invalid"
    cli_env["JOINTPOOL_S3_SECRET_KEY"] = "changeme"
    refused = run_cli(cli_env, "org", "list", check=False)
    assert refused.returncode == 2
    assert "placeholder" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_token_lifetime_cap_and_user_disable(cli_env: dict[str, str]) -> None:
    run_cli(cli_env, "db", "upgrade")
    run_cli(cli_env, "org", "add", "aztv", "--name", "AzTV", "--country", "az")
    created = run_cli(cli_env, "user", "add", "aztv", "aztv-ops", "--role", "uploader")
    token = re.search(r"API token:\s+(\S+)", created.stdout)
    assert token
    too_long = run_cli(cli_env, "user", "token", "aztv-ops", "--days", "365", check=False)
    assert too_long.returncode == 1
    assert too_long.stderr.strip() == "jointpool: error: tokens live at most 90 days"
    capped = run_cli(cli_env, "user", "token", "aztv-ops").stdout
    assert re.search(r"expires \d{4}-\d{2}-\d{2}\): jp_", capped)

    disabled = run_cli(cli_env, "user", "disable", "aztv-ops").stdout
    assert "2 API token(s) revoked" in disabled
    db = Database(f"sqlite:///{Path(cli_env['JOINTPOOL_DATA_DIR']) / 'pool.db'}")
    try:
        with db.session() as session, pytest.raises(PoolError):
            accounts.check_api_token(session, token=token.group(1))
    finally:
        db.dispose()
