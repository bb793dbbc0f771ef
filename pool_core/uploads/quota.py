"""Quota: the bytes an organization uses, counted from the database."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.errors import QuotaExceeded
from pool_core.models import (
    Asset,
    FileEntry,
    Organization,
    PendingUpload,
    ReleasedObject,
    Rendition,
)


def used_bytes(session: Session, *, org_id: int, exclude_pending: uuid.UUID | None = None) -> int:
    """Every stored byte the organization owns, as the database knows them.

    Plain files (sidecars, reports), every version of every master until it is purged (a
    deleted or replaced master is kept for the retention period), their renditions, what
    pending uploads have staged, and the objects of deleted or overwritten plain files until
    the nightly sweep deletes them. Counting only the visible files let `STOR` + `DELE` in a
    loop grow storage without limit.
    """
    plain = session.scalar(
        select(func.coalesce(func.sum(FileEntry.size), 0)).where(
            FileEntry.org_id == org_id, FileEntry.is_dir.is_(False), FileEntry.asset_id.is_(None)
        )
    )
    kept = Asset.org_id == org_id, Asset.purged_at.is_(None)
    masters = session.scalar(select(func.coalesce(func.sum(Asset.size), 0)).where(*kept))
    renditions = session.scalar(
        select(func.coalesce(func.sum(Rendition.size), 0))
        .join(Asset, Asset.id == Rendition.asset_id)
        .where(*kept)
    )
    query = select(func.coalesce(func.sum(PendingUpload.committed_size), 0)).where(
        PendingUpload.org_id == org_id
    )
    if exclude_pending is not None:
        query = query.where(PendingUpload.id != exclude_pending)
    pending = session.scalar(query)
    released = session.scalar(
        select(func.coalesce(func.sum(ReleasedObject.size), 0)).where(
            ReleasedObject.org_id == org_id
        )
    )
    return sum(int(value or 0) for value in (plain, masters, renditions, pending, released))


def room_left(session: Session, *, org_id: int, path: str, pending_id: uuid.UUID) -> int | None:
    """Bytes the upload to `path` may store within the organization's quota (None: no quota).

    The upload's own pending bytes are not counted (they are what it stores). A file this
    upload replaces still counts: a replaced master is kept for the retention period, and a
    replaced plain file's object stays until the nightly sweep. Negative when already over.
    """
    org = session.get(Organization, org_id)
    if org is None or org.quota_bytes is None:
        return None
    return org.quota_bytes - used_bytes(session, org_id=org_id, exclude_pending=pending_id)


def quota_exceeded(path: str) -> QuotaExceeded:
    """The refusal of an upload that does not fit (FTP answers 552)."""
    return QuotaExceeded(
        "your organization's storage quota is used up; "
        f"{path} was not stored (delete files or ask for more space)"
    )
