"""The delivery log: every hand-out of a licensed master or rendition, counted per license."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.licensing.workflow import get_license
from pool_core.models import (
    Delivery,
)


def record_delivery(
    session: Session,
    *,
    license_id: int,
    asset_id: uuid.UUID,
    org_id: int,
    channel: str,
    user_id: int | None = None,
    offset: int = 0,
    remote_addr: str | None = None,
) -> Delivery:
    """Log one delivery of a licensed master against its license."""
    delivery = Delivery(
        license_id=license_id,
        asset_id=asset_id,
        org_id=org_id,
        user_id=user_id,
        channel=channel,
        offset=offset,
        remote_addr=remote_addr,
    )
    session.add(delivery)
    session.flush()
    return delivery


def list_deliveries(session: Session, *, license_id: int, org_id: int) -> list[Delivery]:
    """Return the delivery log of a license the organization granted or holds."""
    get_license(session, license_id=license_id, org_id=org_id)
    return list(
        session.scalars(
            select(Delivery).where(Delivery.license_id == license_id).order_by(Delivery.id)
        )
    )
