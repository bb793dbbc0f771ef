"""Rights windows, license requests and licenses, deliveries, and outgoing webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import (
    Base,
    BigIntPK,
    JSONType,
    StrEnum,
    UTCDateTime,
    bigintpk,
    enum_column,
    intpk,
    optional_timestamp,
    timestamp,
    timestamp_updated,
)

# Titles belong to the catalog (`pool_core.models.catalog`); licensing refers to them by key.
TITLES_FK = "titles.id"


class LicenseType(StrEnum):
    """The commercial basis of a window or license."""

    FREE_EXCHANGE = "free_exchange"
    PAID = "paid"
    NEWS_ONLY = "news_only"


class RequestStatus(StrEnum):
    """pending → approved | declined | cancelled."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class LicenseStatus(StrEnum):
    """active → revoked | expired. A license is usable only while active and in its period."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class WebhookDeliveryStatus(StrEnum):
    """pending → succeeded | failed (after the queue's last retry)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RightsWindow(Base):
    """What the owner of a title offers: where, when, on which terms."""

    __tablename__ = "rights_windows"

    id: Mapped[intpk]
    title_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(TITLES_FK, ondelete="CASCADE"), index=True
    )
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # ISO 3166-1 alpha-2 codes of the member countries the window covers.
    territories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Whether exclusive licenses may be granted inside this window.
    exclusivity: Mapped[bool] = mapped_column(Boolean, default=False)
    license_type: Mapped[LicenseType] = enum_column(LicenseType)
    # Periods inside the window when no license may run:
    # [{"territories": ["KZ"], "starts_at": iso, "ends_at": iso, "reason": "..."}].
    holdbacks: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class LicenseRequest(Base):
    """An editor's request to license a title (or some of its episodes) from its owner."""

    __tablename__ = "license_requests"

    id: Mapped[intpk]
    title_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(TITLES_FK, ondelete="CASCADE"), index=True
    )
    # Episode ids (UUID strings); empty = the whole title.
    episode_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    requester_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    licensor_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    territories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    license_type: Mapped[LicenseType] = enum_column(LicenseType)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RequestStatus] = enum_column(RequestStatus, default=RequestStatus.PENDING)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[optional_timestamp]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class License(Base):
    """A granted right for one organization to use a title in territories for a period."""

    __tablename__ = "licenses"
    __table_args__ = (Index("ix_licenses_title_status", "title_id", "status"),)

    id: Mapped[intpk]
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("license_requests.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    rights_window_id: Mapped[int | None] = mapped_column(
        ForeignKey("rights_windows.id", ondelete="SET NULL"), nullable=True
    )
    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(TITLES_FK, ondelete="CASCADE"))
    episode_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    licensor_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    licensee_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    territories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    license_type: Mapped[LicenseType] = enum_column(LicenseType)
    status: Mapped[LicenseStatus] = enum_column(LicenseStatus, default=LicenseStatus.ACTIVE)
    granted_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    revoked_at: Mapped[optional_timestamp]
    revoked_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    expired_at: Mapped[optional_timestamp]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class Delivery(Base):
    """One hand-over of a licensed master (API URL, FTP RETR, sync), logged against its license."""

    __tablename__ = "deliveries"

    id: Mapped[bigintpk]
    license_id: Mapped[int] = mapped_column(
        ForeignKey("licenses.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # "api" (presigned URL handed out), "ftp" (RETR), ...
    channel: Mapped[str] = mapped_column(String(16))
    # Byte offset the client started at (REST / Range), when known.
    offset: Mapped[int] = mapped_column(BigIntPK, default=0)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[timestamp]


class WebhookEndpoint(Base):
    """A URL of an organization that receives its change feed as signed POSTs."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Kept in clear: we must compute the HMAC with it; shown once at creation.
    secret: Mapped[str] = mapped_column(String(128))
    # The secret before the last rotation, still signed with until it expires (the grace
    # period lets receivers switch over without dropping a delivery).
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_expires_at: Mapped[optional_timestamp]
    # Event kinds to send; empty = all the organization may see.
    event_kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where this endpoint is in the change feed (an opaque feed cursor).
    feed_cursor: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class WebhookDelivery(Base):
    """One change event sent (or being sent) to one endpoint: the delivery log."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[bigintpk]
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    change_event_id: Mapped[int] = mapped_column(BigIntPK)
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[WebhookDeliveryStatus] = enum_column(
        WebhookDeliveryStatus, default=WebhookDeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[optional_timestamp]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]
