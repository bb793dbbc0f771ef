"""Subtitle tracks: list, read (WebVTT or the original), upload (owner only), search cues."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Response

from catalog_api.deps import ActorDep, CurrentUser, SessionDep, StateDep
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.subtitles import CueSearchOut, SubtitleTrackOut
from pool_core.catalog import assets
from pool_core.catalog.rules import normalize_language
from pool_core.errors import InvalidInput, PermissionDenied
from pool_core.search.cues import MAX_HITS, search_cues
from pool_core.services import subtitles
from pool_core.subtitles.convert import MAX_SUBTITLE_BYTES, sniff_format
from pool_core.subtitles.naming import FORMATS

router = APIRouter(prefix="/v1", tags=["subtitles"], responses=PROBLEM_RESPONSES)


@router.get("/assets/{asset_id}/subtitles", response_model=list[SubtitleTrackOut])
def list_subtitles(
    asset_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[SubtitleTrackOut]:
    """The asset's subtitle tracks with their QC findings, by language."""
    asset = assets.get_asset(session, viewer_org_id=user.org_id, asset_id=asset_id).asset
    return [SubtitleTrackOut.from_track(t, asset) for t in subtitles.list_tracks(session, asset)]


@router.get(
    "/assets/{asset_id}/subtitles/{language}",
    response_class=Response,
    responses={200: {"content": {"text/vtt": {}, "application/octet-stream": {}}}},
)
def get_subtitles(
    asset_id: uuid.UUID,
    language: str,
    user: CurrentUser,
    session: SessionDep,
    state: StateDep,
    format: Literal["vtt", "original"] = "vtt",
) -> Response:
    """One track: its WebVTT (for the player), or the original as delivered (the owner's)."""
    asset = assets.get_asset(session, viewer_org_id=user.org_id, asset_id=asset_id).asset
    track = subtitles.get_track(session, asset, normalize_language(language))
    if format == "vtt":
        body = state.storage.get(track.vtt_key)
        return Response(body, media_type=subtitles.VTT_CONTENT_TYPE)
    if asset.org_id != user.org_id:
        raise PermissionDenied(
            "the original subtitle file is the owner's; licensees receive it with the master "
            "(the WebVTT is open to everyone who may see the asset)"
        )
    body = state.storage.get(track.original_key)
    media_type = subtitles.ORIGINAL_CONTENT_TYPES.get(track.format, "application/octet-stream")
    disposition = f"attachment; filename*=UTF-8''{_quoted(track.original_name)}"
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


@router.put("/assets/{asset_id}/subtitles/{language}", response_model=SubtitleTrackOut)
def put_subtitles(
    asset_id: uuid.UUID,
    language: str,
    actor: ActorDep,
    session: SessionDep,
    state: StateDep,
    data: Annotated[bytes, Body(media_type="application/octet-stream")],
    format: Annotated[
        Literal["srt", "vtt", "ttml", "stl", "scc"] | None,
        Query(description="Told from the content when left out."),
    ] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> SubtitleTrackOut:
    """Add or replace one of your assets' tracks for a language (SRT, WebVTT, TTML, STL, SCC)."""
    asset = assets.get_asset(session, viewer_org_id=actor.org_id, asset_id=asset_id).asset
    if asset.org_id != actor.org_id:
        raise PermissionDenied("only the organization that delivered the master adds subtitles")
    tag = normalize_language(language)
    if len(data) > MAX_SUBTITLE_BYTES:
        raise InvalidInput(f"the file is {len(data)} bytes; at most {MAX_SUBTITLE_BYTES}")
    fmt = format or sniff_format(data)
    if fmt is None:
        raise InvalidInput(
            "the format could not be told from the content; "
            f"say ?format= one of {', '.join(FORMATS)}"
        )
    name = (filename or f"{tag}.{fmt}").replace("/", "_").replace("\\", "_")
    track = subtitles.store_track(
        session,
        state.storage,
        asset=asset,
        language=tag,
        filename=name,
        data=data,
        fmt=fmt,
        source="api",
        uploaded_by=actor.user_id,
    )
    return SubtitleTrackOut.from_track(track, asset)


@router.get("/search/subtitles", response_model=CueSearchOut)
def search_subtitles(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find.")],
    language: Annotated[str | None, Query(max_length=35)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HITS)] = 20,
    facets: Annotated[
        bool, Query(description="Count the hits per language (off: faster, as you type).")
    ] = True,
) -> CueSearchOut:
    """Cues whose text holds every word, in any script, from masters you may see.

    Each hit names the asset, its title, the language and the timecode; `languages` counts
    the hits per language (the "subtitles in" facet) whatever `language` filters.
    """
    page = search_cues(
        session,
        q,
        viewer_org_id=user.org_id,
        language=normalize_language(language) if language else None,
        limit=limit,
        with_counts=facets,
    )
    return CueSearchOut.from_page(page)


def _quoted(name: str) -> str:
    return quote(name, safe="")
