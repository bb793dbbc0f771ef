"""The home page: search as you type, facets with counts, cards with rights badges.

The form is a plain GET form (it works without JavaScript and its URL can be shared); htmx
re-sends it as the user types or ticks a facet and swaps in only the results fragment, and
"More results" appends the next page. The engine is called exactly as GET /v1/search calls it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError
from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog_web.auth import CurrentWebUser, WebUser
from catalog_web.pages.common import SessionDep, web_router
from catalog_web.pages.titles import Name, localized_name, poster_urls
from catalog_web.render import is_htmx, language_of, render
from catalog_web.state import web_state
from pool_core.errors import InvalidInput
from pool_core.models import Title, TitleKind
from pool_core.ops.search_threads import run_search
from pool_core.search.availability import Availability, availability_of, poster_keys
from pool_core.search.cards import TitleCard
from pool_core.search.cues import search_cues
from pool_core.search.engine import SearchPage, search_titles
from pool_core.search.statements import DURATION_BUCKETS, SearchFilters
from pool_core.services.accounts import list_organizations

router = web_router()

PAGE_SIZE = 24
# Subtitle lines shown above the cards (the API's /v1/search/subtitles gives more).
CUE_HITS = 5
# The same limits as GET /v1/search (no control characters; short facet codes).
SAFE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
Codes = Annotated[list[str], Query(max_length=20)]
MIN_YEAR, MAX_YEAR = 1888, 2100


@dataclass(frozen=True)
class SearchForm:
    """What the search form (and so the URL) holds."""

    q: str = ""
    kinds: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    year: int | None = None
    duration: str = ""
    licensable_now: bool = False

    def filters(self) -> SearchFilters:
        """The engine's filters, as the API builds them from the same values."""
        low, high = _duration_range(self.duration)
        return SearchFilters(
            kinds=self.kinds,
            genres=self.genres,
            languages=self.languages,
            owners=self.owners,
            year_from=self.year,
            year_to=self.year,
            duration_min=low,
            duration_max=high,
            licensable_now=self.licensable_now,
        )

    def params(self) -> list[tuple[str, str]]:
        """The form as URL parameters, in the form's own order and names."""
        pairs: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        pairs += [("kind", v) for v in self.kinds]
        pairs += [("genre", v) for v in self.genres]
        pairs += [("language", v) for v in self.languages]
        pairs += [("owner", v) for v in self.owners]
        if self.year is not None:
            pairs.append(("year", str(self.year)))
        if self.duration:
            pairs.append(("duration", self.duration))
        if self.licensable_now:
            pairs.append(("licensable_now", "true"))
        return pairs

    def url(self, **extra: str) -> str:
        """The page's address for this form (plus, e.g., a cursor)."""
        pairs = self.params() + list(extra.items())
        return "/?" + urlencode(pairs) if pairs else "/"

    @property
    def is_empty(self) -> bool:
        """Whether nothing was asked: the page then lists the newest titles."""
        return not self.params()


def _duration_range(bucket: str) -> tuple[int | None, int | None]:
    """A duration facet bucket (minutes, `30-60`) as the engine's seconds, bounds inclusive."""
    if not bucket:
        return None, None
    for label, low, high in DURATION_BUCKETS:
        if label == bucket:
            return low * 60, (high * 60 - 1 if high is not None else None)
    raise InvalidInput(f"duration {bucket!r} is not one of the offered ranges")


def _year(value: str) -> int | None:
    # A string, not an int parameter: the form's "any year" choice sends an empty value.
    if not value.strip():
        return None
    if not value.strip().isdigit() or not MIN_YEAR <= int(value) <= MAX_YEAR:
        raise InvalidInput(f"year {value!r} is not a year between {MIN_YEAR} and {MAX_YEAR}")
    return int(value)


def _clean(values: list[str]) -> tuple[str, ...]:
    # As the API: facet values are short codes; anything else simply matches nothing.
    return tuple(v.strip()[:35] for v in values if v.strip() and v.isprintable())


@dataclass(frozen=True)
class FacetOption:
    """One value of a facet: its label, count and whether the form has it ticked."""

    value: str
    label: str
    count: int
    selected: bool
    input_id: str


@dataclass(frozen=True)
class Facet:
    """A facet as the form shows it: checkboxes (any of several) or radio buttons (one)."""

    name: str
    multiple: bool
    options: list[FacetOption] = field(default_factory=list)

    @property
    def any_selected(self) -> bool:
        """Whether the form narrows on this facet."""
        return any(o.selected for o in self.options)


def _input_id(name: str, value: str) -> str:
    # Stable ids, so htmx keeps keyboard focus on a checkbox across swaps.
    return f"f-{name}-" + re.sub(r"[^a-z0-9]+", "-", value.lower())


def _options(
    name: str,
    counts: dict[str, int],
    selected: tuple[str, ...],
    label: Any,
    order: Any = None,
) -> list[FacetOption]:
    """A facet's options: every counted value plus the ticked ones (even when now at 0)."""
    values = set(counts) | set(selected)
    ordered = sorted(values, key=order or (lambda v: (-counts.get(v, 0), label(v).lower())))
    return [
        FacetOption(v, label(v), counts.get(v, 0), v in selected, _input_id(name, v))
        for v in ordered
    ]


@functools.cache
def _language_name(code: str, ui_language: str) -> str:
    """A language's name in the UI language (`kk` in Russian: казахский); cached, as
    Babel builds locale objects on every call and a page names dozens of languages."""
    try:
        name = Locale.parse(code).get_display_name(ui_language)
    except (ValueError, UnknownLocaleError):
        return code
    return name or code


def facets_of(
    page: SearchPage, form: SearchForm, ui_language: str, owner_names: dict[str, str]
) -> list[Facet]:
    """The facets to show, in the form's order."""
    counts = page.facets
    year = (str(form.year),) if form.year is not None else ()
    duration = (form.duration,) if form.duration else ()
    buckets = [label for label, _, _ in DURATION_BUCKETS]
    return [
        Facet("kind", True, _options("kind", counts.get("kind", {}), form.kinds, str)),
        Facet("genre", True, _options("genre", counts.get("genre", {}), form.genres, str)),
        Facet(
            "language",
            True,
            _options(
                "language",
                counts.get("language", {}),
                form.languages,
                lambda c: _language_name(c, ui_language),
            ),
        ),
        Facet(
            "owner",
            True,
            _options(
                "owner",
                counts.get("owner", {}),
                form.owners,
                lambda c: owner_names.get(c, c.upper()),
            ),
        ),
        Facet(
            "year",
            False,
            _options("year", counts.get("year", {}), year, str, order=lambda v: -int(v)),
        ),
        Facet(
            "duration",
            False,
            _options(
                "duration",
                counts.get("duration", {}),
                duration,
                str,
                order=lambda v: buckets.index(v) if v in buckets else len(buckets),
            ),
        ),
    ]


@dataclass(frozen=True)
class Card:
    """One result as a card: what the template shows of a title."""

    title: TitleCard
    name: Name
    poster: str | None
    rights: Availability
    languages: list[str]
    episodes: tuple[Any, ...]


def cards_of(
    request: Request, session: Session, page: SearchPage, viewer_org_id: int, language: str
) -> list[Card]:
    """The page's cards: badges and posters are fetched for the whole page at once."""
    found = [hit.title for hit in page.hits]
    rights = availability_of(session, titles=found, viewer_org_id=viewer_org_id)
    state = web_state(request)
    posters = poster_urls(
        state.storage,
        poster_keys(session, title_ids=[t.id for t in found]),
        expires_in=state.settings.api_screening_ttl_seconds,
    )
    return [
        Card(
            title=hit.title,
            name=localized_name(hit.title, language),
            poster=posters.get(hit.title.id),
            rights=rights[hit.title.id],
            languages=sorted(
                {_language_name(loc.base_language, language) for loc in hit.title.localizations}
            ),
            episodes=hit.episodes,
        )
        for hit in page.hits
    ]


def _history_restore(request: Request) -> bool:
    # htmx asks for the whole page when it restores history it no longer has cached.
    return request.headers.get("hx-history-restore-request") == "true"


@router.get("/")
async def home(
    request: Request,
    user: CurrentWebUser,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200, pattern=SAFE_TEXT)] = "",
    kind: Annotated[list[TitleKind], Query(max_length=5)] = [],  # noqa: B006 - FastAPI copies.
    genre: Codes = [],  # noqa: B006
    language: Codes = [],  # noqa: B006
    owner: Codes = [],  # noqa: B006
    year: Annotated[str, Query(max_length=4)] = "",
    duration: Annotated[str, Query(max_length=10)] = "",
    licensable_now: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Search the catalog; htmx gets the results fragment, or the next cards."""
    form = SearchForm(
        q=q,
        kinds=tuple(k.value for k in kind),
        genres=_clean(genre),
        languages=_clean(language),
        owners=tuple(o.lower() for o in _clean(owner)),
        year=_year(year),
        duration=duration,
        licensable_now=licensable_now,
    )
    return await run_search(functools.partial(_search_page, request, user, session, form, cursor))


def _search_page(
    request: Request, user: WebUser, session: Session, form: SearchForm, cursor: str | None
) -> Response:
    """The search page, its results fragment or the next cards, on a search thread."""
    fragment = is_htmx(request) and not _history_restore(request)
    appending = fragment and bool(cursor)
    org_id = user.user.org_id
    page = search_titles(
        session,
        viewer_org_id=org_id,
        query=form.q,
        filters=form.filters(),
        limit=PAGE_SIZE,
        cursor=cursor,
        # Appending cards needs no facets: the sidebar stays as it is.
        with_facets=not appending,
    )
    ui_language = language_of(request)
    context: dict[str, Any] = {
        "nav": "search",
        "form": form,
        "page": page,
        "cards": cards_of(request, session, page, org_id, ui_language),
        "more_url": form.url(cursor=page.next_cursor) if page.next_cursor else None,
        "fragment": fragment,
    }
    if appending:
        return render(request, "search_more.html", context, user=user)
    owner_names = {org.code: org.name for org in list_organizations(session)}
    context["cue_hits"] = cue_hits_of(session, form.q, org_id)
    context["facets"] = facets_of(page, form, ui_language, owner_names)
    context["licensable_count"] = page.facets.get("licensable_now", {}).get("true", 0)
    template = "search_results.html" if fragment else "search.html"
    return render(request, template, context, user=user)


@dataclass(frozen=True)
class CueHitView:
    """A subtitle line that matched, as the results show it: where it opens the player."""

    title: str
    language: str
    timecode: str
    text: str
    screen_url: str


def cue_hits_of(session: Session, query: str, viewer_org_id: int) -> list[CueHitView]:
    """The first subtitle lines holding the query's words, each linking to its moment."""
    if not query.strip():
        return []
    page = search_cues(
        session, query, viewer_org_id=viewer_org_id, limit=CUE_HITS, with_counts=False
    )
    names = {
        title.id: title.original_title
        for title in session.scalars(
            select(Title).where(Title.id.in_({h.title_id for h in page.hits if h.title_id}))
        )
    }
    return [
        CueHitView(
            title=names.get(hit.title_id, "") if hit.title_id else "",
            language=hit.language,
            timecode=hit.timecode,
            text=hit.text,
            screen_url=f"/assets/{hit.asset_id}/screen?t={hit.start:.3f}",
        )
        for hit in page.hits
    ]
