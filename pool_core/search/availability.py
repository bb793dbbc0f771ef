"""What a title is to the viewer's organization: theirs, licensed, licensable now, not offered.

"Licensable in my territory now": another member's title with a rights window whose territories
include the viewer organization's country and whose period holds the current time. The
search filter and facet (`licensable_now`) and the rights badge of a result use the same
condition, so the badge and the facet count never disagree. Holdbacks inside a window are not
considered here: they are checked when a request is approved.

Everything is computed for a whole page of titles in one statement per question, not per title.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    and_,
    bindparam,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    License,
    LicenseStatus,
    Organization,
    Rendition,
    RightsWindow,
    Title,
)
from pool_core.models.base import utcnow
from pool_core.search.backends import SearchBackend, backend_named
from pool_core.search.cards import TitleCard


class Availability(StrEnum):
    """A title's standing for the viewer's organization."""

    YOURS = "yours"
    LICENSED = "licensed"
    LICENSABLE = "licensable"
    NOT_OFFERED = "not_offered"


def offered_in_country_now(backend: SearchBackend, *, viewer_org_id: Any, now: Any) -> Any:
    """A `SELECT title_id` of titles with a rights window over the viewer's country now.

    The viewer and the moment are values or bind parameters (`search.statements`).
    """
    country = select(Organization.country).where(Organization.id == viewer_org_id)
    territories = backend.elements(RightsWindow.territories)
    return (
        select(RightsWindow.title_id)
        .select_from(RightsWindow)
        .join(territories, true())
        .where(
            RightsWindow.starts_at <= now,
            RightsWindow.ends_at > now,
            territories.c.value == country.scalar_subquery(),
        )
    )


def licensable_now(
    backend: SearchBackend,
    *,
    title_id: Any,
    org_id: Any,
    viewer_org_id: Any,
    now: Any,
) -> ColumnElement[bool]:
    """A condition on (title id, owner) columns: another member's title offered to me now."""
    offered = offered_in_country_now(backend, viewer_org_id=viewer_org_id, now=now)
    return and_(org_id != viewer_org_id, title_id.in_(offered))


def availability_of(
    session: Session,
    *,
    titles: Sequence[Title | TitleCard],
    viewer_org_id: int,
    now: datetime | None = None,
) -> dict[uuid.UUID, Availability]:
    """Each title's standing for the viewer's organization, in one query for the lot.

    Licensed: the organization holds an active license of the title that has not ended
    (an approved license starting later already counts).
    """
    now = now or utcnow()
    others = [t.id for t in titles if t.org_id != viewer_org_id]
    licensed: set[uuid.UUID] = set()
    offered: set[uuid.UUID] = set()
    if others:
        statement = _held_or_offered(session.get_bind().dialect.name)
        values = {"others": others, "viewer": viewer_org_id, "now": now}
        # One round trip: a search page asks this of every page it shows.
        for kind, title_id in session.connection().execute(statement, values):
            (licensed if kind == "licensed" else offered).add(title_id)
    result: dict[uuid.UUID, Availability] = {}
    for title in titles:
        if title.org_id == viewer_org_id:
            result[title.id] = Availability.YOURS
        elif title.id in licensed:
            result[title.id] = Availability.LICENSED
        elif title.id in offered:
            result[title.id] = Availability.LICENSABLE
        else:
            result[title.id] = Availability.NOT_OFFERED
    return result


@lru_cache(maxsize=4)
def _held_or_offered(dialect: str) -> CompoundSelect[Any]:
    """`("licensed" | "offered", title_id)` of the titles `others` (bind parameters `others`,
    `viewer`, `now`); built once per database rather than once per result page."""
    others: Any = bindparam("others", expanding=True)
    viewer: Any = bindparam("viewer")
    now: Any = bindparam("now")
    held = select(literal("licensed"), License.title_id).where(
        License.title_id.in_(others),
        License.licensee_org_id == viewer,
        License.status == LicenseStatus.ACTIVE,
        License.ends_at > now,
    )
    windows = offered_in_country_now(backend_named(dialect), viewer_org_id=viewer, now=now)
    on_offer = windows.with_only_columns(literal("offered"), RightsWindow.title_id).where(
        RightsWindow.title_id.in_(others)
    )
    return union_all(held, on_offer)


def poster_keys(session: Session, *, title_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The object key of each title's poster, from its newest ready master that has one.

    Callers pass titles the viewer may see; the masters linked to a visible title are visible
    to the viewer too (the same rule as `pool_core.catalog.assets`).
    """
    wanted = list(title_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(AssetCatalog.title_id, Rendition.object_key)
        .join(Asset, Asset.id == AssetCatalog.asset_id)
        .join(Rendition, Rendition.asset_id == Asset.id)
        .where(
            AssetCatalog.title_id.in_(wanted),
            Asset.status == AssetStatus.READY,
            Asset.purged_at.is_(None),
            Rendition.kind == "poster",
        )
        .order_by(Asset.created_at.desc(), Rendition.id)
    )
    keys: dict[uuid.UUID, str] = {}
    for title_id, object_key in rows:
        if title_id is not None:
            keys.setdefault(title_id, object_key)
    return keys
