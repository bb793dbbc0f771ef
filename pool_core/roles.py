"""What each role may do: one table, enforced by the API's dependencies and the FTP server.

`PERMISSIONS` says which roles hold each `Action`; `ROUTES` names the action every API route
needs and `FTP_COMMANDS` the action of every FTP command that changes the tree. The README's
roles table is generated from these (`jointpool roles-table`), and the tests walk every route
and every FTP write command for every role, so the table, the code and the documentation
cannot drift apart.

On FTP, an uploader changes (deletes, renames, overwrites, appends to, re-dates) only what
they uploaded themselves: the masters whose asset records them as uploader and the pending
uploads they started. An admin may change anything in `/incoming`. Files the pool records
no uploader for (sidecars, checksum files, other plain files, folders) may be changed by every
role that may upload; a folder may be renamed only when nothing below it belongs to another
user. Editors and rights managers only read over FTP (`/incoming`, `/licensed`).

The services keep their own checks (defence in depth); a test asserts they agree with this
table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.db import Database
from pool_core.errors import PermissionDenied
from pool_core.files import tree
from pool_core.models import Asset, FileEntry, PendingUpload, Role
from pool_core.names import resolve_path


class Action(StrEnum):
    """Something a role may be allowed to do."""

    ACCOUNT_SELF = "account_self"
    MANAGE_USERS = "manage_users"
    ORG_READ = "org_read"
    ORG_SETTINGS = "org_settings"
    CATALOG_READ = "catalog_read"
    CATALOG_WRITE = "catalog_write"
    SCREEN = "screen"
    LICENSING_READ = "licensing_read"
    LICENSE_REQUEST = "license_request"
    RIGHTS_MANAGE = "rights_manage"
    WEBHOOKS = "webhooks"
    FTP_READ = "ftp_read"
    FTP_UPLOAD = "ftp_upload"
    FTP_CHANGE_OWN = "ftp_change_own"
    FTP_CHANGE_ANY = "ftp_change_any"


ALL = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Grant:
    """One row of the roles table: an action, what it means, and who holds it."""

    action: Action
    meaning: str
    roles: frozenset[Role]


# THE table. Order is the README's row order.
GRANTS: tuple[Grant, ...] = (
    Grant(Action.ACCOUNT_SELF, "see yourself; list, create and revoke your own API tokens", ALL),
    Grant(
        Action.MANAGE_USERS,
        "add users to your organization, list their tokens, disable them (offboarding)",
        ADMIN,
    ),
    Grant(Action.ORG_READ, "read your organization's settings", ALL),
    Grant(Action.ORG_SETTINGS, "change your organization's settings (sidecar auto-publish)", ADMIN),
    Grant(
        Action.CATALOG_READ,
        "search and read the catalog, your assets and uploads, the change feed",
        ALL,
    ),
    Grant(
        Action.CATALOG_WRITE,
        "create, change and delete your titles, episodes and seasons; link assets; audio mapping",
        frozenset({Role.ADMIN, Role.EDITOR}),
    ),
    Grant(
        Action.SCREEN,
        "screen proxies (short-lived preview URLs)",
        frozenset({Role.ADMIN, Role.EDITOR, Role.RIGHTS_MANAGER}),
    ),
    Grant(
        Action.LICENSING_READ,
        "read rights windows, license requests, licenses, deliveries; download licensed masters",
        ALL,
    ),
    Grant(
        Action.LICENSE_REQUEST,
        "request a license for another member's title",
        frozenset({Role.ADMIN, Role.RIGHTS_MANAGER, Role.EDITOR}),
    ),
    Grant(
        Action.RIGHTS_MANAGE,
        "set rights windows; approve, decline and revoke licenses",
        frozenset({Role.ADMIN, Role.RIGHTS_MANAGER}),
    ),
    Grant(
        Action.WEBHOOKS,
        "see and manage webhooks",
        frozenset({Role.ADMIN, Role.RIGHTS_MANAGER}),
    ),
    Grant(Action.FTP_READ, "FTP: log in, list, download, sizes and checksums", ALL),
    Grant(
        Action.FTP_UPLOAD,
        "FTP: upload new files and create folders in /incoming",
        frozenset({Role.ADMIN, Role.UPLOADER}),
    ),
    Grant(
        Action.FTP_CHANGE_OWN,
        "FTP: delete, rename, overwrite, continue, re-date what you uploaded; remove folders",
        frozenset({Role.ADMIN, Role.UPLOADER}),
    ),
    Grant(Action.FTP_CHANGE_ANY, "FTP: the same on what another user uploaded", ADMIN),
)
PERMISSIONS: dict[Action, frozenset[Role]] = {grant.action: grant.roles for grant in GRANTS}

# Routes anyone may call, without a token.
PUBLIC = None
# (method, route path) -> the action it needs (`PUBLIC`: none, no token).
ROUTES: dict[tuple[str, str], Action | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/v1/genres"): PUBLIC,
    ("GET", "/v1/sidecar-schema"): PUBLIC,
    ("GET", "/v1/me"): Action.ACCOUNT_SELF,
    ("GET", "/v1/tokens"): Action.ACCOUNT_SELF,
    ("POST", "/v1/tokens"): Action.ACCOUNT_SELF,
    ("DELETE", "/v1/tokens/{token_id}"): Action.ACCOUNT_SELF,
    ("POST", "/v1/users"): Action.MANAGE_USERS,
    ("GET", "/v1/users/{user_id}/tokens"): Action.MANAGE_USERS,
    ("POST", "/v1/users/{user_id}/disable"): Action.MANAGE_USERS,
    ("GET", "/v1/organization"): Action.ORG_READ,
    ("PATCH", "/v1/organization"): Action.ORG_SETTINGS,
    ("GET", "/v1/search"): Action.CATALOG_READ,
    ("GET", "/v1/search/subtitles"): Action.CATALOG_READ,
    ("GET", "/v1/changes"): Action.CATALOG_READ,
    ("GET", "/v1/uploads"): Action.CATALOG_READ,
    ("GET", "/v1/titles"): Action.CATALOG_READ,
    ("GET", "/v1/titles/{title_id}"): Action.CATALOG_READ,
    ("GET", "/v1/titles/{title_id}/episodes"): Action.CATALOG_READ,
    ("GET", "/v1/titles/{title_id}/seasons"): Action.CATALOG_READ,
    ("GET", "/v1/assets"): Action.CATALOG_READ,
    ("GET", "/v1/assets/{asset_id}"): Action.CATALOG_READ,
    ("POST", "/v1/titles"): Action.CATALOG_WRITE,
    ("PATCH", "/v1/titles/{title_id}"): Action.CATALOG_WRITE,
    ("DELETE", "/v1/titles/{title_id}"): Action.CATALOG_WRITE,
    ("POST", "/v1/titles/{title_id}/episodes"): Action.CATALOG_WRITE,
    ("PUT", "/v1/titles/{title_id}/seasons/{number}"): Action.CATALOG_WRITE,
    ("DELETE", "/v1/titles/{title_id}/seasons/{number}"): Action.CATALOG_WRITE,
    ("PUT", "/v1/assets/{asset_id}/link"): Action.CATALOG_WRITE,
    ("PUT", "/v1/assets/{asset_id}/audio-mapping"): Action.CATALOG_WRITE,
    ("POST", "/v1/assets/{asset_id}/screenings"): Action.SCREEN,
    ("GET", "/v1/assets/{asset_id}/subtitles"): Action.CATALOG_READ,
    ("GET", "/v1/assets/{asset_id}/subtitles/{language}"): Action.SCREEN,
    ("PUT", "/v1/assets/{asset_id}/subtitles/{language}"): Action.CATALOG_WRITE,
    ("GET", "/v1/titles/{title_id}/rights-windows"): Action.LICENSING_READ,
    ("GET", "/v1/license-requests"): Action.LICENSING_READ,
    ("GET", "/v1/license-requests/{request_id}"): Action.LICENSING_READ,
    ("GET", "/v1/licenses"): Action.LICENSING_READ,
    ("GET", "/v1/licenses/{license_id}"): Action.LICENSING_READ,
    ("GET", "/v1/licenses/{license_id}/deliveries"): Action.LICENSING_READ,
    ("GET", "/v1/licensed-assets"): Action.LICENSING_READ,
    ("GET", "/v1/assets/{asset_id}/download"): Action.LICENSING_READ,
    ("POST", "/v1/license-requests"): Action.LICENSE_REQUEST,
    ("POST", "/v1/titles/{title_id}/rights-windows"): Action.RIGHTS_MANAGE,
    ("POST", "/v1/license-requests/{request_id}/approve"): Action.RIGHTS_MANAGE,
    ("POST", "/v1/license-requests/{request_id}/decline"): Action.RIGHTS_MANAGE,
    ("POST", "/v1/licenses/{license_id}/revoke"): Action.RIGHTS_MANAGE,
    ("POST", "/v1/webhooks"): Action.WEBHOOKS,
    ("GET", "/v1/webhooks"): Action.WEBHOOKS,
    ("GET", "/v1/webhooks/{webhook_id}"): Action.WEBHOOKS,
    ("PATCH", "/v1/webhooks/{webhook_id}"): Action.WEBHOOKS,
    ("DELETE", "/v1/webhooks/{webhook_id}"): Action.WEBHOOKS,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Action.WEBHOOKS,
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): Action.WEBHOOKS,
}

# Each route template as a pattern: a `{parameter}` is one path segment.
_ROUTE_PATTERNS: tuple[tuple[tuple[str, str], re.Pattern[str]], ...] = tuple(
    (key, re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(key[1])))) for key in ROUTES
)

# FTP commands that change the tree -> the action they need. Every other command only reads
# (FTP_READ, which every role holds). STOU and SITE CHMOD are not offered at all.
FTP_COMMANDS: dict[str, Action] = {
    "STOR": Action.FTP_UPLOAD,
    "APPE": Action.FTP_UPLOAD,
    "MKD": Action.FTP_UPLOAD,
    "XMKD": Action.FTP_UPLOAD,
    "DELE": Action.FTP_CHANGE_OWN,
    "RNFR": Action.FTP_CHANGE_OWN,
    "RNTO": Action.FTP_CHANGE_OWN,
    "RMD": Action.FTP_CHANGE_OWN,
    "XRMD": Action.FTP_CHANGE_OWN,
    "MFMT": Action.FTP_CHANGE_OWN,
}
# Commands whose target, when it exists, must be the user's own (or the user an admin).
_OWNED_TARGET = frozenset({"STOR", "APPE", "DELE", "RNFR", "MFMT"})


def may(role: Role | str, action: Action) -> bool:
    """Whether the role holds the action."""
    return Role(role) in PERMISSIONS[action]


def require(role: Role | str, action: Action) -> None:
    """Raise PermissionDenied unless the role holds the action."""
    if not may(role, action):
        raise PermissionDenied(f"the {Role(role)} role may not {_meaning(action)}")


def _meaning(action: Action) -> str:
    text = next(grant.meaning for grant in GRANTS if grant.action is action)
    return text.removeprefix("FTP: ")


def route_of(method: str, path: str) -> tuple[str, str] | None:
    """The `ROUTES` key (method, template) a concrete request path falls under, if any."""
    method = method.upper()
    method = "GET" if method == "HEAD" else method
    for key, pattern in _ROUTE_PATTERNS:
        if key[0] == method and pattern.fullmatch(path):
            return key
    return None


def require_route(role: Role | str, method: str, path: str) -> None:
    """Raise PermissionDenied unless the role may call the route of this request path.

    Matched against the table itself (not the framework's route object), so the check does
    not depend on how routers are nested; a path that is in no row is open to no role.
    """
    key = route_of(method, path)
    if key is None:
        raise PermissionDenied(f"{method} {path} is not open to any role")
    action = ROUTES[key]
    if action is not None:
        require(role, action)


def roles_holding(action: Action) -> frozenset[Role]:
    """The roles that hold an action."""
    return PERMISSIONS[action]


# --- FTP -------------------------------------------------------------------------------------


class Member(Protocol):
    """Who a session acts for (the FTP server's principal)."""

    @property
    def user_id(self) -> int:
        """The user."""

    @property
    def org_id(self) -> int:
        """The user's organization."""

    @property
    def role(self) -> Role:
        """The user's role."""


def check_ftp_command(db: Database, member: Member, command: str, arg: str, *, cwd: str) -> None:
    """Raise PermissionDenied (550) when the member's role may not run this FTP command here.

    `arg` is the command's raw argument and `cwd` the session's folder. Read commands, and
    commands without an argument (pyftpdlib answers those 501), are left alone.
    """
    action = FTP_COMMANDS.get(command.upper())
    if action is None or not arg:
        return
    require(member.role, action)
    if command.upper() not in _OWNED_TARGET or may(member.role, Action.FTP_CHANGE_ANY):
        return
    target = arg.split(" ", 1)[1] if command.upper() == "MFMT" and " " in arg else arg
    path = resolve_path(cwd, target)
    with db.session() as session:
        others = _other_owners(session, member, path)
    if others:
        raise PermissionDenied(
            f"{path} holds uploads of another user; only its uploader or an admin may change it"
        )


def _other_owners(session: Session, member: Member, path: str) -> set[int]:
    """Users other than the member who uploaded the file at `path` or anything below it."""
    owners: set[int | None] = set()
    entry = tree.get_entry(session, org_id=member.org_id, path=path)
    pending = tree.get_pending(session, org_id=member.org_id, path=path)
    if pending is not None:
        owners.add(pending.owner_user_id)
    if entry is not None and entry.is_dir:
        owners |= _owners_below(session, member.org_id, entry.id, path)
    elif entry is not None and entry.asset_id is not None:
        owners.add(session.scalar(select(Asset.uploaded_by).where(Asset.id == entry.asset_id)))
    return {owner for owner in owners if owner is not None and owner != member.user_id}


def _owners_below(
    session: Session, org_id: int, folder_id: uuid.UUID, path: str
) -> set[int | None]:
    owners: set[int | None] = set()
    folders = [folder_id]
    while folders:
        children = session.execute(
            select(FileEntry.id, FileEntry.is_dir, FileEntry.asset_id).where(
                FileEntry.org_id == org_id, FileEntry.parent_id.in_(folders)
            )
        ).all()
        folders = [row.id for row in children if row.is_dir]
        assets = [row.asset_id for row in children if row.asset_id is not None]
        if assets:
            owners |= set(session.scalars(select(Asset.uploaded_by).where(Asset.id.in_(assets))))
    prefix = path.rstrip("/") + "/"
    owners |= set(
        session.scalars(
            select(PendingUpload.owner_user_id).where(
                PendingUpload.org_id == org_id,
                func.substr(PendingUpload.path, 1, len(prefix)) == prefix,
            )
        )
    )
    return owners


# --- documentation ---------------------------------------------------------------------------

ROLE_COLUMNS: tuple[Role, ...] = (Role.ADMIN, Role.RIGHTS_MANAGER, Role.EDITOR, Role.UPLOADER)
TABLE_BEGIN = "<!-- roles-table:begin (generated by `jointpool roles-table`) -->"
TABLE_END = "<!-- roles-table:end -->"


def _where(action: Action) -> str:
    routes = [f"`{m} {p}`" for (m, p), a in ROUTES.items() if a is action]
    commands = [f"`{c}`" for c, a in FTP_COMMANDS.items() if a is action]
    if action is Action.FTP_READ:
        commands = ["every other command"]
    if action is Action.FTP_CHANGE_ANY:
        commands = [f"`{c}`" for c in sorted(_OWNED_TARGET)]
    return "<br>".join(_join(routes) + _join(commands))


def _join(items: Iterable[str]) -> list[str]:
    listed = list(items)
    return [", ".join(listed)] if listed else []


def roles_markdown() -> str:
    """The README's roles table (between its markers)."""
    head = "| may | where | " + " | ".join(f"`{r}`" for r in ROLE_COLUMNS) + " |"
    rule = "| --- | --- | " + " | ".join(":-:" for _ in ROLE_COLUMNS) + " |"
    rows = [
        f"| {grant.meaning} | {_where(grant.action)} | "
        + " | ".join("yes" if role in grant.roles else "—" for role in ROLE_COLUMNS)
        + " |"
        for grant in GRANTS
    ]
    return "\n".join([TABLE_BEGIN, head, rule, *rows, TABLE_END])
