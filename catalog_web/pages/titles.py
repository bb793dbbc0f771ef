"""The title page: localized metadata, seasons and episodes, masters with their QC."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from catalog_web.auth import CurrentWebUser
from catalog_web.pages.common import SessionDep, web_router
from catalog_web.render import language_of, render
from catalog_web.state import web_state
from pool_core.catalog import assets, episodes, seasons, titles
from pool_core.catalog.inputs import AssetView, SeasonView
from pool_core.models import Episode, Title, TitleLocalization
from pool_core.search.availability import availability_of, poster_keys
from pool_core.search.cards import LocalizationCard, TitleCard
from pool_core.storage.base import ObjectStorage

router = web_router()

# A title page lists this many episodes and masters; the API pages through the rest.
EPISODES_SHOWN = 500
ASSETS_SHOWN = 50


@dataclass(frozen=True)
class Name:
    """A name (or synopsis) and the BCP 47 tag of its language, for `lang=` attributes."""

    text: str
    language: str | None


def _same_language(tag: str | None, language: str) -> bool:
    """Whether a BCP 47 tag is in the UI language (`kk-Cyrl` is Kazakh)."""
    return bool(tag) and str(tag).split("-")[0].lower() == language


def localization_for(
    title: Title | TitleCard, language: str
) -> TitleLocalization | LocalizationCard | None:
    """The title's localization in the UI language, else the one in its original language.

    Localizations come sorted by tag, so for `kk` a plain `kk` wins over `kk-Cyrl`, and
    `kk-Cyrl` over `kk-Latn`.
    """
    localizations: list[TitleLocalization | LocalizationCard] = list(title.localizations)
    original = (title.original_language or "").split("-")[0].lower()
    for wanted in (language, original):
        found = next((loc for loc in localizations if wanted and loc.base_language == wanted), None)
        if found is not None:
            return found
    return None


def localized_name(title: Title | TitleCard, language: str) -> Name:
    """The title's name in the UI language, falling back to its original title."""
    found = localization_for(title, language)
    if found is not None and _same_language(found.language, language) and found.title:
        return Name(found.title, found.language)
    return Name(title.original_title, title.original_language)


def localized_synopsis(title: Title, language: str) -> Name | None:
    """The synopsis in the UI language, else in the original language; None without one."""
    found = localization_for(title, language)
    if found is None or not found.synopsis:
        return None
    return Name(found.synopsis, found.language)


def episode_name(episode: Episode, language: str) -> Name:
    """An episode's name in the UI language when it has one, else its own name."""
    localized: Mapping[str, Any] = episode.localizations or {}
    for tag, values in sorted(localized.items()):
        name = str((values or {}).get("title") or "") if isinstance(values, dict) else ""
        if name and _same_language(tag, language):
            return Name(name, tag)
    return Name(episode.name, None)


def poster_urls(
    storage: ObjectStorage, keys: Mapping[uuid.UUID, str], *, expires_in: int
) -> dict[uuid.UUID, str]:
    """Short-lived URLs of posters (signed locally; no request to the storage)."""
    return {
        title_id: storage.presigned_get(key, expires_in=expires_in)
        for title_id, key in keys.items()
    }


@dataclass(frozen=True)
class SeasonBlock:
    """A season and the episodes shown under it (season 0: episodes without a season)."""

    number: int
    name: str
    episode_count: int
    episodes: list[Episode]


def season_blocks(found: Iterable[SeasonView], listed: Iterable[Episode]) -> list[SeasonBlock]:
    """Group the listed episodes under their seasons, in order."""
    by_season: dict[int, list[Episode]] = {}
    for episode in listed:
        by_season.setdefault(episode.season_number, []).append(episode)
    blocks = [
        SeasonBlock(s.number, s.name, s.episode_count, by_season.pop(s.number, [])) for s in found
    ]
    blocks += [SeasonBlock(n, "", len(eps), eps) for n, eps in sorted(by_season.items())]
    return sorted(blocks, key=lambda b: b.number)


def has_proxy(view: AssetView) -> bool:
    """Whether the master has a proxy to screen."""
    return any(r.kind == "proxy" for r in view.asset.renditions)


@router.get("/titles/{title_id}")
def title_page(
    title_id: uuid.UUID, request: Request, user: CurrentWebUser, session: SessionDep
) -> Response:
    """One title with its seasons, episodes, contributors, identifiers and masters."""
    org_id = user.user.org_id
    # The API's rules: another member's draft is 404 here as on GET /v1/titles/{id}.
    title = titles.get_title(session, viewer_org_id=org_id, title_id=title_id)
    language = language_of(request)
    season_page = seasons.list_seasons(session, viewer_org_id=org_id, title_id=title.id, limit=200)
    episode_page = episodes.list_episodes(
        session, viewer_org_id=org_id, title_id=title.id, limit=EPISODES_SHOWN
    )
    asset_page = assets.list_assets(
        session, viewer_org_id=org_id, title_id=title.id, limit=ASSETS_SHOWN
    )
    state = web_state(request)
    posters = poster_urls(
        state.storage,
        poster_keys(session, title_ids=[title.id]),
        expires_in=state.settings.api_screening_ttl_seconds,
    )
    listed_episodes: list[Episode] = list(episode_page.items)
    return render(
        request,
        "title.html",
        {
            "nav": "search",
            "title": title,
            "name": localized_name(title, language),
            "synopsis": localized_synopsis(title, language),
            "seasons": season_blocks(season_page.items, listed_episodes),
            "episode_names": {e.id: episode_name(e, language) for e in listed_episodes},
            "more_episodes": episode_page.next_cursor is not None,
            "assets": list(asset_page.items),
            "more_assets": asset_page.next_cursor is not None,
            "has_proxy": has_proxy,
            "poster": posters.get(title.id),
            "rights": availability_of(session, titles=[title], viewer_org_id=org_id)[title.id],
            "is_mine": title.org_id == org_id,
        },
        user=user,
    )
