"""Helpers for transcode tests: put a master in storage and make its asset (and job)."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core import queue
from pool_core.db import SQLITE_IMMEDIATE, Database
from pool_core.models import Asset, ChangeEvent, Organization
from pool_core.storage.base import ObjectStorage
from tests.fixtures.orgs import make_org

ORG_NAME = "Qazaqstan TV"


def _write_lock(db: Database, session: Session) -> None:
    # Read-then-write in a deferred SQLite transaction fails at once ("database is locked")
    # if a worker process wrote in between; taking the write lock first makes it wait.
    if db.is_sqlite:
        session.connection(execution_options=SQLITE_IMMEDIATE)


def owner_org_id(db: Database, *, name: str = ORG_NAME) -> int:
    """Find (or create) the owner organization and return its id."""
    with db.session() as session:
        _write_lock(db, session)
        org = session.scalar(select(Organization).where(Organization.name == name))
        if org is None:
            org = make_org(session, f"o{uuid.uuid4().hex[:8]}", name=name, country="KZ")
        return org.id


def make_asset(db: Database, storage: ObjectStorage, master: Path, *, enqueue: bool = False) -> str:
    """Upload a master and create its asset as the FTP ingress would; return the asset id."""
    org_id = owner_org_id(db)
    asset_id = uuid.uuid4()
    key = f"masters/{org_id}/{asset_id}/{master.name}"
    with open(master, "rb") as handle:
        storage.put(key, handle)
    with db.session() as session:
        _write_lock(db, session)
        session.add(
            Asset(
                id=asset_id,
                org_id=org_id,
                filename=master.name,
                object_key=key,
                size=master.stat().st_size,
            )
        )
        session.flush()
        if enqueue:
            queue.enqueue(
                session, kind="transcode", payload={"asset_id": str(asset_id)}, org_id=org_id
            )
    return str(asset_id)


def load_asset(db: Database, asset_id: str) -> Asset:
    """The asset with its renditions loaded."""
    with db.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None
        _ = list(asset.renditions)
        return asset


def change_kinds(db: Database, asset_id: str) -> list[str]:
    """The change-event kinds written for one asset, oldest first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(ChangeEvent.kind)
                .where(ChangeEvent.subject_id == asset_id)
                .order_by(ChangeEvent.id)
            )
        )
