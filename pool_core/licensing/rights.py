"""Rights windows and the rules every license decision shares: validation, roles, clashes.

Clash rule (applied on approval): two licenses of the same title clash when their periods
overlap, they share a territory, they share content (whole title, or a common episode), and at
least one of them is exclusive. The refusal (`LicenseClash`, a `Conflict`) names the license.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.common.actor import Actor, audit_as
from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.models import (
    Episode,
    License,
    LicenseStatus,
    LicenseType,
    RightsWindow,
    Role,
    Title,
    title_visible,
)

# Roles that may decide on their organization's rights.
RIGHTS_ROLES = frozenset({Role.ADMIN, Role.RIGHTS_MANAGER})
# Roles that may ask for a license on behalf of their organization.
REQUEST_ROLES = frozenset({Role.ADMIN, Role.RIGHTS_MANAGER, Role.EDITOR})


class LicenseClash(Conflict):
    """An approval would overlap an exclusive license (or make one overlap others)."""

    def __init__(self, message: str, *, license_id: int) -> None:
        super().__init__(message)
        self.license_id = license_id


# --- validation helpers ------------------------------------------------------------------------


def territory_codes(values: Iterable[str]) -> list[str]:
    codes = sorted({v.strip().upper() for v in values})
    if not codes:
        raise InvalidInput("at least one territory (ISO 3166-1 alpha-2 code) is required")
    for code in codes:
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise InvalidInput(f"territory {code!r} must be an ISO 3166-1 alpha-2 code like KZ")
    return codes


def check_period(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("start and end must carry a time zone")
    if ends_at <= starts_at:
        raise InvalidInput("the end must come after the start")


def parse_license_type(value: LicenseType | str) -> LicenseType:
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
        check_period(start, end)
        cleaned.append(
            {
                "territories": territory_codes(item.get("territories") or []),
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
                "reason": str(item.get("reason") or ""),
            }
        )
    return cleaned


def require_role(actor: Actor, roles: frozenset[Role], what: str) -> None:
    """Refuse unless the actor's role is one of `roles` (the pool itself has none)."""
    if actor.role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"only a {allowed} may {what}")


def _get_title(session: Session, title_id: uuid.UUID) -> Title:
    title = session.get(Title, title_id)
    if title is None:
        raise NotFound(f"no title {title_id}")
    return title


def visible_title(session: Session, *, title_id: uuid.UUID, org_id: int) -> Title:
    title = _get_title(session, title_id)
    if not title_visible(title.status, owner_org_id=title.org_id, viewer_org_id=org_id):
        raise NotFound(f"no title {title_id}")
    return title


def checked_episode_ids(
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
    actor: Actor,
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
    require_role(actor, RIGHTS_ROLES, "set rights windows")
    title = _get_title(session, title_id)
    if title.org_id != actor.org_id:
        raise PermissionDenied("only the owner of a title may set its rights windows")
    check_period(starts_at, ends_at)
    window = RightsWindow(
        title_id=title.id,
        owner_org_id=title.org_id,
        territories=territory_codes(territories),
        starts_at=starts_at,
        ends_at=ends_at,
        exclusivity=exclusivity,
        license_type=parse_license_type(license_type),
        holdbacks=_holdbacks(holdbacks),
        notes=notes,
        created_by=actor.user_id,
    )
    session.add(window)
    session.flush()
    audit_as(
        session,
        actor,
        action="rights_window.create",
        subject=f"title:{title.id}",
        detail={"rights_window_id": window.id},
    )
    return window


def list_rights_windows(
    session: Session, *, title_id: uuid.UUID, org_id: int
) -> list[RightsWindow]:
    """Return the rights windows of a title the organization may see."""
    visible_title(session, title_id=title_id, org_id=org_id)
    return list(
        session.scalars(
            select(RightsWindow)
            .where(RightsWindow.title_id == title_id)
            .order_by(RightsWindow.starts_at, RightsWindow.id)
        )
    )


def covering_window(
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
