"""Seasons of a title: list, upsert, delete (a season's episodes count is derived)."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pool_core.catalog.inputs import MAX_SEASON, MAX_SEASON_NAME, SeasonView
from pool_core.catalog.titles import get_title, title_for_write
from pool_core.common.actor import Actor, audit_as
from pool_core.common.pagination import (
    Page,
    int_cursor,
    page_of,
)
from pool_core.errors import Conflict, InvalidInput, NotFound
from pool_core.models import (
    Episode,
    Season,
    Title,
)
from pool_core.services.changes import record_change

# --- seasons ----------------------------------------------------------------------------


def list_seasons(
    session: Session,
    *,
    viewer_org_id: int,
    title_id: uuid.UUID,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List a visible title's seasons by number, each with its episode count.

    A season is a `Season` row or a season number (above 0) that episodes use, so episodes
    stored before their season row existed still show up, unnamed.
    """
    get_title(session, viewer_org_id=viewer_org_id, title_id=title_id)
    numbers = union(
        select(Season.number.label("number")).where(Season.title_id == title_id),
        select(Episode.season_number.label("number")).where(
            Episode.title_id == title_id, Episode.season_number > 0
        ),
    ).subquery()
    counts = (
        select(Episode.season_number.label("number"), func.count().label("episodes"))
        .where(Episode.title_id == title_id)
        .group_by(Episode.season_number)
        .subquery()
    )
    stmt = (
        select(numbers.c.number, Season.name, func.coalesce(counts.c.episodes, 0))
        .select_from(numbers)
        .outerjoin(Season, and_(Season.title_id == title_id, Season.number == numbers.c.number))
        .outerjoin(counts, counts.c.number == numbers.c.number)
    )
    if cursor:
        (after,) = int_cursor(cursor, size=1)
        stmt = stmt.where(numbers.c.number > after)
    stmt = stmt.order_by(numbers.c.number).limit(limit + 1)
    views = [
        SeasonView(title_id=title_id, number=int(n), name=name or "", episode_count=int(count))
        for n, name, count in session.execute(stmt)
    ]
    return page_of(views, limit, lambda v: (v.number,))


def upsert_season(
    session: Session, *, actor: Actor, title_id: uuid.UUID, number: int, name: str = ""
) -> tuple[SeasonView, bool]:
    """Create a season of one of the actor's titles or rename it; say whether it is new."""
    title = title_for_write(session, actor, title_id)
    _check_season_number(number)
    name = name.strip()
    if len(name) > MAX_SEASON_NAME:
        raise InvalidInput(f"a season name is at most {MAX_SEASON_NAME} characters")
    season, created = ensure_season(session, title.id, number)
    season.name = name
    session.flush()
    record_season_change(
        session, actor, "season.created" if created else "season.updated", title, season
    )
    view = SeasonView(
        title_id=title.id,
        number=number,
        name=season.name,
        episode_count=_episode_count(session, title.id, number),
    )
    return view, created


def delete_season(session: Session, *, actor: Actor, title_id: uuid.UUID, number: int) -> None:
    """Delete an empty season of one of the actor's titles; one with episodes is refused."""
    title = title_for_write(session, actor, title_id)
    _check_season_number(number)
    # Episodes name their season by number only: deleting the row under them would leave
    # them in a season that lists again as soon as it is read, so refuse instead.
    episodes = _episode_count(session, title.id, number)
    if episodes:
        raise Conflict(
            f"season {number} still has {episodes} episode(s); only an empty season can be deleted"
        )
    season = _find_season(session, title.id, number)
    if season is None:
        raise NotFound(f"no season {number} in title {title_id}")
    record_season_change(session, actor, "season.deleted", title, season)
    session.delete(season)
    session.flush()


def _check_season_number(number: int) -> None:
    if not 1 <= number <= MAX_SEASON:
        raise InvalidInput(f"season number must be 1-{MAX_SEASON}")


def _find_season(session: Session, title_id: uuid.UUID, number: int) -> Season | None:
    return session.scalar(
        select(Season).where(Season.title_id == title_id, Season.number == number)
    )


def ensure_season(session: Session, title_id: uuid.UUID, number: int) -> tuple[Season, bool]:
    season = _find_season(session, title_id, number)
    if season is not None:
        return season, False
    season = Season(title_id=title_id, number=number, name="")
    try:
        with session.begin_nested():
            session.add(season)
            session.flush()
    except IntegrityError:
        # A concurrent request created it first (PostgreSQL; SQLite writers queue): use it.
        existing = _find_season(session, title_id, number)
        if existing is None:
            raise
        return existing, False
    return season, True


def _episode_count(session: Session, title_id: uuid.UUID, number: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Episode)
        .where(Episode.title_id == title_id, Episode.season_number == number)
    )
    return int(count or 0)


def record_season_change(
    session: Session, actor: Actor, action: str, title: Title, season: Season
) -> None:
    audit_as(
        session,
        actor,
        action=action,
        subject=f"season:{season.id}",
        detail={"title_id": str(title.id), "number": season.number, "name": season.name},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind=action,
        subject_type="season",
        subject_id=str(season.id),
        data={"title_id": str(title.id), "number": season.number},
    )
