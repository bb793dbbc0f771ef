"""The durable job queue's one table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import (
    Base,
    JSONType,
    StrEnum,
    UTCDateTime,
    enum_column,
    optional_timestamp,
    timestamp,
    timestamp_updated,
    utcnow,
    uuidpk,
)


class JobStatus(StrEnum):
    """queued → running → succeeded | failed (or back to queued for a retry)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    """A unit of background work, claimed by one runner at a time under a lease."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claimable", "status", "run_after"),
        # Finds running jobs whose runner died (lease expired) without scanning them all.
        Index("ix_jobs_lease", "status", "lease_expires_at"),
    )

    id: Mapped[uuidpk]
    kind: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[JobStatus] = enum_column(JobStatus, default=JobStatus.QUEUED)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Claims so far, including the one running now; a takeover after a lease expiry counts.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_expires_at: Mapped[optional_timestamp]
    locked_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # How often a runner died (or hung) holding this job; a person reading a failure wants it.
    lease_expirations: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Optional owner for scoping and listing (e.g. the asset's organization).
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]
    finished_at: Mapped[optional_timestamp]
