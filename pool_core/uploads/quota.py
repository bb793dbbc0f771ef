"""Quota: the bytes an organization uses, counted from the database."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.files.tree import get_entry
from pool_core.models import FileEntry, Organization, PendingUpload


def used_bytes(session: Session, *, org_id: int, exclude_pending: uuid.UUID | None = None) -> int:
    """Bytes an organization uses: its files plus what its pending uploads have stored."""
    files = session.scalar(
        select(func.coalesce(func.sum(FileEntry.size), 0)).where(
            FileEntry.org_id == org_id, FileEntry.is_dir.is_(False)
        )
    )
    query = select(func.coalesce(func.sum(PendingUpload.committed_size), 0)).where(
        PendingUpload.org_id == org_id
    )
    if exclude_pending is not None:
        query = query.where(PendingUpload.id != exclude_pending)
    pending = session.scalar(query)
    return int(files or 0) + int(pending or 0)


def room_left(session: Session, *, org_id: int, path: str, pending_id: uuid.UUID) -> int | None:
    """Bytes the upload to `path` may store within the organization's quota (None: no quota).

    The upload's own pending bytes are not counted (they are what it stores), and a complete
    file at `path` counts as freed (this upload replaces it). Negative when already over.
    """
    org = session.get(Organization, org_id)
    if org is None or org.quota_bytes is None:
        return None
    used = used_bytes(session, org_id=org_id, exclude_pending=pending_id)
    replaced = get_entry(session, org_id=org_id, path=path)
    if replaced is not None and not replaced.is_dir:
        used -= replaced.size
    return org.quota_bytes - used
