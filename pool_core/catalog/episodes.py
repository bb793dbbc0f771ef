"""Episodes of a title: list and upsert."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pool_core.catalog.inputs import MAX_SEASON, Localized
from pool_core.catalog.rules import (
    normalize_language,
)
from pool_core.catalog.seasons import ensure_season, record_season_change
from pool_core.catalog.titles import get_title, title_for_write
from pool_core.common.actor import Actor, audit_as
from pool_core.common.pagination import (
    Page,
    int_cursor,
    page_of,
)
from pool_core.errors import InvalidInput
from pool_core.models import (
    Episode,
)
from pool_core.search.engine import index_title
from pool_core.services.changes import record_change

# --- episodes ---------------------------------------------------------------------------


def list_episodes(
    session: Session,
    *,
    viewer_org_id: int,
    title_id: uuid.UUID,
    season: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List a visible title's episodes (of one season, if given) by season and number."""
    get_title(session, viewer_org_id=viewer_org_id, title_id=title_id)
    stmt = select(Episode).where(Episode.title_id == title_id)
    if season is not None:
        stmt = stmt.where(Episode.season_number == season)
    if cursor:
        after_season, after_number = int_cursor(cursor, size=2)
        stmt = stmt.where(
            or_(
                Episode.season_number > after_season,
                and_(Episode.season_number == after_season, Episode.number > after_number),
            )
        )
    stmt = stmt.order_by(Episode.season_number, Episode.number).limit(limit + 1)
    return page_of(list(session.scalars(stmt)), limit, lambda e: (e.season_number, e.number))


def upsert_episode(
    session: Session,
    *,
    actor: Actor,
    title_id: uuid.UUID,
    season_number: int,
    number: int,
    name: str = "",
    localizations: Mapping[str, Localized] | None = None,
    duration_seconds: int | None = None,
) -> Episode:
    """Create an episode of one of the actor's titles, or update the one at that number."""
    title = title_for_write(session, actor, title_id)
    if not 0 <= season_number <= MAX_SEASON or not 0 <= number <= 100_000:
        raise InvalidInput(f"season must be 0-{MAX_SEASON} and episode number 0-100000")
    if season_number > 0:
        # Seasons appear by themselves for episodes delivered without one (sidecars).
        season, season_created = ensure_season(session, title.id, season_number)
        if season_created:
            record_season_change(session, actor, "season.created", title, season)
    episode = session.scalar(
        select(Episode).where(
            Episode.title_id == title.id,
            Episode.season_number == season_number,
            Episode.number == number,
        )
    )
    created = episode is None
    if episode is None:
        episode = Episode(title_id=title.id, season_number=season_number, number=number)
        session.add(episode)
    episode.name = name.strip()
    episode.duration_seconds = duration_seconds
    episode.localizations = {
        normalize_language(tag): {"title": loc.title.strip(), "synopsis": loc.synopsis.strip()}
        for tag, loc in (localizations or {}).items()
    }
    session.flush()
    # Episode names are searched as part of their title's document.
    index_title(session, title=title)
    action = "episode.created" if created else "episode.updated"
    audit_as(
        session,
        actor,
        action=action,
        subject=f"episode:{episode.id}",
        detail={"title_id": str(title.id), "season": season_number, "number": number},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind=action,
        subject_type="episode",
        subject_id=str(episode.id),
        data={"title_id": str(title.id)},
    )
    return episode
