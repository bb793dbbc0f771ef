"""The rights manager's inbox: approve, decline with a comment, revoke, deliveries, refusals."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.models import Delivery, License, LicenseRequest, LicenseStatus, RequestStatus
from pool_core.storage.s3 import S3Storage
from tests.catalog_web.test_licensing_pages import (
    DAY,
    Offer,
    actor_of,
    browser,
    form_of,
    grant_license,
    offered_title,
)
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.web import csrf_of

HTMX = {"HX-Request": "true"}


def send_request(client: TestClient, offer: Offer, **changes: str) -> int:
    """Fill in and send the license request form as the requester; the request id."""
    page = client.get(f"/titles/{offer.title_id}/license")
    sent = client.post(
        f"/titles/{offer.title_id}/license",
        data={**form_of(offer, **changes), "csrf_token": csrf_of(page.text), "confirm_clash": "1"},
    )
    assert sent.status_code == 303, sent.text
    return int(sent.headers["location"].rsplit("=", 1)[1])


def status_of(database: Database, request_id: int) -> RequestStatus:
    with database.session() as session:
        made = session.get(LicenseRequest, request_id)
        assert made is not None
        return made.status


def test_approving_grants_a_license_the_licensee_downloads_and_the_inbox_shows_it(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    request_id = send_request(uz, offer, starts_on=offer.window_start.date().isoformat())
    rm = browser(web_app, members, "kztv", "rights_manager")
    inbox = rm.get("/inbox")
    assert f'hx-post="/inbox/requests/{request_id}/approve"' in inbox.text
    approved = rm.post(
        f"/inbox/requests/{request_id}/approve",
        data={"comment": "Enjoy"},
        headers={**HTMX, "X-CSRF-Token": csrf_of(inbox.text)},
    )
    assert approved.status_code == 200, approved.text
    assert approved.text.lstrip().startswith(f'<li class="card" id="request-{request_id}">')
    assert 'class="badge approved"' in approved.text and "<html" not in approved.text
    assert status_of(database, request_id) == RequestStatus.APPROVED
    with database.session() as session:
        license_ = session.scalars(select(License)).one()
    mine = uz.get("/licenses")
    assert f'id="license-{license_.id}"' in mine.text
    assert f'href="/assets/{offer.asset_id}/download"' in mine.text
    assert 'class="badge approved"' in uz.get("/requests").text
    download = uz.get(f"/assets/{offer.asset_id}/download")
    assert download.status_code == 303
    with database.session() as session:
        assert [d.license_id for d in session.scalars(select(Delivery))] == [license_.id]
    inbox = rm.get("/inbox")
    assert f'id="license-{license_.id}"' in inbox.text
    assert "1 delivery" in inbox.text
    assert '<tr class="delivery">' in inbox.text and "<td>web</td>" in inbox.text
    assert "No request is waiting for a decision" in inbox.text


def test_declining_needs_a_comment_the_requester_then_reads(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    request_id = send_request(uz, offer)
    rm = browser(web_app, members, "kztv", "rights_manager")
    token = csrf_of(rm.get("/inbox").text)
    url = f"/inbox/requests/{request_id}/decline"
    silent = rm.post(url, data={"comment": "  ", "csrf_token": token}, headers=HTMX)
    assert silent.status_code == 200
    assert "needs a comment" in silent.text
    assert status_of(database, request_id) == RequestStatus.PENDING
    declined = rm.post(url, data={"comment": "Sold to <b>another</b> channel", "csrf_token": token})
    assert declined.status_code == 303 and declined.headers["location"] == "/inbox"
    assert status_of(database, request_id) == RequestStatus.DECLINED
    mine = uz.get("/requests")
    assert 'class="badge declined"' in mine.text
    assert "Sold to &lt;b&gt;another&lt;/b&gt; channel" in mine.text
    again = rm.post(url, data={"comment": "twice", "csrf_token": token})
    assert again.status_code == 422 and "already declined" in again.text


def test_revoking_ends_the_download_and_is_shown_to_both(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    license_id = grant_license(database, members, offer, territories=["UZ"], exclusive=False)
    uz = browser(web_app, members, "uztv")
    assert uz.get(f"/assets/{offer.asset_id}/download").status_code == 303
    rm = browser(web_app, members, "kztv", "rights_manager")
    token = csrf_of(rm.get("/inbox").text)
    revoked = rm.post(
        f"/inbox/licenses/{license_id}/revoke",
        data={"reason": "Contract ended early", "csrf_token": token},
        headers=HTMX,
    )
    assert revoked.status_code == 200
    assert 'class="badge revoked"' in revoked.text and "Contract ended early" in revoked.text
    assert "1 delivery" in revoked.text
    with database.session() as session:
        license_ = session.get(License, license_id)
        assert license_ is not None and license_.status == LicenseStatus.REVOKED
        assert license_.revoke_reason == "Contract ended early"
    mine = uz.get("/licenses")
    assert 'class="badge revoked"' in mine.text and "Contract ended early" in mine.text
    assert f'href="/assets/{offer.asset_id}/download"' not in mine.text
    assert uz.get(f"/assets/{offer.asset_id}/download").status_code == 403


def test_a_clashing_approval_is_explained_in_the_row_and_nothing_granted(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    held = grant_license(database, members, offer, territories=["UZ"], exclusive=True)
    uz = browser(web_app, members, "uztv")
    request_id = send_request(uz, offer)
    rm = browser(web_app, members, "kztv", "rights_manager")
    inbox = rm.get("/inbox")
    assert f'data-clash="{held}"' in inbox.text
    refused = rm.post(
        f"/inbox/requests/{request_id}/approve",
        data={"csrf_token": csrf_of(inbox.text)},
        headers=HTMX,
    )
    assert refused.status_code == 200
    assert 'role="alert"' in refused.text and f"license {held}" in refused.text
    assert status_of(database, request_id) == RequestStatus.PENDING
    with database.session() as session:
        assert [lic.id for lic in session.scalars(select(License))] == [held]


def test_without_the_csrf_token_or_the_role_nothing_is_decided(
    web_app: FastAPI, members: Members, database: Database, api_storage: S3Storage
) -> None:
    offer = offered_title(database, api_storage, members)
    uz = browser(web_app, members, "uztv")
    request_id = send_request(uz, offer)
    license_id = grant_license(database, members, offer, territories=["KG"], exclusive=False)
    rm = browser(web_app, members, "kztv", "rights_manager")
    approve = f"/inbox/requests/{request_id}/approve"
    assert rm.post(approve, data={"csrf_token": "forged"}).status_code == 403
    assert rm.post(approve, headers=HTMX).status_code == 403
    revoke = f"/inbox/licenses/{license_id}/revoke"
    assert rm.post(revoke, data={"reason": "x"}).status_code == 403
    # The licensee's editor, with a valid token, may not decide on its own request.
    own_token = csrf_of(uz.get("/requests").text)
    refused = uz.post(approve, data={"csrf_token": own_token})
    assert refused.status_code == 403
    assert "owner" in refused.text
    assert uz.post(revoke, data={"csrf_token": own_token}).status_code == 403
    assert uz.get("/inbox").status_code == 403
    # Nor may the owner's editor: deciding is the rights manager's.
    owner_editor = browser(web_app, members, "kztv", "editor")
    token = csrf_of(owner_editor.get("/").text)
    assert owner_editor.post(approve, data={"csrf_token": token}).status_code == 403
    assert status_of(database, request_id) == RequestStatus.PENDING
    with database.session() as session:
        license_ = session.get(License, license_id)
        assert license_ is not None and license_.status == LicenseStatus.ACTIVE


@pytest.mark.browser
def test_in_chromium_approving_swaps_the_row_in_place(
    chromium: Browser,
    live_web: LiveServer,
    members: Members,
    database: Database,
    api_storage: S3Storage,
) -> None:
    offer = offered_title(database, api_storage, members)
    with database.write_session() as session:
        request_id = workflow.request_license(
            session,
            actor=actor_of(session, members, "uztv", "editor"),
            title_id=offer.title_id,
            territories=["UZ"],
            starts_at=offer.window_start,
            ends_at=offer.window_start + 30 * DAY,
            license_type="free_exchange",
        ).id
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_web.base_url}/signin?next=/inbox")
        page.fill("#username", members.username("kztv", "rights_manager"))
        page.fill("#password", members.password("kztv", "rights_manager"))
        page.click("button[type=submit]")
        page.wait_for_url("**/inbox")
        row = page.locator(f"#request-{request_id}")
        row.get_by_label("Comment (optional)").fill("Welcome")
        row.get_by_role("button", name="Approve").click()
        expect(page.locator(f"#request-{request_id} .badge.approved")).to_be_visible()
        # Swapped in place by htmx (with the CSRF header): a plain form post would have
        # reloaded the inbox, where a decided request is no longer listed.
        assert page.url.endswith("/inbox")
        assert page.locator(f"#request-{request_id}").count() == 1
    finally:
        context.close()
    assert status_of(database, request_id) == RequestStatus.APPROVED
