"""Rights windows, license requests and decisions, licenses, entitlements and downloads."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from catalog_api.deps import (
    ActorDep,
    CurrentUser,
    Cursor,
    Limit,
    SessionDep,
    StateDep,
    WriteSessionDep,
)
from catalog_api.routers import changes, webhooks
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from catalog_api.schemas.licensing import (
    DecisionIn,
    DeclineIn,
    DeliveryOut,
    DownloadOut,
    LicensedAssetOut,
    LicenseOut,
    LicenseRequestIn,
    LicenseRequestOut,
    RevokeIn,
    RightsWindowIn,
    RightsWindowOut,
)
from pool_core.common.pagination import int_cursor, values_cursor
from pool_core.errors import Conflict
from pool_core.files.downloads import open_download
from pool_core.licensing import deliveries, entitlements, rights, workflow
from pool_core.models import LicenseStatus, RequestStatus, utcnow

router = APIRouter(prefix="/v1", tags=["licensing"], responses=PROBLEM_RESPONSES)

IntId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _int_cursor(cursor: str | None) -> int | None:
    return int_cursor(cursor, size=1)[0] if cursor else None


def _next(ids: list[int], limit: int) -> str | None:
    return values_cursor((ids[-1],)) if len(ids) == limit else None


@router.post("/titles/{title_id}/rights-windows", response_model=RightsWindowOut, status_code=201)
def create_rights_window(
    title_id: uuid.UUID, body: RightsWindowIn, actor: ActorDep, session: SessionDep
) -> RightsWindowOut:
    """Offer one of your titles in territories for a period (rights managers)."""
    window = rights.create_rights_window(
        session,
        actor=actor,
        title_id=title_id,
        territories=body.territories,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        license_type=body.license_type,
        exclusivity=body.exclusivity,
        holdbacks=[h.model_dump() for h in body.holdbacks],
        notes=body.notes,
    )
    return RightsWindowOut.from_model(window)


@router.get("/titles/{title_id}/rights-windows", response_model=list[RightsWindowOut])
def list_rights_windows(
    title_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[RightsWindowOut]:
    """The rights windows of a title you can see."""
    windows = rights.list_rights_windows(session, title_id=title_id, org_id=user.org_id)
    return [RightsWindowOut.from_model(w) for w in windows]


@router.post("/license-requests", response_model=LicenseRequestOut, status_code=201)
def request_license(
    body: LicenseRequestIn, actor: ActorDep, session: SessionDep
) -> LicenseRequestOut:
    """Ask a title's owner for a license (editors and rights managers)."""
    request = workflow.request_license(
        session,
        actor=actor,
        title_id=body.title_id,
        episode_ids=body.episode_ids,
        territories=body.territories,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        license_type=body.license_type,
        exclusive=body.exclusive,
        message=body.message,
    )
    return LicenseRequestOut.from_model(request)


@router.get("/license-requests", response_model=Page[LicenseRequestOut])
def list_requests(
    user: CurrentUser,
    session: SessionDep,
    status: RequestStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LicenseRequestOut]:
    """Requests your organization made or received."""
    rows = workflow.list_requests(
        session, org_id=user.org_id, status=status, after_id=_int_cursor(cursor), limit=limit
    )
    return Page(
        items=[LicenseRequestOut.from_model(r) for r in rows],
        next_cursor=_next([r.id for r in rows], limit),
    )


@router.get("/license-requests/{request_id}", response_model=LicenseRequestOut)
def get_request(request_id: IntId, user: CurrentUser, session: SessionDep) -> LicenseRequestOut:
    """One request your organization made or received."""
    request = workflow.get_request(session, request_id=request_id, org_id=user.org_id)
    return LicenseRequestOut.from_model(request)


@router.post("/license-requests/{request_id}/approve", response_model=LicenseOut, status_code=201)
def approve_request(
    request_id: IntId, actor: ActorDep, session: SessionDep, body: DecisionIn | None = None
) -> LicenseOut:
    """Grant a request (the owner's rights manager); 409 names a clashing license."""
    license_ = workflow.approve_request(
        session, request_id=request_id, actor=actor, comment=body.comment if body else ""
    )
    return LicenseOut.from_model(license_)


@router.post("/license-requests/{request_id}/decline", response_model=LicenseRequestOut)
def decline_request(
    request_id: IntId, body: DeclineIn, actor: ActorDep, session: SessionDep
) -> LicenseRequestOut:
    """Decline a request with a comment (the owner's rights manager)."""
    request = workflow.decline_request(
        session, request_id=request_id, actor=actor, comment=body.comment
    )
    return LicenseRequestOut.from_model(request)


@router.get("/licenses", response_model=Page[LicenseOut])
def list_licenses(
    user: CurrentUser,
    session: SessionDep,
    side: Annotated[str | None, Query(pattern="^(licensee|licensor)$")] = None,
    status: LicenseStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LicenseOut]:
    """Licenses your organization holds (`licensee`), granted (`licensor`), or both."""
    rows = workflow.list_licenses(
        session,
        org_id=user.org_id,
        side=side,
        status=status,
        after_id=_int_cursor(cursor),
        limit=limit,
    )
    return Page(
        items=[LicenseOut.from_model(r) for r in rows],
        next_cursor=_next([r.id for r in rows], limit),
    )


@router.get("/licenses/{license_id}", response_model=LicenseOut)
def get_license(license_id: IntId, user: CurrentUser, session: SessionDep) -> LicenseOut:
    """One license your organization granted or holds."""
    return LicenseOut.from_model(
        workflow.get_license(session, license_id=license_id, org_id=user.org_id)
    )


@router.post("/licenses/{license_id}/revoke", response_model=LicenseOut)
def revoke_license(
    license_id: IntId, actor: ActorDep, session: SessionDep, body: RevokeIn | None = None
) -> LicenseOut:
    """Revoke a license you granted; FTP and API access end at once."""
    license_ = workflow.revoke_license(
        session, license_id=license_id, actor=actor, reason=body.reason if body else ""
    )
    return LicenseOut.from_model(license_)


@router.get("/licenses/{license_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(license_id: IntId, user: CurrentUser, session: SessionDep) -> list[DeliveryOut]:
    """The delivery log of a license (both parties may read it)."""
    rows = deliveries.list_deliveries(session, license_id=license_id, org_id=user.org_id)
    return [DeliveryOut.from_model(d) for d in rows]


@router.get("/licensed-assets", response_model=Page[LicensedAssetOut])
def list_licensed_assets(
    user: CurrentUser, session: SessionDep, cursor: Cursor = None, limit: Limit = 200
) -> Page[LicensedAssetOut]:
    """The masters your organization may download now (what the nightly sync mirrors)."""
    items = entitlements.licensed_assets_for(session, org_id=user.org_id)
    start = _int_cursor(cursor) or 0
    page = items[start : start + limit]
    more = start + limit < len(items)
    return Page(
        items=[LicensedAssetOut.from_item(i) for i in page],
        next_cursor=values_cursor((start + limit,)) if more else None,
    )


@router.get("/assets/{asset_id}/download", response_model=DownloadOut)
def download_asset(
    asset_id: uuid.UUID,
    actor: ActorDep,
    # A GET that writes: the delivery log row (queued for SQLite's writer up front).
    session: WriteSessionDep,
    state: StateDep,
    offset: Annotated[
        int, Query(ge=0, le=2**62, description="Byte the client resumes at (for the log).")
    ] = 0,
    rendition: Annotated[
        str | None,
        Query(
            max_length=48,
            pattern=r"^[A-Za-z0-9.-]+$",
            description="Hand out this rendition instead of the master (404 if it has none): "
            "proxy, poster, or a subtitle file's kind as `/v1/licensed-assets` lists it "
            "(`kk-Cyrl`, `kk-Cyrl.original`).",
        ),
    ] = None,
) -> DownloadOut:
    """A presigned, Range-capable URL for a master you own or license (403 otherwise).

    With `rendition`, the URL is for the master's proxy, poster or a subtitle file instead;
    the same license check applies and the delivery is logged with channel `api:<rendition>`
    (`api:subtitles` for subtitle files).
    """
    grant = open_download(session, actor=actor, target=asset_id, rendition=rendition, offset=offset)
    if grant.object_key is None:
        raise Conflict(f"asset {asset_id} has no stored bytes to download")
    expires_in = state.settings.download_url_seconds
    url = state.storage.presigned_get(
        grant.object_key, expires_in=expires_in, download_name=grant.filename
    )
    return DownloadOut(
        url=url,
        expires_at=utcnow() + timedelta(seconds=expires_in),
        asset_id=asset_id,
        filename=grant.filename,
        size=grant.size,
        sha256=grant.sha256,
        license_id=grant.license.id if grant.license else None,
        rendition=rendition,
    )


# Everything the licensing area serves; the app includes each of these.
routers = [router, changes.router, webhooks.router]
