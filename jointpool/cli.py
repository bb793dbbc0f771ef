"""`jointpool`: administer the pool and run its servers.

Every command builds the settings once here and passes them down. Failures print one line
(`jointpool: error: ...`) and exit non-zero.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from pool_core.context import AppContext
from pool_core.errors import PoolError
from pool_core.logs import configure_logging
from pool_core.settings import load_settings

log = logging.getLogger("jointpool")

Handler = Callable[[AppContext, argparse.Namespace], int]


def cmd_db_upgrade(ctx: AppContext, args: argparse.Namespace) -> int:
    """Upgrade the database schema to the newest revision."""
    from pool_core import migrate
    from pool_core.private_files import private_dir

    url = ctx.settings.effective_database_url
    private_dir(ctx.settings.data_dir)
    before = migrate.current_revision(url)
    migrate.upgrade(url)
    after = migrate.current_revision(url)
    if before == after:
        print(f"database already at revision {after}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_db_current(ctx: AppContext, args: argparse.Namespace) -> int:
    """Print the schema revision of the database."""
    from pool_core import migrate

    current = migrate.current_revision(ctx.settings.effective_database_url)
    head = migrate.head_revision()
    state = "up to date" if current == head else f"behind (newest is {head})"
    print(f"{current or 'empty'} ({state})")
    return 0 if current == head else 1


def cmd_org_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """Add a member broadcaster."""
    from pool_core.services import accounts

    quota = int(args.quota_gib * 1024**3) if args.quota_gib is not None else None
    with ctx.db.session() as session:
        org = accounts.create_organization(
            session, code=args.code, name=args.name, country=args.country, quota_bytes=quota
        )
        print(f"organization {org.code} ({org.name}, {org.country}) created")
    return 0


def cmd_org_list(ctx: AppContext, args: argparse.Namespace) -> int:
    """List member broadcasters."""
    from pool_core.services import accounts

    with ctx.db.session() as session:
        for org in accounts.list_organizations(session):
            quota = "unlimited" if org.quota_bytes is None else f"{org.quota_bytes} bytes"
            print(f"{org.code}\t{org.country}\t{org.name}\tquota {quota}")
    return 0


def cmd_org_set(ctx: AppContext, args: argparse.Namespace) -> int:
    """Change a member broadcaster's settings."""
    from pool_core.services import accounts

    with ctx.db.write_session() as session:
        org = accounts.get_organization_by_code(session, code=args.code)
        accounts.update_organization_settings(
            session, org_id=org.id, sidecar_auto_publish=args.sidecar_auto_publish == "on"
        )
        state = "on" if org.sidecar_auto_publish else "off"
        print(f"organization {org.code}: sidecar auto-publish {state}")
    return 0


def cmd_user_add(ctx: AppContext, args: argparse.Namespace) -> int:
    """Add a user; print the FTP password and API token once."""
    from pool_core.services import accounts

    with ctx.db.session() as session:
        org = accounts.get_organization_by_code(session, code=args.org)
        new = accounts.create_user(
            session, org=org, username=args.username, role=args.role, display_name=args.name
        )
        username = new.user.username
    print(f"user {username} ({args.role}) created in {args.org}")
    print("These secrets are shown once; store them now:")
    print(f"  FTP username: {username}")
    print(f"  FTP password: {new.ftp_password}")
    print(f"  API token:    {new.api_token}")
    return 0


def cmd_user_password(ctx: AppContext, args: argparse.Namespace) -> int:
    """Set a new random FTP password for a user and print it once."""
    from pool_core.services import accounts

    with ctx.db.session() as session:
        user = accounts.get_user_by_username(session, username=args.username)
        password = accounts.set_ftp_password(session, user=user)
    print(f"new FTP password for {args.username}: {password}")
    return 0


def cmd_user_token(ctx: AppContext, args: argparse.Namespace) -> int:
    """Issue an extra API token for a user and print it once."""
    from datetime import timedelta

    from pool_core.services import accounts

    max_ttl = timedelta(days=ctx.settings.api_token_max_days)
    ttl = max_ttl if args.days is None else timedelta(days=args.days)
    with ctx.db.session() as session:
        user = accounts.get_user_by_username(session, username=args.username)
        record, token = accounts.create_api_token(
            session, user=user, name=args.label, ttl=ttl, max_ttl=max_ttl
        )
        expires = record.expires_at
    print(f"API token for {args.username} (expires {expires:%Y-%m-%d}): {token}")
    return 0


def cmd_user_disable(ctx: AppContext, args: argparse.Namespace) -> int:
    """Disable a user: revoke their API tokens, refuse their logins, end their FTP sessions."""
    from pool_core.services import accounts

    with ctx.db.write_session() as session:
        user = accounts.get_user_by_username(session, username=args.username)
        revoked = accounts.disable_user(session, user=user)
    print(
        f"user {args.username} disabled; {revoked} API token(s) revoked; "
        "live FTP sessions end within seconds"
    )
    return 0


def cmd_org_disable(ctx: AppContext, args: argparse.Namespace) -> int:
    """Disable a member broadcaster: every user's logins, tokens and FTP sessions stop."""
    from pool_core.services import accounts

    with ctx.db.write_session() as session:
        org = accounts.get_organization_by_code(session, code=args.code)
        accounts.disable_organization(session, org=org)
    print(f"organization {args.code} disabled; live FTP sessions end within seconds")
    return 0


def cmd_s3(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run only the embedded SeaweedFS, in the foreground."""
    from jointpool.launcher import run_embedded_storage_forever

    return run_embedded_storage_forever(ctx.settings)


def cmd_up(ctx: AppContext, args: argparse.Namespace) -> int:
    """Run the whole pool in one terminal."""
    from jointpool.launcher import run_all

    return run_all(ctx)


def cmd_settings_table(ctx: AppContext, args: argparse.Namespace) -> int:
    """Print the README's configuration table, generated from the settings class."""
    from jointpool.settings_doc import settings_block

    print(settings_block())
    return 0


def cmd_roles_table(ctx: AppContext, args: argparse.Namespace) -> int:
    """Print the README's roles table, generated from pool_core.roles."""
    from pool_core.roles import roles_markdown

    print(roles_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="jointpool", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=(handler.__doc__ or "").strip().rstrip("."))
        sub.set_defaults(handler=handler)
        return sub

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    add(db, "upgrade", cmd_db_upgrade)
    add(db, "current", cmd_db_current)

    org = commands.add_parser("org", help="member broadcasters").add_subparsers(
        dest="org_command", required=True, metavar="ACTION"
    )
    org_add = add(org, "add", cmd_org_add)
    org_add.add_argument("code", help="short lower-case code, e.g. aztv")
    org_add.add_argument("--name", required=True, help="full name")
    org_add.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. AZ")
    org_add.add_argument("--quota-gib", type=float, default=None, help="storage quota in GiB")
    add(org, "list", cmd_org_list)
    add(org, "disable", cmd_org_disable).add_argument("code", help="organization code")
    org_set = add(org, "set", cmd_org_set)
    org_set.add_argument("code", help="organization code")
    org_set.add_argument(
        "--sidecar-auto-publish",
        required=True,
        choices=["on", "off"],
        help="on: sidecars may publish titles; off (default): sidecars only write drafts",
    )

    user = commands.add_parser("user", help="users and their credentials").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    user_add = add(user, "add", cmd_user_add)
    user_add.add_argument("org", help="organization code")
    user_add.add_argument("username")
    user_add.add_argument(
        "--role", required=True, choices=["admin", "rights_manager", "editor", "uploader"]
    )
    user_add.add_argument("--name", default="", help="display name")
    user_password = add(user, "password", cmd_user_password)
    user_password.add_argument("username")
    user_token = add(user, "token", cmd_user_token)
    user_token.add_argument("username")
    user_token.add_argument(
        "--days",
        type=int,
        default=None,
        help="days until it expires (default and maximum: JOINTPOOL_API_TOKEN_MAX_DAYS, 90)",
    )
    user_token.add_argument("--label", default="", help="a name to tell tokens apart")
    add(user, "disable", cmd_user_disable).add_argument("username")

    add(commands, "settings-table", cmd_settings_table)
    add(commands, "roles-table", cmd_roles_table)
    add(commands, "s3", cmd_s3)
    add(commands, "up", cmd_up)
    commands.add_parser("sync", help="mirror licensed masters (see `jointpool sync --help`)")

    from jointpool import servers, status

    servers.register(commands, add)
    status.register(commands, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sync"]:
        # The sync client runs at the broadcasters, with its own config file and no access to
        # the pool's database or settings; it only shares the command name.
        from pool_sync.cli import main as sync_main

        return sync_main(argv[1:], prog="jointpool sync")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(
            level=settings.log_level, component=args.command, log_format=settings.log_format
        )
        return int(args.handler(AppContext(settings), args))
    except PoolError as exc:
        print(f"jointpool: error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]) for error in exc.errors())
        print(f"jointpool: error: invalid settings: {reasons}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
