"""Change events (the feed other broadcasters follow) and audit events (who did what)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import Base, JSONType, bigintpk, timestamp


class ChangeEvent(Base):
    """Something visible changed; the id is the feed's monotonic cursor."""

    __tablename__ = "change_events"

    id: Mapped[bigintpk]
    # The organization the change belongs to (who may see it is decided by the feed).
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[timestamp]


class AuditEvent(Base):
    """A record of one action by a user, a system component or an anonymous client."""

    __tablename__ = "audit_events"

    id: Mapped[bigintpk]
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), nullable=True, index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # "ftp", "api", "worker", "cli": which door it came through.
    channel: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(255), default="")
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[timestamp]
