"""Rights windows, the license workflow, exclusivity clashes and entitlements.

A licensee may reach a master only through an *effective* license: status active and now
inside [starts_at, ends_at). Everything that hands out bytes (API download URL, FTP
`/licensed`, the sync) asks `can_download` and logs a `Delivery` against the license.

Clash rule (applied on approval): two licenses of the same title clash when their periods
overlap, they share a territory, they share content (whole title, or a common episode), and at
least one of them is exclusive. The refusal (`LicenseClash`, a `Conflict`) names the license.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Delivery,
    Episode,
    License,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    Organization,
    Rendition,
    RequestStatus,
    RightsWindow,
    Role,
    Title,
    TitleStatus,
    User,
    utcnow,
)
from pool_core.services.audit import record_audit
from pool_core.services.changes import record_change

# License events are what rights managers act on, so they are on the console at INFO
# (logged once flushed, just before the request's unit of work commits).
logger = logging.getLogger("pool_core.licensing")

# Roles that may decide on their organization's rights.
RIGHTS_ROLES = frozenset({Role.ADMIN, Role.RIGHTS_MANAGER})
# Roles that may ask for a license on behalf of their organization.
REQUEST_ROLES = frozenset({Role.ADMIN, Role.RIGHTS_MANAGER, Role.EDITOR})
LICENSED_ROOT = "/licensed"
# Renditions a licensee may download beside a master (the nightly sync's optional extras).
DownloadableRendition = Literal["proxy", "poster"]
DOWNLOADABLE_RENDITIONS: tuple[str, ...] = get_args(DownloadableRendition)
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class LicenseClash(Conflict):
    """An approval would overlap an exclusive license (or make one overlap others)."""

    def __init__(self, message: str, *, license_id: int) -> None:
        super().__init__(message)
        self.license_id = license_id


@dataclass(frozen=True)
class LicensedAsset:
    """A master an organization may download, and the license that allows it."""

    asset: Asset
    license: License
    title: Title
    episode: Episode | None
    owner_code: str
    # Path inside the licensee's virtual tree, e.g. `/licensed/aztv/Title/S01E02/ep2.mxf`.
    path: str


@dataclass(frozen=True)
class LicensedFile:
    """One read-only file of the FTP `/licensed` view."""

    path: str
    size: int
    mtime: datetime
    object_key: str
    sha256: str | None
    asset_id: uuid.UUID
    license_id: int


# --- validation helpers ------------------------------------------------------------------------


def _territories(values: Iterable[str]) -> list[str]:
    codes = sorted({v.strip().upper() for v in values})
    if not codes:
        raise InvalidInput("at least one territory (ISO 3166-1 alpha-2 code) is required")
    for code in codes:
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise InvalidInput(f"territory {code!r} must be an ISO 3166-1 alpha-2 code like KZ")
    return codes


def _period(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("start and end must carry a time zone")
    if ends_at <= starts_at:
        raise InvalidInput("the end must come after the start")


def _license_type(value: LicenseType | str) -> LicenseType:
    try:
        return LicenseType(value)
    except ValueError as exc:
        kinds = ", ".join(k.value for k in LicenseType)
        raise InvalidInput(f"license type {value!r} is not one of {kinds}") from exc


def _overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"timestamp {value!r} must carry a time zone")
    return parsed


def _holdbacks(values: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    cleaned = []
    for item in values:
        start, end = _parse_time(item.get("starts_at")), _parse_time(item.get("ends_at"))
        _period(start, end)
        cleaned.append(
            {
                "territories": _territories(item.get("territories") or []),
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
                "reason": str(item.get("reason") or ""),
            }
        )
    return cleaned


def _require_role(user: User, roles: frozenset[Role], what: str) -> None:
    if user.role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"only a {allowed} may {what}")


def _get_title(session: Session, title_id: uuid.UUID) -> Title:
    title = session.get(Title, title_id)
    if title is None:
        raise NotFound(f"no title {title_id}")
    return title


def _visible_title(session: Session, *, title_id: uuid.UUID, org_id: int) -> Title:
    title = _get_title(session, title_id)
    if title.org_id != org_id and title.status != TitleStatus.PUBLISHED:
        raise NotFound(f"no title {title_id}")
    return title


def _episode_ids(
    session: Session, *, title: Title, episode_ids: Iterable[str | uuid.UUID]
) -> list[str]:
    try:
        wanted = sorted({str(uuid.UUID(str(e))) for e in episode_ids})
    except ValueError as exc:
        raise InvalidInput("episode ids must be UUIDs") from exc
    if not wanted:
        return []
    found = set(
        str(e)
        for e in session.scalars(
            select(Episode.id).where(
                Episode.title_id == title.id, Episode.id.in_([uuid.UUID(e) for e in wanted])
            )
        )
    )
    missing = [e for e in wanted if e not in found]
    if missing:
        raise InvalidInput(f"episodes {', '.join(missing)} do not belong to title {title.id}")
    return wanted


# --- rights windows ----------------------------------------------------------------------------


def create_rights_window(
    session: Session,
    *,
    user: User,
    title_id: uuid.UUID,
    territories: Iterable[str],
    starts_at: datetime,
    ends_at: datetime,
    license_type: LicenseType | str,
    exclusivity: bool = False,
    holdbacks: Iterable[dict[str, Any]] = (),
    notes: str = "",
) -> RightsWindow:
    """Offer a title of the user's organization in territories for a period."""
    _require_role(user, RIGHTS_ROLES, "set rights windows")
    title = _get_title(session, title_id)
    if title.org_id != user.org_id:
        raise PermissionDenied("only the owner of a title may set its rights windows")
    _period(starts_at, ends_at)
    window = RightsWindow(
        title_id=title.id,
        owner_org_id=title.org_id,
        territories=_territories(territories),
        starts_at=starts_at,
        ends_at=ends_at,
        exclusivity=exclusivity,
        license_type=_license_type(license_type),
        holdbacks=_holdbacks(holdbacks),
        notes=notes,
        created_by=user.id,
    )
    session.add(window)
    session.flush()
    record_audit(
        session,
        channel="api",
        action="rights_window.create",
        org_id=user.org_id,
        user_id=user.id,
        subject=f"title:{title.id}",
        detail={"rights_window_id": window.id},
    )
    return window


def list_rights_windows(
    session: Session, *, title_id: uuid.UUID, org_id: int
) -> list[RightsWindow]:
    """Return the rights windows of a title the organization may see."""
    _visible_title(session, title_id=title_id, org_id=org_id)
    return list(
        session.scalars(
            select(RightsWindow)
            .where(RightsWindow.title_id == title_id)
            .order_by(RightsWindow.starts_at, RightsWindow.id)
        )
    )


def _covering_window(
    windows: Sequence[RightsWindow],
    *,
    territories: list[str],
    starts_at: datetime,
    ends_at: datetime,
    exclusive: bool,
    license_type: LicenseType,
) -> RightsWindow:
    """Return the window that covers the whole request, or explain why none does."""
    if not windows:
        raise Conflict("the title has no rights windows; its owner offers it nowhere yet")
    reasons = []
    for window in windows:
        if window.license_type != license_type:
            reasons.append(f"window {window.id} is {window.license_type.value}")
            continue
        if not (window.starts_at <= starts_at and ends_at <= window.ends_at):
            reasons.append(f"window {window.id} does not cover the period")
            continue
        missing = sorted(set(territories) - set(window.territories))
        if missing:
            reasons.append(f"window {window.id} does not cover {', '.join(missing)}")
            continue
        if exclusive and not window.exclusivity:
            reasons.append(f"window {window.id} does not allow exclusivity")
            continue
        for holdback in window.holdbacks:
            held = set(territories) & set(holdback["territories"])
            if held and _overlaps(
                starts_at,
                ends_at,
                _parse_time(holdback["starts_at"]),
                _parse_time(holdback["ends_at"]),
            ):
                reasons.append(
                    f"window {window.id} holds back {', '.join(sorted(held))} until "
                    f"{holdback['ends_at']}"
                )
                break
        else:
            return window
    raise Conflict("no rights window allows this license: " + "; ".join(reasons))


def find_clash(
    session: Session,
    *,
    title_id: uuid.UUID,
    episode_ids: Sequence[str],
    territories: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    exclusive: bool,
    exclude_license_id: int | None = None,
) -> License | None:
    """Return an active license this one would clash with (see the module docstring)."""
    query = select(License).where(
        License.title_id == title_id,
        License.status == LicenseStatus.ACTIVE,
        License.starts_at < ends_at,
        License.ends_at > starts_at,
    )
    if not exclusive:
        query = query.where(License.exclusive.is_(True))
    if exclude_license_id is not None:
        query = query.where(License.id != exclude_license_id)
    wanted_territories = set(territories)
    wanted_episodes = set(episode_ids)
    for other in session.scalars(query.order_by(License.id)):
        if not wanted_territories & set(other.territories):
            continue
        # Whole-title licenses share content with everything; episode lists must intersect.
        if wanted_episodes and other.episode_ids and not wanted_episodes & set(other.episode_ids):
            continue
        return other
    return None


# --- the workflow ------------------------------------------------------------------------------


def request_license(
    session: Session,
    *,
    user: User,
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
    _require_role(user, REQUEST_ROLES, "request licenses")
    title = _visible_title(session, title_id=title_id, org_id=user.org_id)
    if title.org_id == user.org_id:
        raise InvalidInput("an organization cannot license its own title")
    _period(starts_at, ends_at)
    request = LicenseRequest(
        title_id=title.id,
        episode_ids=_episode_ids(session, title=title, episode_ids=episode_ids),
        requester_org_id=user.org_id,
        requested_by=user.id,
        licensor_org_id=title.org_id,
        territories=_territories(territories),
        starts_at=starts_at,
        ends_at=ends_at,
        exclusive=exclusive,
        license_type=_license_type(license_type),
        message=message,
    )
    session.add(request)
    session.flush()
    record_audit(
        session,
        channel="api",
        action="license_request.create",
        org_id=user.org_id,
        user_id=user.id,
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
        extra={"request_id": request.id, "title_id": str(title.id), "by": user.username},
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


def _pending_for_decision(session: Session, *, request_id: int, user: User) -> LicenseRequest:
    request = get_request(session, request_id=request_id, org_id=user.org_id)
    if request.licensor_org_id != user.org_id:
        raise PermissionDenied("only the owner's rights manager may decide on a request")
    _require_role(user, RIGHTS_ROLES, "decide on license requests")
    if request.status != RequestStatus.PENDING:
        raise Conflict(f"license request {request.id} is already {request.status.value}")
    return request


def approve_request(session: Session, *, request_id: int, user: User, comment: str = "") -> License:
    """Grant a pending request after checking rights windows and exclusivity."""
    request = _pending_for_decision(session, request_id=request_id, user=user)
    # Lock the title's windows: every approval for this title goes through these rows, so two
    # concurrent approvals on PostgreSQL are serialised and cannot both pass the clash check.
    # (SQLite has a single writer; the loser of the race fails rather than double-granting.)
    windows = list(
        session.scalars(
            select(RightsWindow)
            .where(RightsWindow.title_id == request.title_id)
            .order_by(RightsWindow.id)
            .with_for_update()
        )
    )
    window = _covering_window(
        windows,
        territories=request.territories,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        exclusive=request.exclusive,
        license_type=request.license_type,
    )
    clash = find_clash(
        session,
        title_id=request.title_id,
        episode_ids=request.episode_ids,
        territories=request.territories,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        exclusive=request.exclusive,
    )
    if clash is not None:
        shared = ", ".join(sorted(set(request.territories) & set(clash.territories)))
        raise LicenseClash(
            f"clashes with {'exclusive ' if clash.exclusive else ''}license {clash.id} "
            f"(organization {clash.licensee_org_id}, {shared}, "
            f"{clash.starts_at.date()}..{clash.ends_at.date()})",
            license_id=clash.id,
        )
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
        granted_by=user.id,
    )
    session.add(license_)
    request.status = RequestStatus.APPROVED
    request.decided_by = user.id
    request.decided_at = now
    request.decision_comment = comment
    session.flush()
    record_audit(
        session,
        channel="api",
        action="license.grant",
        org_id=user.org_id,
        user_id=user.id,
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
        extra={"license_id": license_.id, "request_id": request.id, "by": user.username},
    )
    return license_


def decline_request(
    session: Session, *, request_id: int, user: User, comment: str
) -> LicenseRequest:
    """Decline a pending request with a comment for the requester."""
    request = _pending_for_decision(session, request_id=request_id, user=user)
    if not comment.strip():
        raise InvalidInput("a decline needs a comment for the requester")
    request.status = RequestStatus.DECLINED
    request.decided_by = user.id
    request.decided_at = utcnow()
    request.decision_comment = comment.strip()
    session.flush()
    record_audit(
        session,
        channel="api",
        action="license_request.decline",
        org_id=user.org_id,
        user_id=user.id,
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
    logger.info("license request declined", extra={"request_id": request.id, "by": user.username})
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


def revoke_license(session: Session, *, license_id: int, user: User, reason: str = "") -> License:
    """Revoke a license the user's organization granted; access ends at once."""
    license_ = get_license(session, license_id=license_id, org_id=user.org_id)
    if license_.licensor_org_id != user.org_id:
        raise PermissionDenied("only the licensor may revoke a license")
    _require_role(user, RIGHTS_ROLES, "revoke licenses")
    if license_.status != LicenseStatus.ACTIVE:
        raise Conflict(f"license {license_.id} is already {license_.status.value}")
    license_.status = LicenseStatus.REVOKED
    license_.revoked_at = utcnow()
    license_.revoked_by = user.id
    license_.revoke_reason = reason
    session.flush()
    record_audit(
        session,
        channel="api",
        action="license.revoke",
        org_id=user.org_id,
        user_id=user.id,
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
    logger.info("license revoked", extra={"license_id": license_.id, "by": user.username})
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


# --- entitlements ------------------------------------------------------------------------------


def effective_licenses(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[License]:
    """Return the licenses the organization may use right now."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(License)
            .where(
                License.licensee_org_id == org_id,
                License.status == LicenseStatus.ACTIVE,
                License.starts_at <= now,
                License.ends_at > now,
            )
            .order_by(License.id)
        )
    )


def _safe_component(text: str, fallback: str) -> str:
    # Path components of the virtual tree: NFC, no separators or control characters.
    cleaned = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch
        for ch in unicodedata.normalize("NFC", text)
    ).strip(" .")
    while len(cleaned.encode()) > 200:
        cleaned = cleaned[:-1]
    return cleaned or fallback


def licensed_assets_for(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[LicensedAsset]:
    """Return every ready master the organization may download now, with its license."""
    licenses = effective_licenses(session, org_id=org_id, now=now)
    if not licenses:
        return []
    by_title: dict[uuid.UUID, list[License]] = {}
    for license_ in licenses:
        by_title.setdefault(license_.title_id, []).append(license_)
    rows = session.execute(
        select(Asset, AssetCatalog, Title, Organization.code)
        .join(AssetCatalog, AssetCatalog.asset_id == Asset.id)
        .join(Title, Title.id == AssetCatalog.title_id)
        .join(Organization, Organization.id == Asset.org_id)
        .where(AssetCatalog.title_id.in_(list(by_title)), Asset.status == AssetStatus.READY)
        .order_by(Title.id, Asset.filename, Asset.version.desc(), Asset.id)
        # The listing names each master's downloadable renditions: one query, not one each.
        .options(selectinload(Asset.renditions))
    ).all()
    episode_ids = {row.AssetCatalog.episode_id for row in rows if row.AssetCatalog.episode_id}
    episodes = (
        {e.id: e for e in session.scalars(select(Episode).where(Episode.id.in_(episode_ids)))}
        if episode_ids
        else {}
    )
    result: list[LicensedAsset] = []
    seen_paths: set[str] = set()
    seen_versions: set[tuple[uuid.UUID, uuid.UUID | None, str]] = set()
    for asset, link, title, owner_code in rows:
        if title.org_id != asset.org_id:
            continue  # a link across organizations is never an entitlement
        episode = episodes.get(link.episode_id) if link.episode_id else None
        # A re-delivered master is a new asset version; offer only the newest one.
        identity = (title.id, link.episode_id, asset.filename)
        if identity in seen_versions:
            continue
        covering = _license_covering(by_title[title.id], link.episode_id)
        if covering is None:
            continue
        seen_versions.add(identity)
        folder = _safe_component(title.original_title, str(title.id))
        parts = [LICENSED_ROOT, _safe_component(owner_code, "owner"), folder]
        if episode is not None:
            parts.append(f"S{episode.season_number:02d}E{episode.number:02d}")
        path = "/".join([*parts, _safe_component(asset.filename, str(asset.id))])
        if path in seen_paths:
            stem = _safe_component(asset.filename, "master")
            path = "/".join([*parts, f"{asset.id.hex[:8]}-{stem}"])
        seen_paths.add(path)
        result.append(
            LicensedAsset(
                asset=asset,
                license=covering,
                title=title,
                episode=episode,
                owner_code=owner_code,
                path=path,
            )
        )
    return result


def _license_covering(licenses: Sequence[License], episode_id: uuid.UUID | None) -> License | None:
    for license_ in licenses:
        if not license_.episode_ids:
            return license_
        if episode_id is not None and str(episode_id) in license_.episode_ids:
            return license_
    return None


def licensed_tree(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[LicensedFile]:
    """Return the files of the organization's read-only FTP `/licensed` view."""
    return [
        LicensedFile(
            path=item.path,
            size=item.asset.size,
            mtime=item.asset.created_at,
            object_key=item.asset.object_key,
            sha256=item.asset.sha256,
            asset_id=item.asset.id,
            license_id=item.license.id,
        )
        for item in licensed_assets_for(session, org_id=org_id, now=now)
    ]


def can_download(
    session: Session, *, org_id: int, asset_id: uuid.UUID, now: datetime | None = None
) -> License | None:
    """Return the effective license that lets the organization fetch this master, if any."""
    link = session.get(AssetCatalog, asset_id)
    asset = session.get(Asset, asset_id)
    if link is None or link.title_id is None or asset is None:
        return None
    if asset.status != AssetStatus.READY:
        return None
    title = session.get(Title, link.title_id)
    if title is None or title.org_id != asset.org_id:
        return None
    now = now or utcnow()
    candidates = [
        lic
        for lic in effective_licenses(session, org_id=org_id, now=now)
        if lic.title_id == link.title_id
    ]
    return _license_covering(candidates, link.episode_id)


@dataclass(frozen=True)
class DownloadGrant:
    """A master the caller may fetch, with the license it is delivered under (None = owner)."""

    asset: Asset
    license: License | None


def authorize_download(session: Session, *, user: User, asset_id: uuid.UUID) -> DownloadGrant:
    """Check that the user's organization may fetch the master (owner or licensee)."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id}")
    if asset.org_id == user.org_id:
        return DownloadGrant(asset=asset, license=None)
    license_ = can_download(session, org_id=user.org_id, asset_id=asset_id)
    if license_ is None:
        raise PermissionDenied(f"your organization holds no current license for asset {asset_id}")
    return DownloadGrant(asset=asset, license=license_)


def downloadable_renditions(asset: Asset) -> list[Rendition]:
    """Return the renditions a downloader gets beside the master: the tallest proxy, the poster."""
    picked: list[Rendition] = []
    for kind in DOWNLOADABLE_RENDITIONS:
        candidates = [r for r in asset.renditions if r.kind == kind]
        if candidates:
            # A ladder makes several proxies; the tallest is the most useful off-line copy.
            picked.append(max(candidates, key=lambda r: (_height(r), r.name)))
    return picked


def _height(rendition: Rendition) -> int:
    value = (rendition.meta or {}).get("height")
    return value if isinstance(value, int) else 0


def rendition_sha256(rendition: Rendition) -> str | None:
    """Return the SHA-256 the transcoder recorded for this rendition; None for older ones."""
    value = (rendition.meta or {}).get("sha256")
    # Renditions made before the transcoder recorded hashes have none; anything that is not
    # a hex digest is not published either (the client then falls back to the size).
    if isinstance(value, str) and _SHA256_HEX.fullmatch(value):
        return value.lower()
    return None


def get_downloadable_rendition(asset: Asset, *, kind: str) -> Rendition:
    """Return the asset's rendition of this kind, or say clearly why there is none."""
    if kind not in DOWNLOADABLE_RENDITIONS:
        allowed = ", ".join(DOWNLOADABLE_RENDITIONS)
        raise InvalidInput(f"rendition {kind!r} cannot be downloaded; choose one of {allowed}")
    for rendition in downloadable_renditions(asset):
        if rendition.kind == kind:
            return rendition
    raise NotFound(
        f"asset {asset.id} has no {kind} rendition (not transcoded yet, or transcoding failed)"
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


# --- the FTP `/licensed` view --------------------------------------------------------------
# The files service (`pool_core.services.files`) owns the virtual tree; these give it the
# read-only `/licensed/<owner>/<title>/…` part, computed from the current entitlements so a
# revocation or expiry removes it at once. RETR should call `licensed_file` and log the
# delivery with `record_delivery(channel="ftp", offset=<REST offset>)`.


def _under_licensed(path: str) -> str:
    path = "/" + "/".join(p for p in unicodedata.normalize("NFC", path).split("/") if p)
    if path != LICENSED_ROOT and not path.startswith(LICENSED_ROOT + "/"):
        raise NotFound(f"{path} is not under {LICENSED_ROOT}")
    return path


def _file_view(path: str, *, is_dir: bool, item: LicensedFile | None, mtime: datetime) -> Any:
    from pool_core.models import FileState
    from pool_core.services.files import FileView

    return FileView(
        path=path,
        name=path.rsplit("/", 1)[-1],
        is_dir=is_dir,
        size=item.size if item else 0,
        mtime=mtime,
        md5=None,
        sha256=item.sha256 if item else None,
        state=FileState.COMPLETE,
        writable=False,
        asset_id=item.asset_id if item else None,
        unique=_licensed_unique(path, item),
    )


def _licensed_unique(path: str, item: LicensedFile | None) -> str:
    # A licensed master is its asset; a folder exists only as a path prefix, so a hash of
    # the path is its only stable identity (hex: no spaces or `;` whatever the title is).
    if item is not None:
        return f"a{item.asset_id.hex}"
    return "l" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]


def licensed_file(session: Session, *, org_id: int, path: str) -> LicensedFile:
    """Return the licensed master at a `/licensed/...` path (`NotFound` if not entitled)."""
    path = _under_licensed(path)
    for item in licensed_tree(session, org_id=org_id):
        if item.path == path:
            return item
    raise NotFound(f"no licensed file {path}")


def licensed_stat(session: Session, *, org_id: int, path: str) -> Any:
    """Describe a `/licensed` file or folder as a read-only `FileView`."""
    path = _under_licensed(path)
    tree = licensed_tree(session, org_id=org_id)
    newest = max((f.mtime for f in tree), default=utcnow())
    if path == LICENSED_ROOT:
        return _file_view(path, is_dir=True, item=None, mtime=newest)
    below = [item for item in tree if item.path.startswith(path + "/")]
    if below:
        # A folder is as new as the newest file in it, the same in stat and listings.
        return _file_view(path, is_dir=True, item=None, mtime=max(f.mtime for f in below))
    for item in tree:
        if item.path == path:
            return _file_view(path, is_dir=False, item=item, mtime=item.mtime)
    raise NotFound(f"no such file or folder {path}")


def licensed_list_dir(session: Session, *, org_id: int, path: str) -> list[Any]:
    """List a `/licensed` folder as read-only `FileView`s, sorted by name."""
    path = _under_licensed(path)
    tree = licensed_tree(session, org_id=org_id)
    children: dict[str, Any] = {}
    prefix = path + "/"
    for item in tree:
        if item.path == path:
            raise InvalidInput(f"{path} is a file, not a folder")
        if not item.path.startswith(prefix):
            continue
        name = item.path[len(prefix) :].split("/", 1)[0]
        child = prefix + name
        if child == item.path:
            children[name] = _file_view(child, is_dir=False, item=item, mtime=item.mtime)
        elif name not in children or children[name].mtime < item.mtime:
            children[name] = _file_view(child, is_dir=True, item=None, mtime=item.mtime)
    if not children and path != LICENSED_ROOT:
        raise NotFound(f"no such folder {path}")
    return [children[name] for name in sorted(children)]
