"""Change events: the feed other broadcasters and the nightly sync follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pool_core.models import ChangeEvent


def record_change(
    session: Session,
    *,
    org_id: int | None,
    kind: str,
    subject_type: str,
    subject_id: str,
    data: dict[str, Any] | None = None,
) -> ChangeEvent:
    """Add a change event to the caller's unit of work."""
    event = ChangeEvent(
        org_id=org_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
        data=data or {},
    )
    session.add(event)
    session.flush()
    return event
