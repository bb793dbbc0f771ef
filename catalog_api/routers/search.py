"""Full-text, cross-script search with facets."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from catalog_api.deps import SAFE_TEXT, BearerCredentials, Cursor, as_viewer
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.search import (
    MatchedEpisodeOut,
    QueryTermOut,
    SearchHitOut,
    SearchOut,
)
from catalog_api.schemas.titles import TitleOut
from pool_core.catalog.rules import normalize_language
from pool_core.errors import InvalidInput
from pool_core.models import TitleKind, User
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled
from pool_core.ops.search_threads import run_search
from pool_core.search.availability import availability_of
from pool_core.search.engine import search_titles
from pool_core.search.statements import SearchFilters, SearchSort

router = APIRouter(prefix="/v1", tags=["search"], responses=PROBLEM_RESPONSES)

Codes = Annotated[list[str], Query(max_length=20)]


@router.get("/search", response_model=SearchOut)
async def search(
    request: Request,
    credentials: BearerCredentials,
    q: Annotated[
        str,
        Query(
            max_length=200,
            pattern=SAFE_TEXT,
            description="Words in any language and script; each matches as a prefix, "
            "with one typo tolerated. Empty: browse by the filters.",
        ),
    ] = "",
    kind: Annotated[list[TitleKind], Query(max_length=5)] = [],  # noqa: B006 - FastAPI copies.
    genre: Codes = [],  # noqa: B006
    language: Codes = [],  # noqa: B006
    subtitles: Annotated[
        list[str],
        Query(max_length=20, description="Only titles with subtitles in one of these languages."),
    ] = [],  # noqa: B006
    owner: Codes = [],  # noqa: B006
    year_from: Annotated[int | None, Query(ge=1888, le=2100)] = None,
    year_to: Annotated[int | None, Query(ge=1888, le=2100)] = None,
    duration_min: Annotated[int | None, Query(ge=0, le=604_800, description="Seconds.")] = None,
    duration_max: Annotated[int | None, Query(ge=0, le=604_800, description="Seconds.")] = None,
    licensable_now: Annotated[
        bool,
        Query(
            description="Only other members' titles with a rights window over your "
            "organization's country now."
        ),
    ] = False,
    sort: SearchSort = SearchSort.RELEVANCE,
    facets: bool = True,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
) -> SearchOut:
    """Search every title you may see, over all localizations, in any script."""
    filters = SearchFilters(
        kinds=tuple(k.value for k in kind),
        genres=tuple(_clean(genre)),
        languages=tuple(_clean(language)),
        owners=tuple(o.lower() for o in _clean(owner)),
        year_from=year_from,
        year_to=year_to,
        duration_min=duration_min,
        duration_max=duration_max,
        licensable_now=licensable_now,
        subtitles=tuple(_languages(subtitles)),
    )
    work = partial(
        _answer,
        query=q,
        filters=filters,
        sort=sort,
        limit=limit,
        cursor=cursor,
        with_facets=facets,
    )
    # Authentication, the search and its unit of work in one hop to a search thread.
    return await run_search(as_viewer(request, credentials, work))


def _answer(
    session: Session,
    user: User,
    *,
    query: str,
    filters: SearchFilters,
    sort: SearchSort,
    limit: int,
    cursor: str | None,
    with_facets: bool,
) -> SearchOut:
    """The answer to one search, computed on a search thread (`run_search`)."""
    started = time.perf_counter()
    viewer_org_id = user.org_id
    page = search_titles(
        session,
        viewer_org_id=viewer_org_id,
        query=query,
        filters=filters,
        sort=sort,
        limit=limit,
        cursor=cursor,
        with_facets=with_facets,
    )
    rights = availability_of(
        session, titles=[h.title for h in page.hits], viewer_org_id=viewer_org_id
    )
    if metrics_enabled():
        metrics.search_duration.observe(time.perf_counter() - started)
    return SearchOut(
        items=[
            SearchHitOut(
                score=h.score,
                rights=rights[h.title.id],
                title=TitleOut.from_model(h.title),
                matched_episodes=[MatchedEpisodeOut.from_match(m) for m in h.episodes],
            )
            for h in page.hits
        ],
        next_cursor=page.next_cursor,
        total=page.total,
        facets=page.facets,
        terms=[QueryTermOut(term=g.term, typo_variants=list(g.variants)) for g in page.groups],
    )


def _languages(values: list[str]) -> list[str]:
    # Tracks are stored under canonical tags (`kk-Cyrl`); anything else matches nothing.
    tags = []
    for value in _clean(values):
        try:
            tags.append(normalize_language(value))
        except InvalidInput:
            tags.append(value)
    return tags


def _clean(values: list[str]) -> list[str]:
    # Facet values are short codes; anything else simply matches nothing.
    return [v.strip()[:35] for v in values if v.strip() and v.isprintable()]
