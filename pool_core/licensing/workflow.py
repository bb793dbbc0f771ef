"""The license workflow: requests, approvals and declines, licenses, revocation and expiry."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pool_core.common.actor import Actor, audit_as
from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.licensing.rights import (
    REQUEST_ROLES,
    RIGHTS_ROLES,
    LicenseClash,
    check_period,
    checked_episode_ids,
    covering_window,
    find_clash,
    parse_license_type,
    require_role,
    territory_codes,
    visible_title,
)
from pool_core.models import (
    License,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    RequestStatus,
    RightsWindow,
    utcnow,
)
from pool_core.services.changes import record_change

# License events are what rights managers act on, so they are on the console at INFO
# (logged once flushed, just before the request's unit of work commits).
logger = logging.getLogger("pool_core.licensing")


# --- the workflow ------------------------------------------------------------------------------


def request_license(
    session: Session,
    *,
    actor: Actor,
    title_id: uuid.UUID,
    territories: Iterable[str],
    starts_at: datetime,
    ends_at: datetime,
    license_type: LicenseType | str,
    exclusive: bool = False,
    episode_ids: Iterable[str | uuid.UUID] = (),
    message: str = "",
) -> LicenseRequest:
    """Ask the owner of a title for a license."""
    require_role(actor, REQUEST_ROLES, "request licenses")
    title = visible_title(session, title_id=title_id, org_id=actor.org_id)
    if title.org_id == actor.org_id:
        raise InvalidInput("an organization cannot license its own title")
    check_period(starts_at, ends_at)
    request = LicenseRequest(
        title_id=title.id,
        episode_ids=checked_episode_ids(session, title=title, episode_ids=episode_ids),
        requester_org_id=actor.org_id,
        requested_by=actor.user_id,
        licensor_org_id=title.org_id,
        territories=territory_codes(territories),
        starts_at=starts_at,
        ends_at=ends_at,
        exclusive=exclusive,
        license_type=parse_license_type(license_type),
        message=message,
    )
    session.add(request)
    session.flush()
    audit_as(
        session,
        actor,
        action="license_request.create",
        subject=f"license_request:{request.id}",
        detail={"title_id": str(title.id)},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind="license.requested",
        subject_type="license_request",
        subject_id=str(request.id),
        data=_request_data(request),
    )
    logger.info(
        "license requested",
        extra={"request_id": request.id, "title_id": str(title.id), "by": actor.name},
    )
    return request


def get_request(session: Session, *, request_id: int, org_id: int) -> LicenseRequest:
    """Return a request the organization made or received."""
    request = session.get(LicenseRequest, request_id)
    if request is None or org_id not in (request.requester_org_id, request.licensor_org_id):
        raise NotFound(f"no license request {request_id}")
    return request


def list_requests(
    session: Session,
    *,
    org_id: int,
    status: RequestStatus | str | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[LicenseRequest]:
    """Return requests the organization made or received, oldest first."""
    query = select(LicenseRequest).where(
        or_(LicenseRequest.requester_org_id == org_id, LicenseRequest.licensor_org_id == org_id)
    )
    if status is not None:
        query = query.where(LicenseRequest.status == RequestStatus(status))
    if after_id is not None:
        query = query.where(LicenseRequest.id > after_id)
    return list(session.scalars(query.order_by(LicenseRequest.id).limit(limit)))


def _pending_for_decision(session: Session, *, request_id: int, actor: Actor) -> LicenseRequest:
    request = get_request(session, request_id=request_id, org_id=actor.org_id)
    if request.licensor_org_id != actor.org_id:
        raise PermissionDenied("only the owner's rights manager may decide on a request")
    require_role(actor, RIGHTS_ROLES, "decide on license requests")
    if request.status != RequestStatus.PENDING:
        raise Conflict(f"license request {request.id} is already {request.status.value}")
    return request


def approve_request(
    session: Session, *, request_id: int, actor: Actor, comment: str = ""
) -> License:
    """Grant a pending request after checking rights windows and exclusivity."""
    request = _pending_for_decision(session, request_id=request_id, actor=actor)
    window = _allowing_window(session, request)
    now = utcnow()
    license_ = License(
        request_id=request.id,
        rights_window_id=window.id,
        title_id=request.title_id,
        episode_ids=list(request.episode_ids),
        licensor_org_id=request.licensor_org_id,
        licensee_org_id=request.requester_org_id,
        territories=list(request.territories),
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        exclusive=request.exclusive,
        license_type=request.license_type,
        granted_by=actor.user_id,
    )
    session.add(license_)
    request.status = RequestStatus.APPROVED
    request.decided_by = actor.user_id
    request.decided_at = now
    request.decision_comment = comment
    session.flush()
    audit_as(
        session,
        actor,
        action="license.grant",
        subject=f"license:{license_.id}",
        detail={"request_id": request.id},
    )
    record_change(
        session,
        org_id=license_.licensor_org_id,
        kind="license.granted",
        subject_type="license",
        subject_id=str(license_.id),
        data=license_data(license_),
    )
    logger.info(
        "license granted",
        extra={"license_id": license_.id, "request_id": request.id, "by": actor.name},
    )
    return license_


@dataclass(frozen=True)
class ApprovalCheck:
    """What an approval of a request would find: the allowing window, or why none; a clash."""

    window: RightsWindow | None
    window_problem: str
    clash: License | None


def check_approval(
    session: Session, request: LicenseRequest, *, lock: bool = False
) -> ApprovalCheck:
    """The checks `approve_request` makes, without deciding: the inbox shows them per request.

    `lock` takes the title's rights-window rows for update (the approval itself does).
    """
    query = select(RightsWindow).where(RightsWindow.title_id == request.title_id)
    if lock:
        query = query.with_for_update()
    return assess_terms(
        session,
        windows=list(session.scalars(query.order_by(RightsWindow.id))),
        title_id=request.title_id,
        episode_ids=request.episode_ids,
        territories=request.territories,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        exclusive=request.exclusive,
        license_type=request.license_type,
    )


def assess_terms(
    session: Session,
    *,
    windows: list[RightsWindow],
    title_id: uuid.UUID,
    episode_ids: Sequence[str],
    territories: list[str],
    starts_at: datetime,
    ends_at: datetime,
    exclusive: bool,
    license_type: LicenseType,
) -> ApprovalCheck:
    """Which of `windows` would allow these terms (or why none), and the license they clash with.

    The approval's rule; the request form runs it on terms not yet sent.
    """
    try:
        window: RightsWindow | None = covering_window(
            windows,
            territories=territories,
            starts_at=starts_at,
            ends_at=ends_at,
            exclusive=exclusive,
            license_type=license_type,
        )
        problem = ""
    except Conflict as exc:
        window, problem = None, str(exc)
    clash = find_clash(
        session,
        title_id=title_id,
        episode_ids=episode_ids,
        territories=territories,
        starts_at=starts_at,
        ends_at=ends_at,
        exclusive=exclusive,
    )
    return ApprovalCheck(window, problem, clash)


def _allowing_window(session: Session, request: LicenseRequest) -> RightsWindow:
    """The rights window that allows the request; refuse a clash with an exclusive license."""
    # Lock the title's windows: every approval for this title goes through these rows, so two
    # concurrent approvals on PostgreSQL are serialised and cannot both pass the clash check.
    # (SQLite has a single writer; the loser of the race fails rather than double-granting.)
    check = check_approval(session, request, lock=True)
    if check.window is None:
        raise Conflict(check.window_problem)
    clash = check.clash
    if clash is not None:
        shared = ", ".join(sorted(set(request.territories) & set(clash.territories)))
        raise LicenseClash(
            f"clashes with {'exclusive ' if clash.exclusive else ''}license {clash.id} "
            f"(organization {clash.licensee_org_id}, {shared}, "
            f"{clash.starts_at.date()}..{clash.ends_at.date()})",
            license_id=clash.id,
        )
    return check.window


def decline_request(
    session: Session, *, request_id: int, actor: Actor, comment: str
) -> LicenseRequest:
    """Decline a pending request with a comment for the requester."""
    request = _pending_for_decision(session, request_id=request_id, actor=actor)
    if not comment.strip():
        raise InvalidInput("a decline needs a comment for the requester")
    request.status = RequestStatus.DECLINED
    request.decided_by = actor.user_id
    request.decided_at = utcnow()
    request.decision_comment = comment.strip()
    session.flush()
    audit_as(
        session,
        actor,
        action="license_request.decline",
        subject=f"license_request:{request.id}",
    )
    record_change(
        session,
        org_id=request.licensor_org_id,
        kind="license.declined",
        subject_type="license_request",
        subject_id=str(request.id),
        data=_request_data(request),
    )
    logger.info("license request declined", extra={"request_id": request.id, "by": actor.name})
    return request


def get_license(session: Session, *, license_id: int, org_id: int) -> License:
    """Return a license the organization granted or holds."""
    license_ = session.get(License, license_id)
    if license_ is None or org_id not in (license_.licensor_org_id, license_.licensee_org_id):
        raise NotFound(f"no license {license_id}")
    return license_


def list_licenses(
    session: Session,
    *,
    org_id: int,
    side: str | None = None,
    status: LicenseStatus | str | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[License]:
    """Return licenses the organization holds (`licensee`), granted (`licensor`) or both."""
    if side == "licensee":
        query = select(License).where(License.licensee_org_id == org_id)
    elif side == "licensor":
        query = select(License).where(License.licensor_org_id == org_id)
    elif side is None:
        query = select(License).where(
            or_(License.licensee_org_id == org_id, License.licensor_org_id == org_id)
        )
    else:
        raise InvalidInput("side must be 'licensee' or 'licensor'")
    if status is not None:
        query = query.where(License.status == LicenseStatus(status))
    if after_id is not None:
        query = query.where(License.id > after_id)
    return list(session.scalars(query.order_by(License.id).limit(limit)))


def revoke_license(session: Session, *, license_id: int, actor: Actor, reason: str = "") -> License:
    """Revoke a license the user's organization granted; access ends at once."""
    license_ = get_license(session, license_id=license_id, org_id=actor.org_id)
    if license_.licensor_org_id != actor.org_id:
        raise PermissionDenied("only the licensor may revoke a license")
    require_role(actor, RIGHTS_ROLES, "revoke licenses")
    if license_.status != LicenseStatus.ACTIVE:
        raise Conflict(f"license {license_.id} is already {license_.status.value}")
    license_.status = LicenseStatus.REVOKED
    license_.revoked_at = utcnow()
    license_.revoked_by = actor.user_id
    license_.revoke_reason = reason
    session.flush()
    audit_as(
        session,
        actor,
        action="license.revoke",
        subject=f"license:{license_.id}",
        detail={"reason": reason},
    )
    record_change(
        session,
        org_id=license_.licensor_org_id,
        kind="license.revoked",
        subject_type="license",
        subject_id=str(license_.id),
        data=license_data(license_),
    )
    logger.info("license revoked", extra={"license_id": license_.id, "by": actor.name})
    return license_


def expire_licenses(session: Session, *, now: datetime | None = None) -> list[License]:
    """Mark active licenses past their end as expired and announce it."""
    now = now or utcnow()
    expired = list(
        session.scalars(
            select(License)
            .where(License.status == LicenseStatus.ACTIVE, License.ends_at <= now)
            .order_by(License.id)
            .with_for_update(skip_locked=True)
        )
    )
    for license_ in expired:
        license_.status = LicenseStatus.EXPIRED
        license_.expired_at = now
        session.flush()
        record_change(
            session,
            org_id=license_.licensor_org_id,
            kind="license.expired",
            subject_type="license",
            subject_id=str(license_.id),
            data=license_data(license_),
        )
    return expired


def license_data(license_: License) -> dict[str, Any]:
    """The JSON a change event carries about a license (who may see it is in the data)."""
    return {
        "license_id": license_.id,
        "title_id": str(license_.title_id),
        "episode_ids": list(license_.episode_ids),
        "licensor_org_id": license_.licensor_org_id,
        "licensee_org_id": license_.licensee_org_id,
        "territories": list(license_.territories),
        "starts_at": license_.starts_at.isoformat(),
        "ends_at": license_.ends_at.isoformat(),
        "exclusive": license_.exclusive,
        "status": license_.status.value,
    }


def _request_data(request: LicenseRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "title_id": str(request.title_id),
        "licensor_org_id": request.licensor_org_id,
        "licensee_org_id": request.requester_org_id,
        "status": request.status.value,
    }
