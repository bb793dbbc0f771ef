"""Indexing titles and searching them, identically on SQLite and PostgreSQL.

Matching is done by the database's full-text index (see `backends`); relevance is computed by
the same portable SQL expression on both databases, so the order is the same too:

    per query word: 4 if it is a whole word of a title (any localization),
                    3 if it starts a word of a title,
                    2 if a one-typo variant is a word of a title,
                    1 if it only matches elsewhere (synopsis, keywords, people,
                      episode names and their localizations);
    plus 5 when the whole query is the title's sort form; ties by title, then id.

A hit found through episode names lists those episodes (see `episodes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from pool_core.common.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from pool_core.errors import InvalidInput
from pool_core.models import (
    Episode,
    Organization,
    Title,
    TitleGenre,
    TitleLocalization,
    TitleSearch,
    TitleStatus,
)
from pool_core.models.base import utcnow
from pool_core.search.availability import licensable_now
from pool_core.search.backends import SearchBackend, TermGroup, backend_for
from pool_core.search.cards import TitleCard, load_cards
from pool_core.search.episodes import EpisodeMatch, match_episodes, searchable_names
from pool_core.search.normalize import MAX_QUERY_TERMS, sort_key, terms, unique_terms
from pool_core.search.typos import (
    MAX_VARIANTS_PER_TERM,
    add_to_vocabulary,
    prune_vocabulary,
    typo_candidates_of,
)

# Duration facet buckets, in minutes: (label, lower bound inclusive, upper bound exclusive).
DURATION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-5", 0, 5),
    ("5-30", 5, 30),
    ("30-60", 30, 60),
    ("60-120", 60, 120),
    ("120+", 120, None),
)
MAX_OFFSET = 10_000


class SearchSort(StrEnum):
    """Orders the search results can come in."""

    RELEVANCE = "relevance"
    NEWEST = "newest"
    TITLE = "title"


@dataclass(frozen=True)
class SearchFilters:
    """Facet filters; within one facet values are OR-ed, facets are AND-ed."""

    kinds: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    duration_min: int | None = None
    duration_max: int | None = None
    # Only other members' titles offered in the viewer's country now (see `availability`).
    licensable_now: bool = False


@dataclass(frozen=True)
class SearchHit:
    """One result: the title, its relevance score and the episodes whose names matched."""

    title: TitleCard
    score: int
    episodes: tuple[EpisodeMatch, ...] = ()


@dataclass
class SearchPage:
    """One page of results, the cursor for the next, the total and the facet counts."""

    hits: list[SearchHit]
    total: int
    next_cursor: str | None
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: list[TermGroup] = field(default_factory=list)


@dataclass(frozen=True)
class SearchDocument:
    """The folded text of one title as both full-text backends index it."""

    title_sort: str
    title_doc: str
    document: str


def build_document(
    *,
    original_title: str,
    titles: list[str],
    texts: list[str],
) -> SearchDocument:
    """Fold a title's names (`titles`) and other searchable text into its search document."""
    title_terms = unique_terms(original_title, *titles)
    other_terms = unique_terms(*texts)
    return SearchDocument(
        title_sort=sort_key(original_title) or sort_key(" ".join(titles)),
        title_doc=" ".join(title_terms),
        document=" ".join(dict.fromkeys([*title_terms, *other_terms])),
    )


def document_of(
    *,
    original_title: str,
    localizations: Iterable[tuple[str, str]],
    keywords: Iterable[str],
    contributor_names: Iterable[str],
    external_id: str | None,
    episode_names: Iterable[str],
) -> SearchDocument:
    """The search document of a title from its parts (`localizations`: title, synopsis)."""
    localized = list(localizations)
    return build_document(
        original_title=original_title,
        titles=[name for name, _ in localized],
        texts=[
            *(synopsis for _, synopsis in localized),
            *keywords,
            *contributor_names,
            external_id or "",
            # Last: the document keeps its first MAX_DOCUMENT_TERMS distinct terms, so a
            # programme with thousands of episodes cannot push out the title's own words.
            *episode_names,
        ],
    )


def index_title(session: Session, *, title: Title) -> TitleSearch:
    """Write (or rewrite) the search row of a title in the caller's unit of work.

    Call it again whenever the title or one of its episodes changes.
    """
    episodes = session.scalars(
        select(Episode)
        .where(Episode.title_id == title.id)
        .order_by(Episode.season_number, Episode.number)
    )
    built = document_of(
        original_title=title.original_title,
        localizations=[(loc.title, loc.synopsis) for loc in title.localizations],
        keywords=title.keywords,
        contributor_names=[str(c.get("name", "")) for c in title.contributors],
        external_id=title.external_id,
        episode_names=searchable_names(episodes),
    )
    row = session.scalar(select(TitleSearch).where(TitleSearch.title_id == title.id))
    if row is None:
        row = TitleSearch(title_id=title.id, created_at=title.created_at)
        session.add(row)
    dropped = set((row.document or "").split()) - set(built.document.split())
    row.org_id = title.org_id
    row.kind = str(title.kind)
    row.status = str(title.status)
    row.production_year = title.production_year
    row.duration_seconds = title.duration_seconds
    row.title_sort = built.title_sort
    row.title_doc = built.title_doc
    row.document = built.document
    row.genres = sorted(set(title.genres))
    row.languages = sorted({loc.base_language for loc in title.localizations})
    session.flush()
    backend_for(session).index(session, row_id=row.id, document=built.document)
    add_to_vocabulary(session, built.document.split())
    # Words the title no longer has leave the vocabulary unless another title still has them.
    prune_vocabulary(session, dropped)
    return row


def remove_title(session: Session, *, title_id: uuid.UUID) -> None:
    """Drop a title from the search index."""
    row = session.scalar(select(TitleSearch).where(TitleSearch.title_id == title_id))
    if row is None:
        return
    words = row.document.split()
    backend_for(session).remove(session, row_id=row.id)
    session.delete(row)
    session.flush()
    prune_vocabulary(session, words)


def parse_query(session: Session, query: str, *, viewer_org_id: int) -> list[TermGroup]:
    """Fold a query into term groups, each with the one-typo variants the viewer may see.

    The vocabulary is every member's words, drafts included; a variant is kept only when a
    title the viewer may see (published, or their own) holds it, otherwise `typo_variants` in
    the answer would spell out another member's unpublished words.
    """
    words = list(dict.fromkeys(terms(query, limit=MAX_QUERY_TERMS)))
    # One statement finds every word's candidates and keeps those a visible title holds.
    variants = typo_candidates_of(session, words, held_where=_visible(viewer_org_id))
    return [TermGroup(w, tuple(variants[w][:MAX_VARIANTS_PER_TERM])) for w in words]


def _visible(viewer_org_id: int) -> ColumnElement[bool]:
    """What a viewer may find: published titles and their own organization's."""
    return or_(
        TitleSearch.status == TitleStatus.PUBLISHED.value,
        TitleSearch.org_id == viewer_org_id,
    )


def search_titles(
    session: Session,
    *,
    viewer_org_id: int,
    query: str = "",
    filters: SearchFilters | None = None,
    sort: SearchSort = SearchSort.RELEVANCE,
    limit: int = 20,
    cursor: str | None = None,
    with_facets: bool = True,
    now: datetime | None = None,
) -> SearchPage:
    """Search the titles the viewer may see: published ones and their own drafts.

    `now` is the moment "licensable now" refers to (the current time unless given).
    """
    filters = filters or SearchFilters()
    groups = parse_query(session, query, viewer_org_id=viewer_org_id) if query.strip() else []
    if query.strip() and not groups:
        # Only punctuation: nothing can match, and saying so beats listing everything.
        return SearchPage(hits=[], total=0, next_cursor=None, facets={}, groups=[])
    viewer = _Viewer(org_id=viewer_org_id, now=now or utcnow())
    conditions = _conditions(session, viewer, groups, filters)
    # Ordered by its label, so the database computes the score once per row, not twice.
    score = (_score(backend_for(session), groups) if groups else literal(0)).label("score")
    offset = _decode_cursor(cursor)

    order: list[ColumnElement[Any]]
    if sort is SearchSort.TITLE:
        order = [TitleSearch.title_sort.asc(), TitleSearch.title_id.asc()]
    elif sort is SearchSort.NEWEST or not groups:
        order = [TitleSearch.created_at.desc(), TitleSearch.title_id.desc()]
    else:
        order = [score.desc(), TitleSearch.title_sort.asc(), TitleSearch.title_id.asc()]

    columns: list[Any] = [TitleSearch.title_id, score]
    if not with_facets:
        # The as-you-type list: the total comes with the page, computed over the same matches
        # the ranking already visits, instead of a second full-text lookup and count.
        columns.append(func.count().over().label("total"))
    rows = session.execute(
        select(*columns).where(*conditions.all()).order_by(*order).offset(offset).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    titles = load_cards(session, [r[0] for r in rows])
    matched = match_episodes(session, title_ids=list(titles), groups=groups)
    hits = [
        SearchHit(title=titles[r[0]], score=int(r[1]), episodes=matched.get(r[0], ()))
        for r in rows
        if r[0] in titles
    ]
    if with_facets:
        total, facets = _total_and_facets(session, conditions, viewer)
    else:
        facets = {}
        if rows:
            total = int(rows[0][2])
        elif offset:
            # A cursor past the last match: the window saw no row to count on.
            count = select(func.count()).select_from(TitleSearch).where(*conditions.all())
            total = session.scalar(count) or 0
        else:
            total = 0  # the first page is empty: nothing matched
    next_cursor = _encode_cursor(offset + limit) if more and offset + limit <= MAX_OFFSET else None
    return SearchPage(hits=hits, total=total, next_cursor=next_cursor, facets=facets, groups=groups)


@dataclass(frozen=True)
class _Viewer:
    """Who searches and when: what visibility and "licensable now" depend on."""

    org_id: int
    now: datetime


@dataclass(frozen=True)
class _Conditions:
    """What a search filters on: visibility and words, plus one condition per facet filter."""

    base: list[ColumnElement[bool]]
    by_facet: dict[str, ColumnElement[bool]]

    def all(self) -> list[ColumnElement[bool]]:
        """Every condition: what the result list shows."""
        return [*self.base, *self.by_facet.values()]

    def without(self, facet: str) -> list[ColumnElement[bool]]:
        """Every condition but the facet's own, so its counts show the alternatives."""
        return [*self.base, *(c for name, c in self.by_facet.items() if name != facet)]


def _conditions(
    session: Session, viewer: _Viewer, groups: list[TermGroup], filters: SearchFilters
) -> _Conditions:
    backend = backend_for(session)
    base: list[ColumnElement[bool]] = [_visible(viewer.org_id)]
    if groups:
        base.append(backend.matches(groups))
    by_facet: dict[str, ColumnElement[bool]] = {}
    if filters.kinds:
        by_facet["kind"] = TitleSearch.kind.in_(filters.kinds)
    if filters.owners:
        owners = select(Organization.id).where(Organization.code.in_(filters.owners))
        by_facet["owner"] = TitleSearch.org_id.in_(owners)
    if filters.genres:
        genre_ids = select(TitleGenre.title_id).where(TitleGenre.genre.in_(filters.genres))
        by_facet["genre"] = TitleSearch.title_id.in_(genre_ids)
    if filters.languages:
        bases = [lang.split("-")[0].lower() for lang in filters.languages]
        lang_ids = select(TitleLocalization.title_id).where(
            or_(
                TitleLocalization.language.in_(filters.languages),
                TitleLocalization.base_language.in_(bases),
            )
        )
        by_facet["language"] = TitleSearch.title_id.in_(lang_ids)
    years: list[ColumnElement[bool]] = []
    if filters.year_from is not None:
        years.append(TitleSearch.production_year >= filters.year_from)
    if filters.year_to is not None:
        years.append(TitleSearch.production_year <= filters.year_to)
    if years:
        by_facet["year"] = and_(*years)
    durations: list[ColumnElement[bool]] = []
    if filters.duration_min is not None:
        durations.append(TitleSearch.duration_seconds >= filters.duration_min)
    if filters.duration_max is not None:
        durations.append(TitleSearch.duration_seconds <= filters.duration_max)
    if durations:
        by_facet["duration"] = and_(*durations)
    if filters.licensable_now:
        by_facet["licensable_now"] = licensable_now(
            backend,
            title_id=TitleSearch.title_id,
            org_id=TitleSearch.org_id,
            viewer_org_id=viewer.org_id,
            now=viewer.now,
        )
    return _Conditions(base=base, by_facet=by_facet)


def _score(backend: SearchBackend, groups: list[TermGroup]) -> ColumnElement[int]:
    # Terms are folded to [a-z0-9] and separated by one space, so a padded substring test is
    # a whole-word (" term ") or word-prefix (" term") test.
    padded = literal(" ") + TitleSearch.title_doc + literal(" ")
    total: ColumnElement[int] | None = None
    for group in groups:
        whens: list[tuple[ColumnElement[bool], int]] = [
            (backend.holds(padded, f" {group.term} "), 4),
            (backend.holds(padded, f" {group.term}"), 3),
        ]
        whens += [(backend.holds(padded, f" {v} "), 2) for v in group.variants]
        part = case(*whens, else_=1)
        total = part if total is None else total + part
    phrase = " ".join(g.term for g in groups)
    bonus = case((TitleSearch.title_sort == phrase, 5), else_=0)
    assert total is not None
    return total + bonus


# `licensable_now` has one value, "true": how many matches are offered to the viewer now.
FACETS = ("kind", "owner", "genre", "language", "year", "duration", "licensable_now")


def _total_and_facets(
    session: Session, conditions: _Conditions, viewer: _Viewer
) -> tuple[int, dict[str, dict[str, int]]]:
    """The total and every facet's counts in one statement.

    A facet the caller filters on is counted without its own filter (the usual faceted
    search: ticking "film" keeps "serial" and "news" offered with their counts); the total and
    the other facets obey every filter.
    """
    backend = backend_for(session)
    everything = _matched(conditions.all(), "matched")
    parts: list[Any] = [select(literal("total"), literal(""), func.count()).select_from(everything)]
    for name in FACETS:
        if name in conditions.by_facet:
            source = _matched(conditions.without(name), f"matched_{name}")
        else:
            source = everything
        parts.append(_facet_counts(name, source, backend, viewer))
    statement: CompoundSelect[Any] = union_all(*parts)
    total = 0
    facets: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for name, value, count in session.execute(statement):
        if name == "total":
            total = int(count)
        elif value is not None:
            facets[name][str(value)] = int(count)
    return total, facets


def _matched(conditions: list[ColumnElement[bool]], name: str) -> CTE:
    # Materialised once per statement: the full-text lookup then runs once rather than once
    # per facet (MATERIALIZED is understood by SQLite and PostgreSQL).
    return (
        select(
            TitleSearch.title_id,
            TitleSearch.kind,
            TitleSearch.org_id,
            TitleSearch.production_year,
            TitleSearch.duration_seconds,
            TitleSearch.genres,
            TitleSearch.languages,
        )
        .where(*conditions)
        .cte(name)
        .prefix_with("MATERIALIZED")
    )


def _facet_counts(
    name: str, matched: CTE, backend: SearchBackend, viewer: _Viewer
) -> Select[str, str, int]:
    """`(facet, value, count)` rows of one facet over a matched set."""
    source: Any = matched
    if name == "licensable_now":
        # One row, counted even when zero, so the facet is always offered.
        offered = licensable_now(
            backend,
            title_id=matched.c.title_id,
            org_id=matched.c.org_id,
            viewer_org_id=viewer.org_id,
            now=viewer.now,
        )
        return (
            select(literal(name), literal("true"), func.count()).select_from(matched).where(offered)
        )
    if name == "kind":
        key: Any = matched.c.kind
    elif name == "owner":
        key = Organization.code
        source = matched.join(Organization, Organization.id == matched.c.org_id)
    elif name == "year":
        key = matched.c.production_year
    elif name == "duration":
        seconds = matched.c.duration_seconds
        key = case(
            *[
                (
                    and_(seconds >= lo * 60, seconds < hi * 60)
                    if hi is not None
                    else seconds >= lo * 60,
                    label,
                )
                for label, lo, hi in DURATION_BUCKETS
            ],
            else_=None,
        )
    else:
        # Genres and languages: the row's JSON array, one output row per element.
        column = matched.c.genres if name == "genre" else matched.c.languages
        elements = backend.elements(column)
        key = elements.c.value
        source = matched.join(elements, true())
    return (
        select(
            literal(name).label("facet"), cast(key, String).label("value"), func.count().label("n")
        )
        .select_from(source)
        .group_by(key)
    )


def _encode_cursor(offset: int) -> str:
    return encode_cursor({"o": offset})


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    data = decode_cursor(cursor)
    if not isinstance(data, dict):
        raise InvalidInput(BAD_CURSOR)
    try:
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(BAD_CURSOR) from exc
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("the cursor is out of range")
    return offset
