"""The Uploads page: what arrived in my organization's /incoming, live, for operators.

The page shows the same pending and settling uploads as `GET /v1/uploads` (with a percentage
when a sidecar that came first declares the master's size), then the organization's newest
assets as `GET /v1/assets?owner=<org>` lists them: processing, QC verdict and findings, the
readable reason of a failed master, and sidecar errors (the catalog's `invalid` metadata
state, whose text is also the `<name>.errors.txt` written next to the master).

htmx polls `/uploads/live` every 2 s with the version of what it shows; the server answers
204 (htmx keeps the region) while nothing changed, so a screen reader following the
`aria-live` region hears about real changes only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from catalog_web.auth import CurrentWebUser, WebUser
from catalog_web.pages.common import SessionDep, web_router
from catalog_web.render import environment, render, template_context
from catalog_web.state import web_state
from pool_core.catalog.assets import list_assets
from pool_core.catalog.inputs import AssetView
from pool_core.models import MetadataState
from pool_core.roles import Action, require
from pool_core.uploads.progress import declared_size
from pool_core.uploads.status import UploadStatus, list_unfinished

router = web_router()

# How many of the organization's newest assets the page lists.
RECENT_ASSETS = 30
LIVE_TEMPLATE = "uploads_live.html"


@dataclass(frozen=True)
class UploadRow:
    """An upload that is not done, with the size its sidecar declares (if one came first)."""

    status: UploadStatus
    declared: int | None

    @property
    def percent(self) -> int | None:
        """Whole percent received, when the final size is known."""
        if not self.declared:
            return None
        return min(100, self.status.size * 100 // self.declared)


@dataclass(frozen=True)
class AssetRow:
    """One recent asset, with what an operator acts on."""

    view: AssetView

    @property
    def findings(self) -> list[dict[str, Any]]:
        """QC findings that are not a plain pass (a pass needs no action)."""
        found = (self.view.asset.qc or {}).get("findings") or []
        return [f for f in found if isinstance(f, dict) and f.get("severity") != "pass"]

    @property
    def sidecar_error(self) -> str | None:
        """Why the sidecar was refused, when it was."""
        catalog = self.view.catalog
        if catalog is not None and catalog.state is MetadataState.INVALID:
            return catalog.error or ""
        return None


@router.get("/uploads")
def uploads_page(request: Request, user: CurrentWebUser, session: SessionDep) -> Response:
    """The operator's view of /incoming, refreshed live."""
    require(user.user.role, Action.FTP_UPLOAD)
    live = _live_context(request, user, session)
    return render(request, "uploads.html", {"nav": "uploads", **live}, user=user)


@router.get("/uploads/live")
def uploads_live(
    request: Request, user: CurrentWebUser, session: SessionDep, version: str = ""
) -> Response:
    """The live region alone (htmx polls it); 204 when it has not changed since `version`."""
    require(user.user.role, Action.FTP_UPLOAD)
    live = _live_context(request, user, session)
    if version and version == live["version"]:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return render(request, LIVE_TEMPLATE, live, user=user)


def _live_context(request: Request, user: WebUser, session: SessionDep) -> dict[str, Any]:
    """Uploads and recent assets of the user's organization, and a version of their view."""
    org = user.user.organization
    storage = web_state(request).storage
    uploads = [
        UploadRow(
            status=item,
            declared=(
                declared_size(session, storage, org_id=org.id, path=item.path)
                if item.state == "pending"
                else None
            ),
        )
        for item in list_unfinished(session, org_id=org.id)
    ]
    page = list_assets(session, viewer_org_id=org.id, owner=org.code, limit=RECENT_ASSETS)
    live: dict[str, Any] = {
        "uploads": uploads,
        "assets": [AssetRow(view) for view in page.items],
    }
    # The version is the rendered region itself: it changes exactly when what a person
    # would see changes (including the language).
    values = template_context(request, user)
    values.update(live, version="")
    html = environment.get_template(LIVE_TEMPLATE).render(values)
    live["version"] = hashlib.sha256(html.encode()).hexdigest()[:16]
    return live
