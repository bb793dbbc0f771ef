"""Asking for a license, and what my organization asked for and holds (with its downloads)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from catalog_web.auth import CurrentWebUser, WebUser, require_csrf
from catalog_web.pages.common import SessionDep, web_router
from catalog_web.render import render
from catalog_web.state import web_state
from pool_core.errors import Conflict, InvalidInput
from pool_core.files.downloads import open_download
from pool_core.licensing import entitlements, rights, workflow
from pool_core.models import (
    License,
    LicenseRequest,
    LicenseType,
    Organization,
    RightsWindow,
    Title,
)
from pool_core.roles import Action, require

router = web_router()

# As the API's schema: at most 60 territories, a 5000-character message without controls.
MAX_TERRITORIES = 60
MAX_MESSAGE = 5000
_SEPARATORS = re.compile(r"[\s,;]+")
# The most rows a list page shows (the API pages through more; a page this long is plenty).
LIST_LIMIT = 500

Text = Annotated[str, Form(max_length=MAX_MESSAGE)]
Short = Annotated[str, Form(max_length=400)]


@dataclass
class LicenseForm:
    """The license request form as typed: kept as text so an error loses nothing."""

    territories: str = ""
    starts_on: str = ""
    ends_on: str = ""
    license_type: str = LicenseType.FREE_EXCHANGE.value
    exclusive: bool = False
    message: str = ""


@dataclass(frozen=True)
class LicenseTerms:
    """The form's values, checked as the API's schema checks `POST /v1/license-requests`."""

    territories: list[str]
    starts_at: datetime
    ends_at: datetime
    license_type: LicenseType
    exclusive: bool
    message: str


@dataclass(frozen=True)
class ClashCheck:
    """What the owner's approval would say about these terms, as far as it is known now."""

    terms: LicenseTerms | None = None
    # An active license this one would clash with (the approval's rule), with its holder.
    clash: License | None = None
    clash_holder: str = ""
    shared_territories: list[str] = field(default_factory=list)
    # Why no rights window allows these terms ("" when one does).
    window_problem: str = ""
    error: str = ""


def terms_of(form: LicenseForm) -> LicenseTerms:
    """Check the form; InvalidInput names what is wrong."""
    codes = [c for c in _SEPARATORS.split(form.territories) if c]
    if len(codes) > MAX_TERRITORIES:
        raise InvalidInput(f"at most {MAX_TERRITORIES} territories")
    territories = rights.territory_codes(codes)
    starts_at = _day_start(form.starts_on, "start")
    # The end date is the last day of the license: it runs until that day is over.
    ends_at = _day_start(form.ends_on, "end") + timedelta(days=1)
    rights.check_period(starts_at, ends_at)
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in form.message):
        raise InvalidInput("control characters are not allowed in the message")
    return LicenseTerms(
        territories=territories,
        starts_at=starts_at,
        ends_at=ends_at,
        license_type=rights.parse_license_type(form.license_type),
        exclusive=form.exclusive,
        message=form.message.strip(),
    )


def _day_start(text: str, which: str) -> datetime:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"the {which} date must be a date like 2026-01-31") from exc
    return datetime.combine(day, time.min, tzinfo=UTC)


def check_terms(
    session: Session, *, title: Title, windows: list[RightsWindow], form: LicenseForm
) -> ClashCheck:
    """Explain, before submitting, what the owner's approval would find: clash and windows."""
    try:
        terms = terms_of(form)
    except InvalidInput as exc:
        return ClashCheck(error=str(exc))
    assessed = workflow.assess_terms(
        session,
        windows=windows,
        title_id=title.id,
        episode_ids=[],
        territories=terms.territories,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        exclusive=terms.exclusive,
        license_type=terms.license_type,
    )
    clash, window_problem = assessed.clash, assessed.window_problem
    holder = session.get(Organization, clash.licensee_org_id) if clash else None
    return ClashCheck(
        terms=terms,
        clash=clash,
        clash_holder=holder.name if holder else "",
        shared_territories=sorted(set(terms.territories) & set(clash.territories)) if clash else [],
        window_problem=window_problem,
    )


def default_form(user: WebUser, windows: list[RightsWindow]) -> LicenseForm:
    """My territory, and the first window's period and type still ahead (else a year)."""
    today = datetime.now(UTC).date()
    window = next((w for w in windows if w.ends_at.date() > today), None)
    if window is None:
        return LicenseForm(
            territories=user.user.organization.country,
            starts_on=today.isoformat(),
            ends_on=(today + timedelta(days=364)).isoformat(),
        )
    # Whole days inside the window: from its first full day, to the day before it ends.
    first = window.starts_at.date() + timedelta(
        days=0 if window.starts_at.time() == time.min else 1
    )
    return LicenseForm(
        territories=user.user.organization.country,
        starts_on=max(today, first).isoformat(),
        ends_on=(window.ends_at.date() - timedelta(days=1)).isoformat(),
        license_type=window.license_type.value,
    )


def _form_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    title: Title,
    form: LicenseForm | None,
    error: str = "",
    status: int = 200,
) -> Response:
    windows = rights.list_rights_windows(session, title_id=title.id, org_id=user.user.org_id)
    form = form or default_form(user, windows)
    owner = session.get(Organization, title.org_id)
    context = {
        "nav": "licenses",
        "title": title,
        "owner": owner,
        "own_title": title.org_id == user.user.org_id,
        "windows": windows,
        "form": form,
        "license_types": [t.value for t in LicenseType],
        "check": check_terms(session, title=title, windows=windows, form=form),
        "error": error,
        "period": period_of,
    }
    return render(request, "license_request.html", context, user=user, status=status)


@router.get("/titles/{title_id}/license")
def license_request_page(
    request: Request, title_id: uuid.UUID, user: CurrentWebUser, session: SessionDep
) -> Response:
    """The offered rights windows and the request form (territory defaults to mine)."""
    title = rights.visible_title(session, title_id=title_id, org_id=user.user.org_id)
    return _form_page(request, session, user, title=title, form=None)


@router.get("/titles/{title_id}/license/check")
def license_check(
    request: Request,
    title_id: uuid.UUID,
    user: CurrentWebUser,
    session: SessionDep,
    territories: Annotated[str, Query(max_length=400)] = "",
    starts_on: Annotated[str, Query(max_length=40)] = "",
    ends_on: Annotated[str, Query(max_length=40)] = "",
    license_type: Annotated[str, Query(max_length=40)] = "",
    exclusive: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The clash check of the form's current values (htmx swaps it in as the user types)."""
    title = rights.visible_title(session, title_id=title_id, org_id=user.user.org_id)
    windows = rights.list_rights_windows(session, title_id=title.id, org_id=user.user.org_id)
    form = LicenseForm(territories, starts_on, ends_on, license_type, bool(exclusive))
    check = check_terms(session, title=title, windows=windows, form=form)
    return render(request, "license_check.html", {"check": check, "period": period_of}, user=user)


@router.post("/titles/{title_id}/license")
def license_request_submit(
    request: Request,
    title_id: uuid.UUID,
    user: CurrentWebUser,
    session: SessionDep,
    territories: Short = "",
    starts_on: Short = "",
    ends_on: Short = "",
    license_type: Short = "",
    exclusive: Short = "",
    message: Text = "",
    csrf_token: Short = "",
    confirm_clash: Short = "",
) -> Response:
    """Send the request (as `POST /v1/license-requests`); a clash must be acknowledged first."""
    require_csrf(request, user, csrf_token)
    title = rights.visible_title(session, title_id=title_id, org_id=user.user.org_id)
    form = LicenseForm(territories, starts_on, ends_on, license_type, bool(exclusive), message)
    windows = rights.list_rights_windows(session, title_id=title.id, org_id=user.user.org_id)
    check = check_terms(session, title=title, windows=windows, form=form)
    if check.terms is None:
        return _form_page(
            request, session, user, title=title, form=form, error=check.error, status=422
        )
    if check.clash is not None and not confirm_clash:
        # The owner's approval would refuse it: say why, keep everything the user typed.
        return _form_page(request, session, user, title=title, form=form, error="clash", status=422)
    terms = check.terms
    try:
        made = workflow.request_license(
            session,
            actor=user.actor,
            title_id=title.id,
            territories=terms.territories,
            starts_at=terms.starts_at,
            ends_at=terms.ends_at,
            license_type=terms.license_type,
            exclusive=terms.exclusive,
            message=terms.message,
        )
    except InvalidInput as exc:
        return _form_page(
            request, session, user, title=title, form=form, error=str(exc), status=422
        )
    return RedirectResponse(f"/requests?sent={made.id}", status_code=303)


@router.get("/requests")
def my_requests(
    request: Request,
    user: CurrentWebUser,
    session: SessionDep,
    sent: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The license requests my organization made, newest first, with their status."""
    require(user.user.role, Action.LICENSING_READ)
    org_id = user.user.org_id
    rows = [
        r
        for r in workflow.list_requests(session, org_id=org_id, limit=LIST_LIMIT)
        if r.requester_org_id == org_id
    ]
    rows.reverse()
    context = {
        "nav": "licenses",
        "requests": rows,
        "titles": titles_of(session, [r.title_id for r in rows]),
        "orgs": org_names(session, [r.licensor_org_id for r in rows]),
        "sent": sent,
        "period": period_of,
    }
    return render(request, "requests.html", context, user=user)


@dataclass(frozen=True)
class HeldLicense:
    """A license my organization holds, and the masters it lets us download now."""

    license: License
    downloads: list[entitlements.LicensedAsset]


@router.get("/licenses")
def my_licenses(request: Request, user: CurrentWebUser, session: SessionDep) -> Response:
    """The licenses my organization holds, with download links to what they cover now."""
    require(user.user.role, Action.LICENSING_READ)
    org_id = user.user.org_id
    held = workflow.list_licenses(session, org_id=org_id, side="licensee", limit=LIST_LIMIT)
    held.reverse()
    # The licensee's one rule (FTP /licensed, the API download and the sync use it too).
    downloadable = entitlements.licensed_assets_for(
        session, org_id=org_id, title_ids=sorted({lic.title_id for lic in held})
    )
    rows = [
        HeldLicense(lic, [item for item in downloadable if item.license.id == lic.id])
        for lic in held
    ]
    context = {
        "nav": "licenses",
        "licenses": rows,
        "titles": titles_of(session, [lic.title_id for lic in held]),
        "orgs": org_names(session, [lic.licensor_org_id for lic in held]),
        "period": period_of,
    }
    return render(request, "licenses.html", context, user=user)


@router.get("/assets/{asset_id}/download")
def download(
    request: Request,
    asset_id: uuid.UUID,
    user: CurrentWebUser,
    rendition: Annotated[entitlements.DownloadableRendition | None, Query()] = None,
) -> Response:
    """Send the browser to a presigned URL of a master I own or license; log the delivery.

    The same door as `GET /v1/assets/{id}/download` (`open_download`): the same check, and
    the delivery logged against the license (channel `web`).
    """
    state = web_state(request)
    # A GET that writes (the delivery log row): take the writer up front, as the API does.
    with state.db.write_session() as session:
        grant = open_download(session, actor=user.actor, target=asset_id, rendition=rendition)
        if grant.object_key is None:
            raise Conflict(f"asset {asset_id} has no stored bytes to download")
        url = state.storage.presigned_get(
            grant.object_key,
            expires_in=state.settings.download_url_seconds,
            download_name=grant.filename,
        )
    return RedirectResponse(url, status_code=303)


def titles_of(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Title]:
    """The titles with these ids, by id (for showing names)."""
    found = (session.get(Title, title_id) for title_id in set(ids))
    return {title.id: title for title in found if title is not None}


def org_names(session: Session, ids: list[int]) -> dict[int, str]:
    """The names of these organizations, by id."""
    found = (session.get(Organization, org_id) for org_id in set(ids))
    return {org.id: org.name for org in found if org is not None}


def period_of(row: LicenseRequest | License | RightsWindow) -> tuple[date, date]:
    """The first and last day of a request's or license's period (the end is exclusive)."""
    return row.starts_at.date(), (row.ends_at - timedelta(microseconds=1)).date()
