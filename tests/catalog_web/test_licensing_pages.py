"""License request form with its clash check, my requests, my licenses and their downloads."""

from __future__ import annotations

import hashlib
import html
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.licensing import rights, workflow
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Delivery,
    LicenseRequest,
    MetadataState,
    Title,
    TitleKind,
    TitleStatus,
    User,
)
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.web import csrf_of, sign_in

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Offer:
    """A kztv title offered in UZ, KG and TJ for a year, with one ready master in storage."""

    title_id: uuid.UUID
    asset_id: uuid.UUID
    master: bytes
    window_start: datetime
    window_end: datetime


def offered_title(database: Database, storage: S3Storage, members: Members) -> Offer:
    """Build the offer through pool_core, as the owner's rights manager would."""
    org_id = members.org_ids["kztv"]
    master = os.urandom(150_000)
    asset_id = uuid.uuid4()
    key = f"masters/kztv/{asset_id}/dala.mxf"
    storage.put(key, master)
    start = datetime.combine(datetime.now(UTC).date() - DAY, time.min, tzinfo=UTC)
    with database.write_session() as session:
        title = Title(
            org_id=org_id,
            kind=TitleKind.PROGRAMME,
            original_title="Dala / Steppe",
            status=TitleStatus.PUBLISHED,
        )
        session.add(title)
        session.add(
            Asset(
                id=asset_id,
                org_id=org_id,
                filename="dala.mxf",
                object_key=key,
                size=len(master),
                sha256=hashlib.sha256(master).hexdigest(),
                status=AssetStatus.READY,
            )
        )
        session.flush()
        session.add(
            AssetCatalog(
                asset_id=asset_id, org_id=org_id, title_id=title.id, state=MetadataState.LINKED
            )
        )
        rights.create_rights_window(
            session,
            actor=actor_of(session, members, "kztv", "rights_manager"),
            title_id=title.id,
            territories=["UZ", "KG", "TJ"],
            starts_at=start,
            ends_at=start + 366 * DAY,
            license_type="free_exchange",
            exclusivity=True,
        )
        return Offer(title.id, asset_id, master, start, start + 366 * DAY)


def actor_of(session, members: Members, org: str, role: str) -> Actor:  # type: ignore[no-untyped-def]
    """A member as a pool_core actor."""
    user = session.get(User, members.user_ids[(org, role)])
    assert user is not None
    return Actor.for_user(user)


def grant_license(
    database: Database, members: Members, offer: Offer, *, territories: list[str], exclusive: bool
) -> int:
    """uztv asks and kztv approves, through the services; the license id."""
    with database.write_session() as session:
        made = workflow.request_license(
            session,
            actor=actor_of(session, members, "uztv", "rights_manager"),
            title_id=offer.title_id,
            territories=territories,
            starts_at=offer.window_start + DAY,
            ends_at=offer.window_start + 100 * DAY,
            license_type="free_exchange",
            exclusive=exclusive,
        )
        granted = workflow.approve_request(
            session, request_id=made.id, actor=actor_of(session, members, "kztv", "rights_manager")
        )
        return granted.id


def browser(app: FastAPI, members: Members, org: str, role: str = "editor") -> TestClient:
    """A signed-in browser of that member (cookies kept, redirects not followed)."""
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    done = sign_in(client, members.username(org, role), members.password(org, role))
    assert done.status_code == 303
    return client


def value_of(page: str, name: str) -> str:
    """The value attribute of a named input."""
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


def form_of(offer: Offer, **changes: str) -> dict[str, str]:
    """A filled-in request: UZ for ten days inside the window, non-exclusive."""
    first = (offer.window_start + 2 * DAY).date()
    values = {
        "territories": "UZ",
        "starts_on": first.isoformat(),
        "ends_on": (first + 9 * DAY).isoformat(),
        "license_type": "free_exchange",
        "message": "For our evening slot, «Dala» in Uzbek",
    }
    values.update(changes)
    return values


def request_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(LicenseRequest)) or 0


def test_form_shows_the_offered_windows_and_defaults_to_my_territory(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    page = uz.get(f"/titles/{offer.title_id}/license")
    assert page.status_code == 200, page.text
    assert "KG, TJ, UZ" in page.text
    assert "Exclusive allowed" in page.text
    assert value_of(page.text, "territories") == "UZ"
    assert value_of(page.text, "starts_on") == datetime.now(UTC).date().isoformat()
    assert value_of(page.text, "ends_on") == (offer.window_end.date() - DAY).isoformat()
    assert 'role="status"' in page.text and "hx-get" in page.text
    assert "No clash" in page.text
    owner = browser(web_app, members, "kztv")
    own = owner.get(f"/titles/{offer.title_id}/license")
    assert "own title" in own.text and 'id="license-form"' not in own.text
    assert uz.get(f"/titles/{uuid.uuid4()}/license").status_code == 404
    uploader = browser(web_app, members, "uztv", "uploader").get(
        f"/titles/{offer.title_id}/license"
    )
    assert "may not request licenses" in uploader.text and 'id="license-form"' not in uploader.text


def test_a_request_is_sent_listed_as_mine_and_reaches_the_owners_inbox(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    page = uz.get(f"/titles/{offer.title_id}/license")
    sent = uz.post(
        f"/titles/{offer.title_id}/license",
        data={**form_of(offer, exclusive="1"), "csrf_token": csrf_of(page.text)},
    )
    assert sent.status_code == 303, sent.text
    with database.session() as session:
        made = session.scalars(select(LicenseRequest)).one()
        assert made.territories == ["UZ"]
        assert made.exclusive is True
        assert made.requested_by == members.user_ids[("uztv", "editor")]
        # The last day is included: the license runs until that day is over.
        assert made.starts_at == offer.window_start + 2 * DAY
        assert made.ends_at == offer.window_start + 12 * DAY
        assert made.message == "For our evening slot, «Dala» in Uzbek"
    assert sent.headers["location"] == f"/requests?sent={made.id}"
    mine = uz.get(sent.headers["location"])
    assert mine.status_code == 200
    assert f'id="request-{made.id}"' in mine.text
    assert "Dala / Steppe" in mine.text and 'class="badge pending"' in mine.text
    inbox = browser(web_app, members, "kztv", "rights_manager").get("/inbox")
    assert inbox.status_code == 200
    assert f'id="request-{made.id}"' in inbox.text
    assert "O&#39;zbekiston TV" in inbox.text
    assert "No clash with an existing license" in inbox.text


def test_a_clash_is_explained_before_and_on_submit_and_nothing_is_lost(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    held = grant_license(database, members, offer, territories=["UZ"], exclusive=True)
    uz = browser(web_app, members, "uztv")
    check_url = f"/titles/{offer.title_id}/license/check"
    clash = uz.get(check_url, params=form_of(offer), headers={"HX-Request": "true"})
    assert clash.status_code == 200
    assert f'data-clash="{held}"' in clash.text
    assert "An exclusive license" in clash.text and "O&#39;zbekiston TV" in clash.text
    free = uz.get(check_url, params=form_of(offer, territories="KG"))
    assert "No clash" in free.text and "data-clash" not in free.text
    outside = uz.get(check_url, params=form_of(offer, territories="KZ"))
    assert "does not cover KZ" in outside.text
    before = request_count(database)
    page = uz.get(f"/titles/{offer.title_id}/license")
    token = csrf_of(page.text)
    refused = uz.post(
        f"/titles/{offer.title_id}/license", data={**form_of(offer), "csrf_token": token}
    )
    assert refused.status_code == 422
    assert f'data-clash="{held}"' in refused.text
    assert value_of(refused.text, "territories") == "UZ"
    assert value_of(refused.text, "starts_on") == form_of(offer)["starts_on"]
    assert "For our evening slot, «Dala» in Uzbek</textarea>" in refused.text
    assert 'name="confirm_clash"' in refused.text
    assert request_count(database) == before
    anyway = uz.post(
        f"/titles/{offer.title_id}/license",
        data={**form_of(offer), "csrf_token": token, "confirm_clash": "1"},
    )
    assert anyway.status_code == 303
    assert request_count(database) == before + 1


def test_invalid_input_is_explained_and_the_form_kept(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    token = csrf_of(uz.get(f"/titles/{offer.title_id}/license").text)
    url = f"/titles/{offer.title_id}/license"
    bad_code = uz.post(url, data={**form_of(offer, territories="UZB"), "csrf_token": token})
    assert bad_code.status_code == 422
    assert "ISO 3166-1 alpha-2" in bad_code.text
    assert value_of(bad_code.text, "territories") == "UZB"
    backwards = form_of(offer, ends_on=(offer.window_start - 5 * DAY).date().isoformat())
    reversed_period = uz.post(url, data={**backwards, "csrf_token": token})
    assert reversed_period.status_code == 422
    assert "the end must come after the start" in reversed_period.text
    assert request_count(database) == 0


def test_a_post_without_the_csrf_token_changes_nothing(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    forged = uz.post(f"/titles/{offer.title_id}/license", data=form_of(offer))
    assert forged.status_code == 403
    from_elsewhere = uz.post(
        f"/titles/{offer.title_id}/license",
        data={**form_of(offer), "csrf_token": csrf_of(uz.get("/requests").text)},
        headers={"Origin": "https://evil.example"},
    )
    assert from_elsewhere.status_code == 403
    assert request_count(database) == 0


def test_my_licenses_link_to_a_download_that_serves_the_master_and_is_logged(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    license_id = grant_license(database, members, offer, territories=["UZ"], exclusive=False)
    uz = browser(web_app, members, "uztv")
    page = uz.get("/licenses")
    assert page.status_code == 200
    assert f'id="license-{license_id}"' in page.text
    assert f'href="/assets/{offer.asset_id}/download"' in page.text
    assert "dala.mxf" in page.text
    redirect = uz.get(f"/assets/{offer.asset_id}/download")
    assert redirect.status_code == 303
    fetched = httpx.get(redirect.headers["location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == offer.master
    with database.session() as session:
        logged = [
            (d.license_id, d.asset_id, d.channel, d.user_id)
            for d in session.scalars(select(Delivery))
        ]
    assert logged == [(license_id, offer.asset_id, "web", members.user_ids[("uztv", "editor")])]
    # The owner holds no license (it grants them); every licensee role may download.
    owner = browser(web_app, members, "kztv")
    assert "holds no licenses" in owner.get("/licenses").text
    uploader = browser(web_app, members, "uztv", "uploader")
    assert f'href="/assets/{offer.asset_id}/download"' in uploader.get("/licenses").text


@pytest.mark.browser
def test_in_chromium_the_clash_check_updates_as_the_form_changes(
    chromium: Browser,
    live_web: LiveServer,
    members: Members,
    database: Database,
    api_storage: S3Storage,
) -> None:
    offer = offered_title(database, api_storage, members)
    held = grant_license(database, members, offer, territories=["UZ"], exclusive=True)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_web.base_url}/signin?next=/titles/{offer.title_id}/license")
        page.fill("#username", members.username("uztv"))
        page.fill("#password", members.password("uztv"))
        page.click("button[type=submit]")
        page.wait_for_url(f"**/titles/{offer.title_id}/license")
        check = page.get_by_role("status")
        # My territory (UZ) is taken exclusively for part of the window already.
        expect(check.locator(f'[data-clash="{held}"]')).to_be_visible()
        page.fill("#territories", "KG")
        page.locator("#territories").dispatch_event("change")
        expect(check).to_contain_text("No clash")
        page.fill("#territories", "KG, UZ")
        page.locator("#territories").dispatch_event("change")
        expect(check.locator(f'[data-clash="{held}"]')).to_be_visible()
        page.get_by_label("Last day").fill(offer.window_start.date().isoformat())
        page.get_by_label("Last day").dispatch_event("change")
        expect(check).to_contain_text("must come after the start")
    finally:
        context.close()
