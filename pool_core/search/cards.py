"""The titles of one result page, read as plain values rather than ORM objects.

A search page shows 20 titles with their localizations and genres. Loading them as ORM
objects (identity map, instance state, two `selectinload`s) took about 30 % of an
as-you-type search at 100,000 titles, mostly in Python (see `bench.search --profile`);
one plain Core query returns the same values in a fraction of the time. A card has the
attribute names of `Title`, so what renders a title (the API's `TitleOut`, the web UI's
cards) renders a card alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Select, bindparam, func, select, type_coerce
from sqlalchemy.orm import Session

from pool_core.models import (
    Organization,
    Title,
    TitleGenre,
    TitleKind,
    TitleLocalization,
    TitleStatus,
)


@dataclass(frozen=True)
class OwnerCard:
    """The owning organization, as a title's page names it."""

    id: int
    code: str
    name: str


@dataclass(frozen=True, order=True)
class LocalizationCard:
    """One localization of a title."""

    language: str
    base_language: str
    title: str
    synopsis: str


@dataclass(frozen=True)
class TitleCard:
    """A title as a result page shows it (read-only; change titles through `catalog`)."""

    id: uuid.UUID
    org_id: int
    owner: OwnerCard
    external_id: str | None
    kind: TitleKind
    status: TitleStatus
    original_title: str
    original_language: str | None
    production_year: int | None
    countries: list[str]
    duration_seconds: int | None
    age_rating: str | None
    eidr: str | None
    isan: str | None
    keywords: list[str]
    contributors: list[dict[str, Any]]
    rights_notes: str | None
    created_at: datetime
    updated_at: datetime
    # Sorted by language tag and by genre, as the ORM relationships order them.
    localizations: tuple[LocalizationCard, ...]
    genres: list[str]


# A card's fields filled from other rows (the owner, localizations and genres) or converted
# (kind and status become enums); every other field is the title's column of that name.
_NOT_COPIED = {"owner", "kind", "status", "localizations", "genres"}
_TITLE_FIELDS = tuple(f.name for f in fields(TitleCard) if f.name not in _NOT_COPIED)
# Table columns, not ORM attributes: the statements below run as Core on the session's
# connection, without the ORM's per-statement compile state and row loading.
_TITLE_COLUMNS = tuple(
    Title.__mapper__.columns[name] for name in (*_TITLE_FIELDS, "kind", "status")
)
_TITLES = Title.__table__
_LOCALIZATION = TitleLocalization.__table__.c
_GENRE = TitleGenre.__table__.c
_ORGANIZATION = Organization.__table__.c


def _cards_statement(dialect: str) -> Select[Any]:
    """The titles with their owner, and their localizations and genres as JSON arrays.

    One statement, not three: on PostgreSQL each round trip costs about 0.6 ms here (a bare
    `SELECT 1` over loopback TCP), more than the database spends on a page of cards. The
    arrays are aggregated per title by a correlated subquery; their order is set in Python,
    because SQLite's `json_group_array` takes no ORDER BY before 3.44.
    """
    if dialect == "postgresql":
        aggregate, array = func.json_agg, func.json_build_array
    else:
        aggregate, array = func.json_group_array, func.json_array
    localizations = (
        select(
            aggregate(
                array(
                    _LOCALIZATION.language,
                    _LOCALIZATION.base_language,
                    _LOCALIZATION.title,
                    _LOCALIZATION.synopsis,
                )
            )
        )
        .where(_LOCALIZATION.title_id == _TITLES.c.id)
        .scalar_subquery()
    )
    genres = (
        select(aggregate(_GENRE.genre)).where(_GENRE.title_id == _TITLES.c.id).scalar_subquery()
    )
    return (
        select(
            *_TITLE_COLUMNS,
            _ORGANIZATION.code,
            _ORGANIZATION.name,
            type_coerce(localizations, JSON).label("localization_rows"),
            type_coerce(genres, JSON).label("genre_rows"),
        )
        .join_from(_TITLES, Organization.__table__, _ORGANIZATION.id == _TITLES.c.org_id)
        # Built once per dialect: a statement built per call cost more Python than the
        # database spent running it (`bench.search --profile`); each call binds its own ids.
        .where(_TITLES.c.id.in_(bindparam("ids", expanding=True)))
    )


_CARDS_OF = {dialect: _cards_statement(dialect) for dialect in ("sqlite", "postgresql")}


def load_cards(session: Session, title_ids: list[uuid.UUID]) -> dict[uuid.UUID, TitleCard]:
    """The cards of these titles (missing ids are left out), in one statement."""
    if not title_ids:
        return {}
    connection = session.connection()
    statement = _CARDS_OF[connection.dialect.name]
    cards: dict[uuid.UUID, TitleCard] = {}
    for row in connection.execute(statement, {"ids": title_ids}):
        copied = dict(zip(_TITLE_FIELDS, row, strict=False))
        # Sorted by language tag and by genre, as the ORM relationships order them.
        localizations = sorted(LocalizationCard(*values) for values in row.localization_rows or ())
        cards[row.id] = TitleCard(
            **copied,
            kind=TitleKind(row.kind),
            status=TitleStatus(row.status),
            owner=OwnerCard(row.org_id, row.code, row.name),
            localizations=tuple(localizations),
            genres=sorted(row.genre_rows or ()),
        )
    return cards
