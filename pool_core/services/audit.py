"""Audit trail: who did what, through which door."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pool_core.models import AuditEvent


def record_audit(
    session: Session,
    *,
    channel: str,
    action: str,
    org_id: int | None = None,
    user_id: int | None = None,
    subject: str = "",
    remote_addr: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's unit of work."""
    event = AuditEvent(
        channel=channel,
        action=action,
        org_id=org_id,
        user_id=user_id,
        subject=subject[:255],
        remote_addr=remote_addr,
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    return event
