"""The rights manager's inbox: requests for my titles, the licenses we granted, deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from catalog_web.auth import CurrentWebUser, WebUser, require_csrf
from catalog_web.pages.common import SessionDep, web_router
from catalog_web.pages.licensing import org_names, period_of, titles_of
from catalog_web.render import is_htmx, render
from pool_core.errors import Conflict, InvalidInput
from pool_core.licensing import deliveries, workflow
from pool_core.models import Delivery, License, LicenseRequest, RequestStatus
from pool_core.roles import Action, require

router = web_router()

IntId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Comment = Annotated[str, Form(max_length=5000)]
Token = Annotated[str, Form(max_length=200)]
# The most rows each part of the inbox shows.
LIST_LIMIT = 500


@dataclass(frozen=True)
class PendingRow:
    """A request waiting for my decision, with what the approval would find."""

    request: LicenseRequest
    # The active license it would clash with (the approval's rule), if any.
    clash: License | None
    # Why no rights window allows it ("" when one does).
    window_problem: str
    error: str = ""


@dataclass(frozen=True)
class GrantedRow:
    """A license my organization granted, with its delivery log."""

    license: License
    deliveries: list[Delivery]
    error: str = ""


def pending_row(session: Session, request: LicenseRequest, *, error: str = "") -> PendingRow:
    """A pending request and the clash and rights-window checks the approval makes."""
    check = workflow.check_approval(session, request)
    return PendingRow(request, check.clash, check.window_problem, error)


def granted_row(session: Session, license_: License, *, org_id: int, error: str = "") -> GrantedRow:
    """A granted license and its deliveries (both parties may read them)."""
    log = deliveries.list_deliveries(session, license_id=license_.id, org_id=org_id)
    return GrantedRow(license_, log, error)


def _names(
    session: Session, requests: list[LicenseRequest], licenses: list[License]
) -> dict[str, Any]:
    org_ids = [r.requester_org_id for r in requests] + [lic.licensee_org_id for lic in licenses]
    title_ids = [r.title_id for r in requests] + [lic.title_id for lic in licenses]
    return {
        "titles": titles_of(session, title_ids),
        "orgs": org_names(session, org_ids),
        "period": period_of,
    }


@router.get("/inbox")
def inbox(request: Request, user: CurrentWebUser, session: SessionDep) -> Response:
    """Pending requests for my titles, and the licenses my organization granted."""
    require(user.user.role, Action.RIGHTS_MANAGE)
    org_id = user.user.org_id
    pending = [
        r
        for r in workflow.list_requests(
            session, org_id=org_id, status=RequestStatus.PENDING, limit=LIST_LIMIT
        )
        if r.licensor_org_id == org_id
    ]
    granted = workflow.list_licenses(session, org_id=org_id, side="licensor", limit=LIST_LIMIT)
    granted.reverse()
    context = {
        "nav": "inbox",
        "pending": [pending_row(session, r) for r in pending],
        "granted": [granted_row(session, lic, org_id=org_id) for lic in granted],
        **_names(session, pending, granted),
    }
    return render(request, "inbox.html", context, user=user)


def _answer_request(
    request: Request, session: Session, user: WebUser, row: LicenseRequest, *, error: str = ""
) -> Response:
    """The request's row for htmx to swap in; a plain form post goes back to the inbox."""
    if not is_htmx(request):
        if error:
            raise Conflict(error)
        return RedirectResponse("/inbox", status_code=303)
    pending = row.status == RequestStatus.PENDING
    context: dict[str, Any] = {
        "request_row": row,
        "row": pending_row(session, row, error=error) if pending else None,
        **_names(session, [row], []),
    }
    # A refused decision keeps the row in place with its explanation (htmx swaps 2xx only).
    return render(request, "inbox_request.html", context, user=user)


@router.post("/inbox/requests/{request_id}/approve")
def approve(
    request: Request,
    request_id: IntId,
    user: CurrentWebUser,
    session: SessionDep,
    comment: Comment = "",
    csrf_token: Token = "",
) -> Response:
    """Grant a request (the owner's rights manager); a clash is explained in the row."""
    require_csrf(request, user, csrf_token)
    try:
        workflow.approve_request(session, request_id=request_id, actor=user.actor, comment=comment)
    except Conflict as exc:
        # Nothing was written before the refusal (the checks come first).
        row = workflow.get_request(session, request_id=request_id, org_id=user.user.org_id)
        return _answer_request(request, session, user, row, error=str(exc))
    row = workflow.get_request(session, request_id=request_id, org_id=user.user.org_id)
    return _answer_request(request, session, user, row)


@router.post("/inbox/requests/{request_id}/decline")
def decline(
    request: Request,
    request_id: IntId,
    user: CurrentWebUser,
    session: SessionDep,
    comment: Comment = "",
    csrf_token: Token = "",
) -> Response:
    """Decline a request with a comment the requester reads."""
    require_csrf(request, user, csrf_token)
    try:
        declined = workflow.decline_request(
            session, request_id=request_id, actor=user.actor, comment=comment
        )
    except (InvalidInput, Conflict) as exc:
        row = workflow.get_request(session, request_id=request_id, org_id=user.user.org_id)
        return _answer_request(request, session, user, row, error=str(exc))
    return _answer_request(request, session, user, declined)


@router.post("/inbox/licenses/{license_id}/revoke")
def revoke(
    request: Request,
    license_id: IntId,
    user: CurrentWebUser,
    session: SessionDep,
    reason: Comment = "",
    csrf_token: Token = "",
) -> Response:
    """Revoke a license my organization granted; FTP and API access end at once."""
    require_csrf(request, user, csrf_token)
    error = ""
    try:
        license_ = workflow.revoke_license(
            session, license_id=license_id, actor=user.actor, reason=reason.strip()
        )
    except Conflict as exc:
        error = str(exc)
        license_ = workflow.get_license(session, license_id=license_id, org_id=user.user.org_id)
    if not is_htmx(request):
        if error:
            raise Conflict(error)
        return RedirectResponse("/inbox", status_code=303)
    context = {
        "grant": granted_row(session, license_, org_id=user.user.org_id, error=error),
        **_names(session, [], [license_]),
    }
    return render(request, "inbox_license.html", context, user=user)
