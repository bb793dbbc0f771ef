"""Demo accounts for the embedded default, so `make run` is usable at once.

Created on the first run only; their secrets are kept (0600) under DATA_DIR so the banner
can show them again. Never used when an external S3 is configured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from pool_core.context import AppContext
from pool_core.models import Organization
from pool_core.private_files import private_dir, write_private
from pool_core.services import accounts
from pool_core.settings import Settings

DEMO_ORGS = (
    ("demo-az", "Demo Azerbaijan TV", "AZ"),
    ("demo-kz", "Demo Kazakhstan TV", "KZ"),
)
DEMO_USERS = (
    ("demo-az", "az-uploader", "uploader"),
    ("demo-az", "az-rights", "rights_manager"),
    ("demo-kz", "kz-editor", "editor"),
    ("demo-kz", "kz-uploader", "uploader"),
)


@dataclass(frozen=True)
class DemoUser:
    """One demo login."""

    org: str
    username: str
    role: str
    ftp_password: str
    api_token: str


def credentials_path(settings: Settings) -> Path:
    """Where the demo secrets are kept."""
    return settings.data_dir / "demo-credentials.json"


def ensure_demo_accounts(ctx: AppContext) -> list[DemoUser]:
    """Create the demo organizations and users once; return their credentials."""
    path = credentials_path(ctx.settings)
    if path.exists():
        return [DemoUser(**item) for item in json.loads(path.read_text())]
    created: list[DemoUser] = []
    with ctx.db.session() as session:
        if session.scalar(select(Organization.id).where(Organization.code == "demo-az")):
            # Seeded before but the file is gone: do not invent secrets we cannot show.
            return []
        orgs = {
            code: accounts.create_organization(session, code=code, name=name, country=country)
            for code, name, country in DEMO_ORGS
        }
        for org_code, username, role in DEMO_USERS:
            new = accounts.create_user(session, org=orgs[org_code], username=username, role=role)
            created.append(DemoUser(org_code, username, role, new.ftp_password, new.api_token))
    private_dir(path.parent)
    write_private(path, json.dumps([asdict(user) for user in created], indent=2).encode())
    return created
