"""Who acts: a user (or the pool itself) for an organization, through one door."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from pool_core.models import Role, User
from pool_core.services.audit import record_audit

# The doors an actor comes through (the audit trail's and the delivery log's `channel`). The
# nightly sync is an API client: what it does is recorded as `api` (`api:proxy` for a proxy).
FTP = "ftp"
API = "api"
# The editors' web UI: the same services as the API, through a browser session.
WEB = "web"
SYSTEM = "system"
CHANNELS = (FTP, API, WEB, SYSTEM)


@dataclass(frozen=True)
class Actor:
    """Who acts for which organization, and through which door (for the audit trail).

    `role` None is the pool itself acting for the organization (sidecar ingest): it may
    write that organization's catalog whatever the uploader's role.
    """

    org_id: int
    user_id: int | None
    role: Role | None
    # The door: one of CHANNELS, set by the adapter the request came through.
    channel: str = API
    remote_addr: str | None = None
    # Who, for people reading logs (the username; "" for the pool itself).
    name: str = ""

    @classmethod
    def for_user(cls, user: User, *, channel: str = API, remote_addr: str | None = None) -> Actor:
        """A user acting through a channel."""
        return cls(user.org_id, user.id, user.role, channel, remote_addr, user.username)

    @classmethod
    def system(cls, *, org_id: int, on_behalf_of: int | None = None) -> Actor:
        """The pool itself acting for an organization (a worker applying a sidecar, a sweep)."""
        return cls(org_id, on_behalf_of, None, SYSTEM, None)


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
