"""Signing in and out of the web UI: cookie flags, CSRF, the FTP brute-force limits."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import AuditEvent, WebSession
from pool_core.services.accounts import disable_user, get_user_by_username, set_ftp_password
from tests.fixtures.api import Members
from tests.fixtures.web import csrf_of, sign_in


def test_a_page_sends_a_stranger_to_sign_in_and_back(
    web_client: TestClient, members: Members
) -> None:
    page = web_client.get("/?q=Qorqud")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=%2F%3Fq%3DQorqud"
    done = sign_in(
        web_client, members.username("kztv"), members.password("kztv"), next_path="/?q=Qorqud"
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/?q=Qorqud"
    home = web_client.get("/")
    assert home.status_code == 200
    assert "kztv-editor" in home.text or "Qazaqstan TV" in home.text


def test_session_cookie_has_its_flags(web_client: TestClient, members: Members) -> None:
    done = sign_in(web_client, members.username("kztv"), members.password("kztv"))
    cookie = next(
        h for h in done.headers.get_list("set-cookie") if h.startswith("jp_session=")
    ).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    # Plain HTTP in this test: Secure would make the browser drop it. Behind TLS it is set.
    assert "secure" not in cookie


def test_session_cookie_is_secure_behind_tls(web_app, members: Members) -> None:  # type: ignore[no-untyped-def]
    with TestClient(web_app, base_url="https://testserver", follow_redirects=False) as client:
        done = sign_in(client, members.username("kztv"), members.password("kztv"))
        cookie = next(
            h for h in done.headers.get_list("set-cookie") if h.startswith("jp_session=")
        ).lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_wrong_password_is_refused_and_audited(
    web_client: TestClient, members: Members, database: Database
) -> None:
    refused = sign_in(web_client, members.username("kztv"), "not-the-password")
    assert refused.status_code == 401
    assert "Wrong username or password" in refused.text
    assert "jp_session" not in refused.headers.get("set-cookie", "")
    assert web_client.get("/").status_code == 303
    with database.session() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.channel == "web"))
        assert "web.signin_failed" in set(actions)


def test_unknown_user_gets_the_same_answer(web_client: TestClient, members: Members) -> None:
    wrong_password = sign_in(web_client, members.username("kztv"), "nope")
    unknown = sign_in(web_client, "kztv-nobody", "nope")
    assert wrong_password.status_code == unknown.status_code == 401
    assert "Wrong username or password" in unknown.text


def test_repeated_failures_ban_the_address_like_ftp(
    web_client: TestClient, members: Members, api_settings
) -> None:  # type: ignore[no-untyped-def]
    username = members.username("kztv")
    statuses = [
        sign_in(web_client, username, f"guess-{n}").status_code
        for n in range(api_settings.ftp_ban_threshold)
    ]
    assert statuses == [401] * api_settings.ftp_ban_threshold
    # Banned now: even the right password is refused without being checked.
    banned = sign_in(web_client, username, members.password("kztv"))
    assert banned.status_code == 429
    assert "Too many failed sign-ins" in banned.text


def test_cross_site_sign_in_post_is_refused(web_client: TestClient, members: Members) -> None:
    web_client.get("/signin")
    forged = web_client.post(
        "/signin",
        data={
            "username": members.username("kztv"),
            "password": members.password("kztv"),
            "csrf_token": "guessed",
        },
    )
    assert forged.status_code == 403
    from_elsewhere = web_client.post(
        "/signin",
        data={"username": members.username("kztv"), "password": members.password("kztv")},
        headers={"Origin": "https://evil.example"},
    )
    assert from_elsewhere.status_code == 403
    assert "jp_session" not in web_client.cookies


def test_sign_out_ends_the_session_on_the_server(
    web_client: TestClient, members: Members, database: Database
) -> None:
    sign_in(web_client, members.username("kztv"), members.password("kztv"))
    stolen = web_client.cookies["jp_session"]
    home = web_client.get("/")
    assert home.status_code == 200
    out = web_client.post("/signout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    # The old cookie, replayed, no longer works: the session ended on the server.
    web_client.cookies.set("jp_session", stolen)
    assert web_client.get("/").status_code == 303
    with database.session() as session:
        record = session.scalars(select(WebSession)).one()
        assert record.ended_at is not None


def test_sign_out_without_the_token_is_refused(web_client: TestClient, members: Members) -> None:
    sign_in(web_client, members.username("kztv"), members.password("kztv"))
    refused = web_client.post("/signout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert web_client.get("/").status_code == 200


def test_disabling_the_user_or_changing_the_password_ends_the_session(
    web_client: TestClient, members: Members, database: Database
) -> None:
    sign_in(web_client, members.username("kztv"), members.password("kztv"))
    assert web_client.get("/").status_code == 200
    with database.write_session() as session:
        set_ftp_password(session, user=get_user_by_username(session, username="kztv-editor"))
    assert web_client.get("/").status_code == 303
    sign_in(web_client, members.username("uztv"), members.password("uztv"))
    assert web_client.get("/").status_code == 200
    with database.write_session() as session:
        disable_user(session, user=get_user_by_username(session, username="uztv-editor"))
    assert web_client.get("/").status_code == 303


def test_pages_answer_in_the_browsers_language(web_client: TestClient, members: Members) -> None:
    page = web_client.get("/signin", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert page.headers["content-language"] == "ru"
    assert '<html lang="ru">' in page.text
    chosen = web_client.post("/language", data={"language": "tr", "next": "/signin"})
    assert chosen.status_code == 303
    page = web_client.get("/signin", headers={"Accept-Language": "ru"})
    assert page.headers["content-language"] == "tr"


def test_pages_send_a_strict_content_security_policy(web_client: TestClient) -> None:
    page = web_client.get("/signin")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"


def test_api_errors_stay_problem_json(web_client: TestClient) -> None:
    response = web_client.get("/v1/titles")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    missing = web_client.get("/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
