"""The SQL of a search, built once per shape and reused with each search's values.

Building the ranked statement (a CASE per query word and typo variant, the visibility and
facet conditions) took about 1 ms of Python per search, and the facet counts 1.6 ms: more than
the database spends on most queries (`bench.search --profile`). A statement's structure
depends only on its shape (the database, how many variants each query word has, which filters
are set, the order, facets or not), so it is built once per shape with named bind parameters
and kept; a search supplies the values (`values_of`). SQLAlchemy then also finds its compiled
form at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)

from pool_core.models import (
    AssetCatalog,
    Organization,
    SubtitleTrack,
    TitleGenre,
    TitleLocalization,
    TitleSearch,
    TitleStatus,
)
from pool_core.search.availability import licensable_now
from pool_core.search.backends import SearchBackend, TermGroup, backend_named

# Duration facet buckets, in minutes: (label, lower bound inclusive, upper bound exclusive).
DURATION_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-5", 0, 5),
    ("5-30", 5, 30),
    ("30-60", 30, 60),
    ("60-120", 60, 120),
    ("120+", 120, None),
)
# `licensable_now` has one value, "true": how many matches are offered to the viewer now.
FACETS = (
    "kind",
    "owner",
    "genre",
    "language",
    "year",
    "duration",
    "licensable_now",
    "subtitles",
)
# Shapes kept per process: the query words' variant counts make most of the variety.
CACHED_SHAPES = 512


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
    # Titles with a master that has subtitles in one of these languages (BCP 47 tags).
    subtitles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shape:
    """What a search statement's structure depends on (not its values)."""

    dialect: str
    variants: tuple[int, ...]  # per query word, how many typo variants it has
    filters: tuple[str, ...]  # the filter values that are set (names of `SearchFilters` fields)
    sort: SearchSort


def shape_of(
    dialect: str, groups: list[TermGroup], filters: SearchFilters, sort: SearchSort
) -> Shape:
    """The shape of a search."""
    return Shape(
        dialect=dialect,
        variants=tuple(len(g.variants) for g in groups),
        filters=tuple(_filter_values(filters)),
        sort=sort,
    )


def values_of(
    backend: SearchBackend,
    groups: list[TermGroup],
    filters: SearchFilters,
    *,
    viewer_org_id: int,
    now: datetime,
) -> dict[str, Any]:
    """The bind parameters of a search's statements."""
    values: dict[str, Any] = {"viewer": viewer_org_id, "now": now}
    if groups:
        values["match"] = backend.query_text(groups)
        values["phrase"] = " ".join(g.term for g in groups)
    for n, group in enumerate(groups):
        values.update(backend.title_tier_values(n, group))
    values.update(_filter_values(filters))
    values.pop("licensable_now", None)
    if filters.languages:
        values["bases"] = [lang.split("-")[0].lower() for lang in filters.languages]
    return values


def _filter_values(filters: SearchFilters) -> dict[str, Any]:
    """The filters that are set, by the name of their bind parameter."""
    given: dict[str, Any] = {
        "kinds": list(filters.kinds),
        "owners": list(filters.owners),
        "genres": list(filters.genres),
        "languages": list(filters.languages),
        "subtitles": list(filters.subtitles),
        "year_from": filters.year_from,
        "year_to": filters.year_to,
        "duration_min": filters.duration_min,
        "duration_max": filters.duration_max,
    }
    # 0 is a bound like any other (duration >= 0 leaves out titles without a duration).
    chosen = {name: value for name, value in given.items() if value is not None and value != []}
    if filters.licensable_now:
        chosen["licensable_now"] = True  # a condition without a value of its own
    return chosen


def visible(viewer_org_id: Any) -> ColumnElement[bool]:
    """What a viewer may find: published titles and their own organization's."""
    return or_(
        TitleSearch.status == TitleStatus.PUBLISHED.value,
        TitleSearch.org_id == viewer_org_id,
    )


@lru_cache(maxsize=CACHED_SHAPES)
def ranked(shape: Shape, *, with_total: bool) -> Select[Any]:
    """`(title_id, score[, total])` of one page, in the shape's order (`offset`, `limit`).

    `with_total` adds the count of every match to each row (the as-you-type list takes its
    total from the ranking's own pass instead of a second full-text lookup and count).
    """
    conditions = _conditions(shape)
    # Ordered by its label, so the database computes the score once per row, not twice.
    score = (_score(shape) if shape.variants else literal(0)).label("score")
    order: list[ColumnElement[Any]]
    if shape.sort is SearchSort.TITLE:
        order = [TitleSearch.title_sort.asc(), TitleSearch.title_id.asc()]
    elif shape.sort is SearchSort.NEWEST or not shape.variants:
        order = [TitleSearch.created_at.desc(), TitleSearch.title_id.desc()]
    else:
        order = [score.desc(), TitleSearch.title_sort.asc(), TitleSearch.title_id.asc()]
    columns: list[Any] = [TitleSearch.title_id, score]
    if with_total:
        columns.append(func.count().over().label("total"))
    return (
        select(*columns)
        .where(*conditions.all())
        .order_by(*order)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


@lru_cache(maxsize=CACHED_SHAPES)
def counted(shape: Shape) -> Select[Any]:
    """How many titles match."""
    return select(func.count()).select_from(TitleSearch).where(*_conditions(shape).all())


@lru_cache(maxsize=CACHED_SHAPES)
def total_and_facets(shape: Shape) -> CompoundSelect[Any]:
    """`(facet, value, count)` rows: the total (facet "total") and every facet's counts.

    A facet the caller filters on is counted without its own filter (the usual faceted
    search: ticking "film" keeps "serial" and "news" offered with their counts); the total and
    the other facets obey every filter.
    """
    conditions = _conditions(shape)
    backend = backend_named(shape.dialect)
    everything = _matched(conditions.all(), "matched")
    parts: list[Any] = [select(literal("total"), literal(""), func.count()).select_from(everything)]
    for name in FACETS:
        if name in conditions.by_facet:
            source = _matched(conditions.without(name), f"matched_{name}")
        else:
            source = everything
        parts.append(_facet_counts(name, source, backend))
    return union_all(*parts)


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


def _conditions(shape: Shape) -> _Conditions:
    backend = backend_named(shape.dialect)
    base: list[ColumnElement[bool]] = [visible(bindparam("viewer"))]
    if shape.variants:
        base.append(backend.matches(bindparam("match")))
    by_facet: dict[str, ColumnElement[bool]] = {}
    has = set(shape.filters)
    if "kinds" in has:
        by_facet["kind"] = TitleSearch.kind.in_(bindparam("kinds", expanding=True))
    if "owners" in has:
        owners = select(Organization.id).where(
            Organization.code.in_(bindparam("owners", expanding=True))
        )
        by_facet["owner"] = TitleSearch.org_id.in_(owners)
    if "genres" in has:
        genre_ids = select(TitleGenre.title_id).where(
            TitleGenre.genre.in_(bindparam("genres", expanding=True))
        )
        by_facet["genre"] = TitleSearch.title_id.in_(genre_ids)
    if "languages" in has:
        lang_ids = select(TitleLocalization.title_id).where(
            or_(
                TitleLocalization.language.in_(bindparam("languages", expanding=True)),
                TitleLocalization.base_language.in_(bindparam("bases", expanding=True)),
            )
        )
        by_facet["language"] = TitleSearch.title_id.in_(lang_ids)
    for facet, value, low, high in (
        ("year", TitleSearch.production_year, "year_from", "year_to"),
        ("duration", TitleSearch.duration_seconds, "duration_min", "duration_max"),
    ):
        bounds = [value >= bindparam(low)] if low in has else []
        bounds += [value <= bindparam(high)] if high in has else []
        if bounds:
            by_facet[facet] = and_(*bounds)
    if "subtitles" in has:
        with_subtitles = (
            select(AssetCatalog.title_id)
            .join(SubtitleTrack, SubtitleTrack.asset_id == AssetCatalog.asset_id)
            .where(SubtitleTrack.language.in_(bindparam("subtitles", expanding=True)))
        )
        by_facet["subtitles"] = TitleSearch.title_id.in_(with_subtitles)
    if "licensable_now" in has:
        by_facet["licensable_now"] = _licensable(backend, TitleSearch.title_id, TitleSearch.org_id)
    return _Conditions(base=base, by_facet=by_facet)


def _licensable(backend: SearchBackend, title_id: Any, org_id: Any) -> ColumnElement[bool]:
    return licensable_now(
        backend,
        title_id=title_id,
        org_id=org_id,
        viewer_org_id=bindparam("viewer"),
        now=bindparam("now"),
    )


def _score(shape: Shape) -> ColumnElement[int]:
    """Per query word 4 (a title word), 3 (starts one), 2 (a variant is one) or 1; +5 when
    the whole query is the title's sort form (see `engine`)."""
    backend = backend_named(shape.dialect)
    total: ColumnElement[int] | None = None
    for n, variants in enumerate(shape.variants):
        part = case(*backend.title_tiers(n, variants), else_=1)
        total = part if total is None else total + part
    bonus = case((TitleSearch.title_sort == bindparam("phrase"), 5), else_=0)
    assert total is not None
    return total + bonus


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


def _facet_counts(name: str, matched: CTE, backend: SearchBackend) -> Select[str, str, int]:
    """`(facet, value, count)` rows of one facet over a matched set."""
    source: Any = matched
    if name == "licensable_now":
        # One row, counted even when zero, so the facet is always offered.
        offered = _licensable(backend, matched.c.title_id, matched.c.org_id)
        return (
            select(literal(name), literal("true"), func.count()).select_from(matched).where(offered)
        )
    if name == "subtitles":
        # A title counts once per language, however many of its masters have that track.
        tracks = matched.join(AssetCatalog, AssetCatalog.title_id == matched.c.title_id).join(
            SubtitleTrack, SubtitleTrack.asset_id == AssetCatalog.asset_id
        )
        return (
            select(
                literal(name).label("facet"),
                cast(SubtitleTrack.language, String).label("value"),
                func.count(distinct(matched.c.title_id)).label("n"),
            )
            .select_from(tracks)
            .group_by(SubtitleTrack.language)
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
