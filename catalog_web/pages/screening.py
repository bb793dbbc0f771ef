"""The screening player: an asset's proxy with storyboard thumbnails and source timecode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from catalog_web.auth import CurrentWebUser
from catalog_web.pages.common import web_router
from catalog_web.render import render
from catalog_web.state import web_state
from pool_core.catalog import assets
from pool_core.catalog.inputs import ScreeningLink
from pool_core.catalog.rules import normalize_language
from pool_core.errors import NotFound
from pool_core.models import Asset, AssetCatalog, Rendition, Title
from pool_core.roles import Action, require
from pool_core.services import subtitles

router = web_router()

# What the player falls back to when the master's probe found no frame rate (as the
# transcoder does when it burns in the timecode).
DEFAULT_FRAME_RATE = "25/1"


@dataclass(frozen=True)
class PlayerSources:
    """The presigned URLs the player needs (None where the asset has no such rendition)."""

    proxy: str | None
    poster: str | None
    storyboard_vtt: str | None
    # Sprite sheet name (as the VTT cues name it) -> its presigned URL.
    sprites: dict[str, str]


@router.get("/assets/{asset_id}/screen")
def screening_page(
    request: Request,
    asset_id: uuid.UUID,
    user: CurrentWebUser,
    t: Annotated[float, Query(ge=0, le=7 * 24 * 3600)] = 0.0,
) -> Response:
    """Screen an asset's proxy (from `t` seconds); logged exactly as the API's screenings."""
    state = web_state(request)
    # Screening writes its audit record: take the writer up front, like the API's download.
    with state.db.write_session() as session:
        try:
            links = assets.screen_asset(
                session,
                state.storage,
                actor=user.actor,
                asset_id=asset_id,
                expires_in=state.settings.api_screening_ttl_seconds,
            )
        except NotFound:
            # Either the asset is not visible (NotFound again: 404 page) or it has no
            # preview yet: say so instead of a bare 404.
            view = assets.get_asset(session, viewer_org_id=user.user.org_id, asset_id=asset_id)
            links = []
        else:
            view = assets.get_asset(session, viewer_org_id=user.user.org_id, asset_id=asset_id)
        context = _context(_title_of(session, view.catalog), view.asset, links)
        context["start_at"] = t
        context["subtitle_tracks"] = [
            {
                "language": track.language,
                "label": track.language,
                "url": f"/assets/{asset_id}/subtitles/{track.language}.vtt",
            }
            for track in subtitles.list_tracks(session, view.asset)
        ]
    return render(request, "screening.html", context, user=user)


@router.get("/assets/{asset_id}/subtitles/{language}.vtt")
def subtitle_track(
    request: Request, asset_id: uuid.UUID, language: str, user: CurrentWebUser
) -> Response:
    """A track's WebVTT for the player's `<track>`: same origin, so no CORS is needed."""
    require(user.user.role, Action.SCREEN)
    state = web_state(request)
    with state.db.session() as session:
        view = assets.get_asset(session, viewer_org_id=user.user.org_id, asset_id=asset_id)
        track = subtitles.get_track(session, view.asset, normalize_language(language))
        key = track.vtt_key
    return Response(state.storage.get(key), media_type=subtitles.VTT_CONTENT_TYPE)


def _title_of(session: Session, catalog: AssetCatalog | None) -> Title | None:
    """The title the asset is linked to, if any (for the heading and the way back)."""
    if catalog is None or catalog.title_id is None:
        return None
    title: Title | None = session.get(Title, catalog.title_id)
    return title


def _context(title: Title | None, asset: Asset, links: list[ScreeningLink]) -> dict[str, Any]:
    sources = _sources(asset.renditions, links)
    technical = asset.technical or {}
    video = technical.get("video") or {}
    container = technical.get("container") or {}
    return {
        "nav": "search",
        "asset": asset,
        "title": title,
        "sources": sources,
        "frame_rate": str(video.get("frame_rate_fraction") or DEFAULT_FRAME_RATE),
        "start_timecode": str(container.get("start_timecode") or "00:00:00:00"),
        "duration_seconds": float(container.get("duration") or 0.0),
    }


def _sources(renditions: list[Rendition], links: list[ScreeningLink]) -> PlayerSources:
    by_name = {(link.kind, link.name): link.url for link in links}
    proxies = [r for r in renditions if r.kind == "proxy" and ("proxy", r.name) in by_name]
    # A ladder makes several proxies; screen the smallest rung of at least 540 lines when
    # there is one (quick to start on a remote link), else the tallest.
    proxy = _pick_proxy(proxies)
    posters = [url for (kind, _), url in sorted(by_name.items()) if kind == "poster"]
    vtt = next((url for key, url in sorted(by_name.items()) if _is_index(*key)), None)
    sprites = {
        name: url
        for (kind, name), url in by_name.items()
        if kind == "storyboard" and not _is_index(kind, name)
    }
    return PlayerSources(
        proxy=by_name[("proxy", proxy.name)] if proxy else None,
        poster=posters[0] if posters else None,
        storyboard_vtt=vtt,
        sprites=sprites,
    )


def _is_index(kind: str, name: str) -> bool:
    """Whether a rendition is the storyboard's WebVTT index (not one of its sprite sheets)."""
    return kind == "storyboard_vtt" or (kind == "storyboard" and name.endswith(".vtt"))


def _pick_proxy(proxies: list[Rendition]) -> Rendition | None:
    if not proxies:
        return None

    def height(rendition: Rendition) -> int:
        value = (rendition.meta or {}).get("height")
        return value if isinstance(value, int) else 0

    big_enough = [r for r in proxies if height(r) >= 540]
    if big_enough:
        return min(big_enough, key=lambda r: (height(r), r.name))
    return max(proxies, key=lambda r: (height(r), r.name))
