"""The titles of one result page, read as plain values rather than ORM objects.

A search page shows 20 titles with their localizations and genres. Loading them as ORM
objects (identity map, instance state, two `selectinload`s) took about 30 % of an
as-you-type search at 100,000 titles, mostly in Python (see `bench.search --profile`);
three plain Core queries return the same values in about half the time. A card has the
attribute names of `Title`, so what renders a title (the API's `TitleOut`, the web UI's
cards) renders a card alike.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
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


@dataclass(frozen=True)
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


# Built once: a statement built per call cost more Python than the database spent running it
# (its construction and cache key, `bench.search --profile`); each call binds its own ids.
_IDS: Any = bindparam("ids", expanding=True)
_LOCALIZATIONS_OF = (
    select(
        _LOCALIZATION.title_id,
        _LOCALIZATION.language,
        _LOCALIZATION.base_language,
        _LOCALIZATION.title,
        _LOCALIZATION.synopsis,
    )
    .where(_LOCALIZATION.title_id.in_(_IDS))
    .order_by(_LOCALIZATION.title_id, _LOCALIZATION.language)
)
_GENRES_OF = (
    select(_GENRE.title_id, _GENRE.genre)
    .where(_GENRE.title_id.in_(_IDS))
    .order_by(_GENRE.title_id, _GENRE.genre)
)
_TITLES_OF = (
    select(*_TITLE_COLUMNS, _ORGANIZATION.code, _ORGANIZATION.name)
    .join_from(_TITLES, Organization.__table__, _ORGANIZATION.id == _TITLES.c.org_id)
    .where(_TITLES.c.id.in_(_IDS))
)


def load_cards(session: Session, title_ids: list[uuid.UUID]) -> dict[uuid.UUID, TitleCard]:
    """The cards of these titles (missing ids are left out), in three queries."""
    if not title_ids:
        return {}
    connection = session.connection()
    ids = {"ids": title_ids}
    localized: dict[uuid.UUID, list[LocalizationCard]] = defaultdict(list)
    for title_id, *values in connection.execute(_LOCALIZATIONS_OF, ids):
        localized[title_id].append(LocalizationCard(*values))
    genres: dict[uuid.UUID, list[str]] = defaultdict(list)
    for title_id, genre in connection.execute(_GENRES_OF, ids):
        genres[title_id].append(genre)
    cards: dict[uuid.UUID, TitleCard] = {}
    for row in connection.execute(_TITLES_OF, ids):
        copied = dict(zip(_TITLE_FIELDS, row, strict=False))
        cards[row.id] = TitleCard(
            **copied,
            kind=TitleKind(row.kind),
            status=TitleStatus(row.status),
            owner=OwnerCard(row.org_id, row.code, row.name),
            localizations=tuple(localized.get(row.id, ())),
            genres=genres.get(row.id, []),
        )
    return cards
