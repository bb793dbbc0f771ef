"""`jointpool org set` (sidecar auto-publish) and `jointpool roles-table`, as subprocesses."""

from __future__ import annotations

from pathlib import Path

from pool_core.db import Database
from pool_core.roles import roles_markdown
from pool_core.services import accounts
from tests.jointpool.test_cli import cli_env, run_cli

__all__ = ["cli_env"]


def _auto_publish(env: dict[str, str], code: str) -> bool:
    db = Database(f"sqlite:///{Path(env['JOINTPOOL_DATA_DIR']) / 'pool.db'}")
    try:
        with db.session() as session:
            return accounts.get_organization_by_code(session, code=code).sidecar_auto_publish
    finally:
        db.engine.dispose()


def test_org_set_sidecar_auto_publish(cli_env: dict[str, str]) -> None:
    run_cli(cli_env, "db", "upgrade")
    run_cli(cli_env, "org", "add", "aztv", "--name", "AzTV", "--country", "AZ")
    assert _auto_publish(cli_env, "aztv") is False
    on = run_cli(cli_env, "org", "set", "aztv", "--sidecar-auto-publish", "on")
    assert "sidecar auto-publish on" in on.stdout
    assert _auto_publish(cli_env, "aztv") is True
    run_cli(cli_env, "org", "set", "aztv", "--sidecar-auto-publish", "off")
    assert _auto_publish(cli_env, "aztv") is False
    missing = run_cli(cli_env, "org", "set", "nope", "--sidecar-auto-publish", "on", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "jointpool: error: no organization with code 'nope'"


def test_roles_table_command_prints_the_readme_table(cli_env: dict[str, str]) -> None:
    assert run_cli(cli_env, "roles-table").stdout.strip() == roles_markdown()
