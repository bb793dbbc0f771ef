"""Indexing titles and searching them, identically on SQLite and PostgreSQL.

Matching is done by the database's full-text index (see `backends`); relevance is computed in
SQL by one expression whose per-word tests each backend supplies (SQLite looks the words up in
an index of title words, PostgreSQL searches the title's words), so the order is the same too:

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.common.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from pool_core.errors import InvalidInput
from pool_core.models import Episode, Title, TitleSearch
from pool_core.models.base import utcnow
from pool_core.search import statements
from pool_core.search.backends import TermGroup, backend_for, backend_named
from pool_core.search.cards import TitleCard, load_cards
from pool_core.search.episodes import EpisodeMatch, match_episodes, searchable_names
from pool_core.search.normalize import MAX_QUERY_TERMS, sort_key, terms, unique_terms
from pool_core.search.statements import SearchFilters, SearchSort
from pool_core.search.typos import (
    MAX_VARIANTS_PER_TERM,
    add_to_vocabulary,
    prune_vocabulary,
    typo_candidates_of,
)

MAX_OFFSET = 10_000


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
    backend_for(session).index(
        session, row_id=row.id, document=built.document, title_doc=built.title_doc
    )
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
    variants = typo_candidates_of(session, words, visible_to=viewer_org_id)
    return [TermGroup(w, tuple(variants[w][:MAX_VARIANTS_PER_TERM])) for w in words]


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
    offset = _decode_cursor(cursor)
    dialect = session.get_bind().dialect.name
    shape = statements.shape_of(dialect, groups, filters, sort)
    values = statements.values_of(
        backend_named(dialect), groups, filters, viewer_org_id=viewer_org_id, now=now or utcnow()
    )
    # The as-you-type list (no facets) takes its total from the page's own ranked query,
    # computed over the same matches the ranking visits, instead of a second lookup and count.
    ranked = statements.ranked(shape, with_total=not with_facets)
    connection = session.connection()
    rows = connection.execute(ranked, {**values, "offset": offset, "limit": limit + 1}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    titles = load_cards(session, [r[0] for r in rows])
    matched = match_episodes(session, title_ids=list(titles), groups=groups)
    hits = [
        SearchHit(title=titles[r[0]], score=int(r[1]), episodes=matched.get(r[0], ()))
        for r in rows
        if r[0] in titles
    ]
    facets: dict[str, dict[str, int]] = {}
    if with_facets:
        facets = {name: {} for name in statements.FACETS}
        total = 0
        for name, value, count in connection.execute(statements.total_and_facets(shape), values):
            if name == "total":
                total = int(count)
            elif value is not None:
                facets[name][str(value)] = int(count)
    elif rows:
        total = int(rows[0][2])
    elif offset:
        # A cursor past the last match: the window saw no row to count on.
        total = int(connection.execute(statements.counted(shape), values).scalar_one())
    else:
        total = 0  # the first page is empty: nothing matched
    next_cursor = _encode_cursor(offset + limit) if more and offset + limit <= MAX_OFFSET else None
    return SearchPage(hits=hits, total=total, next_cursor=next_cursor, facets=facets, groups=groups)


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
