"""Who acts: a user (or the pool itself) for an organization, through one door."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from pool_core.models import Role, User
from pool_core.services.audit import record_audit


@dataclass(frozen=True)
class Actor:
    """Who acts for which organization, and through which door (for the audit trail).

    `role` None is the pool itself acting for the organization (sidecar ingest): it may
    write that organization's catalog whatever the uploader's role.
    """

    org_id: int
    user_id: int | None
    role: Role | None
    channel: str = "api"
    remote_addr: str | None = None

    @classmethod
    def for_user(cls, user: User, *, channel: str = "api", remote_addr: str | None = None) -> Actor:
        """A user acting through a channel."""
        return cls(user.org_id, user.id, user.role, channel, remote_addr)

    @classmethod
    def system(cls, *, org_id: int, on_behalf_of: int | None = None) -> Actor:
        """The pool's worker acting for an organization (e.g. applying a sidecar)."""
        return cls(org_id, on_behalf_of, None, "worker", None)


def audit_as(
    session: Session,
    actor: Actor,
    *,
    action: str,
    subject: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record an audit event for what the actor did, through the actor's door."""
    record_audit(
        session,
        channel=actor.channel,
        action=action,
        org_id=actor.org_id,
        user_id=actor.user_id,
        subject=subject,
        remote_addr=actor.remote_addr,
        detail=detail,
    )
