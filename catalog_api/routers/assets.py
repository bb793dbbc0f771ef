"""Assets: status, technical metadata, QC, renditions, linking, screening."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from catalog_api.deps import SAFE_TEXT, ActorDep, CurrentUser, Cursor, Limit, SessionDep, StateDep
from catalog_api.schemas.assets import (
    AssetLinkIn,
    AssetOut,
    AudioMappingIn,
    ScreeningIn,
    ScreeningLinkOut,
    ScreeningOut,
)
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from pool_core.catalog import assets
from pool_core.models import AssetStatus, MetadataState
from pool_core.services.audio_mapping import update_audio_mapping

router = APIRouter(prefix="/v1/assets", tags=["assets"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[AssetOut])
def list_assets(
    user: CurrentUser,
    session: SessionDep,
    status: AssetStatus | None = None,
    owner: Annotated[str | None, Query(max_length=32, pattern=SAFE_TEXT)] = None,
    metadata_state: MetadataState | None = None,
    title_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AssetOut]:
    """Assets you may see: all of your own, and those of published titles of others."""
    page = assets.list_assets(
        session,
        viewer_org_id=user.org_id,
        status=status.value if status else None,
        owner=owner,
        metadata_state=metadata_state.value if metadata_state else None,
        title_id=title_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[AssetOut](
        items=[AssetOut.from_view(v, viewer_org_id=user.org_id) for v in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{asset_id}", response_model=AssetOut)
def get_asset(asset_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> AssetOut:
    """One asset: status, technical metadata, QC, renditions and catalog state."""
    view = assets.get_asset(session, viewer_org_id=user.org_id, asset_id=asset_id)
    return AssetOut.from_view(view, viewer_org_id=user.org_id)


@router.put("/{asset_id}/link", response_model=AssetOut)
def link_asset(
    asset_id: uuid.UUID, body: AssetLinkIn, actor: ActorDep, session: SessionDep
) -> AssetOut:
    """Attach one of your assets to one of your titles (and episode)."""
    view = assets.link_asset(
        session,
        actor=actor,
        asset_id=asset_id,
        title_id=body.title_id,
        episode_id=body.episode_id,
    )
    return AssetOut.from_view(view)


@router.put("/{asset_id}/audio-mapping", response_model=AssetOut, status_code=202)
def set_audio_mapping(
    asset_id: uuid.UUID, body: AudioMappingIn, actor: ActorDep, session: SessionDep
) -> AssetOut:
    """Choose the proxy's stereo mix for one of your assets; it is rendered again."""
    view = update_audio_mapping(session, actor=actor, asset_id=asset_id, mapping=body.to_mapping())
    return AssetOut.from_view(view)


@router.post("/{asset_id}/screenings", response_model=ScreeningOut, status_code=201)
def screen_asset(
    asset_id: uuid.UUID,
    actor: ActorDep,
    session: SessionDep,
    state: StateDep,
    body: ScreeningIn | None = None,
) -> ScreeningOut:
    """Short-lived URLs for the proxy, thumbnails and storyboard; the screening is logged."""
    expires_in = body.expires_in if body else state.settings.api_screening_ttl_seconds
    links = assets.screen_asset(
        session, state.storage, actor=actor, asset_id=asset_id, expires_in=expires_in
    )
    return ScreeningOut(asset_id=asset_id, links=[ScreeningLinkOut.from_link(x) for x in links])
