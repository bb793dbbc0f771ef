"""The catalog view of assets: visibility, listing, linking to titles, screening, failing."""

from __future__ import annotations

import uuid

from sqlalchemy import BindParameter, ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from pool_core.catalog.inputs import SCREENERS, SCREENING_KINDS, AssetView, ScreeningLink
from pool_core.catalog.titles import title_for_write
from pool_core.common.actor import Actor, audit_as
from pool_core.common.pagination import (
    Page,
    after_cursor,
    page_of,
    parse_enum,
)
from pool_core.errors import NotFound, PermissionDenied
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Episode,
    MetadataState,
    Organization,
    Title,
    TitleStatus,
)
from pool_core.services.changes import record_change
from pool_core.storage.base import ObjectStorage

# --- assets -----------------------------------------------------------------------------


def mark_asset_failed(session: Session, asset: Asset, reason: str) -> None:
    """Settle an asset as failed with a readable reason, and say so in the change feed."""
    asset.status = AssetStatus.FAILED
    asset.failure_reason = reason
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.failed",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"reason": reason},
    )


def visible_assets(viewer_org_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """The rule on `Asset` rows: the viewer's own, or linked to a published title."""
    published = (
        select(AssetCatalog.asset_id)
        .join(Title, Title.id == AssetCatalog.title_id)
        .where(Title.status == TitleStatus.PUBLISHED)
    )
    return or_(Asset.org_id == viewer_org_id, Asset.id.in_(published))


def visible_through_title(
    viewer_org_id: int | BindParameter[int],
    *,
    owner_org_id: ColumnElement[int] | InstrumentedAttribute[int],
    title_status: ColumnElement[str] | InstrumentedAttribute[TitleStatus],
) -> ColumnElement[bool]:
    """`visible_assets` for a statement that has already joined each asset's title.

    Per row, with no subquery over every published title: for statements that look at a few
    matched assets (the cue search).
    """
    return or_(owner_org_id == viewer_org_id, title_status == TitleStatus.PUBLISHED.value)


def get_asset(session: Session, *, viewer_org_id: int, asset_id: uuid.UUID) -> AssetView:
    """Return an asset the viewer may see, with its renditions and catalog side."""
    asset = session.scalar(
        select(Asset)
        .where(Asset.id == asset_id, visible_assets(viewer_org_id))
        .options(selectinload(Asset.renditions))
    )
    if asset is None:
        raise NotFound(f"no asset {asset_id}")
    return AssetView(asset=asset, catalog=session.get(AssetCatalog, asset.id))


def list_assets(
    session: Session,
    *,
    viewer_org_id: int,
    status: str | None = None,
    owner: str | None = None,
    metadata_state: str | None = None,
    title_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List visible assets, newest first, filtered by status, owner, metadata state, title."""
    stmt = (
        select(Asset, AssetCatalog)
        .outerjoin(AssetCatalog, AssetCatalog.asset_id == Asset.id)
        .where(visible_assets(viewer_org_id))
    )
    if status:
        stmt = stmt.where(Asset.status == parse_enum(AssetStatus, status, "status"))
    if owner:
        stmt = stmt.join(Organization, Organization.id == Asset.org_id).where(
            Organization.code == owner.strip().lower()
        )
    if title_id is not None:
        stmt = stmt.where(AssetCatalog.title_id == title_id)
    if metadata_state:
        state = parse_enum(MetadataState, metadata_state, "metadata_state")
        if state is MetadataState.NEEDS_METADATA:
            stmt = stmt.where(
                or_(
                    AssetCatalog.state == state,
                    and_(AssetCatalog.asset_id.is_(None), Asset.sidecar_key.is_(None)),
                )
            )
        elif state is MetadataState.PENDING:
            stmt = stmt.where(
                or_(
                    AssetCatalog.state == state,
                    and_(AssetCatalog.asset_id.is_(None), Asset.sidecar_key.is_not(None)),
                )
            )
        else:
            stmt = stmt.where(AssetCatalog.state == state)
    stmt = after_cursor(stmt, Asset.created_at, Asset.id, cursor)
    stmt = stmt.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit + 1)
    stmt = stmt.options(selectinload(Asset.renditions))
    views = [AssetView(asset=a, catalog=c) for a, c in session.execute(stmt)]
    return page_of(views, limit, lambda v: (v.asset.created_at, v.asset.id))


def link_asset(
    session: Session,
    *,
    actor: Actor,
    asset_id: uuid.UUID,
    title_id: uuid.UUID,
    episode_id: uuid.UUID | None = None,
) -> AssetView:
    """Link one of the actor's assets to one of their titles (and episode)."""
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != actor.org_id:
        raise NotFound(f"no asset {asset_id}")
    title = title_for_write(session, actor, title_id)
    if episode_id is not None:
        episode = session.get(Episode, episode_id)
        if episode is None or episode.title_id != title.id:
            raise NotFound(f"no episode {episode_id} in title {title_id}")
    link = set_asset_catalog(
        session,
        asset=asset,
        state=MetadataState.LINKED,
        title_id=title.id,
        episode_id=episode_id,
    )
    audit_as(
        session,
        actor,
        action="asset.linked",
        subject=f"asset:{asset.id}",
        detail={"title_id": str(title.id), "episode_id": str(episode_id) if episode_id else None},
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.linked",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"title_id": str(title.id)},
    )
    return AssetView(asset=asset, catalog=link)


def set_asset_catalog(
    session: Session,
    *,
    asset: Asset,
    state: MetadataState,
    title_id: uuid.UUID | None = None,
    episode_id: uuid.UUID | None = None,
    error: str | None = None,
) -> AssetCatalog:
    """Record what an asset belongs to and how its metadata fared."""
    link = session.get(AssetCatalog, asset.id)
    if link is None:
        link = AssetCatalog(asset_id=asset.id, org_id=asset.org_id)
        session.add(link)
    link.state = state
    if state is MetadataState.LINKED:
        link.title_id = title_id
        link.episode_id = episode_id
    link.error = error
    session.flush()
    return link


def screen_asset(
    session: Session,
    storage: ObjectStorage,
    *,
    actor: Actor,
    asset_id: uuid.UUID,
    expires_in: int = 900,
) -> list[ScreeningLink]:
    """Hand out short-lived URLs to an asset's proxy, thumbnails and storyboard, and log it."""
    if actor.role not in SCREENERS:
        raise PermissionDenied(f"the {actor.role or 'system'} role may not screen")
    view = get_asset(session, viewer_org_id=actor.org_id, asset_id=asset_id)
    links = [
        ScreeningLink(
            kind=r.kind,
            name=r.name,
            content_type=r.content_type,
            url=storage.presigned_get(r.object_key, expires_in=expires_in),
            expires_in=expires_in,
        )
        for r in sorted(view.asset.renditions, key=lambda r: (r.kind, r.name))
        if r.kind in SCREENING_KINDS
    ]
    if not links:
        raise NotFound(f"asset {asset_id} has no preview renditions yet")
    audit_as(
        session,
        actor,
        action="asset.screened",
        subject=f"asset:{view.asset.id}",
        detail={"owner_org_id": view.asset.org_id, "kinds": sorted({x.kind for x in links})},
    )
    return links
