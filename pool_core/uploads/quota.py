"""Quota: the bytes an organization uses, counted from the database."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.models import FileEntry, PendingUpload


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
