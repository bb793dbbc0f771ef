"""Web UI sessions: sign in with username and password, check a cookie, sign out.

The cookie holds a random secret; the database keeps only its SHA-256, with the CSRF token
of the session and the fingerprint of the password it signed in with. Every request checks
the row, the user, the organization and the password fingerprint, so signing out, disabling
a user or a member, or changing the password ends the session at its next request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pool_core.errors import AuthenticationFailed
from pool_core.models import FtpAccount, Organization, User, WebSession, utcnow
from pool_core.security import credential_fingerprint, generate_token, hash_token
from pool_core.services.accounts import check_ftp_login

# How often a live session's last-seen time is written (reads stay read-only in between).
SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewWebSession:
    """A started session: the cookie value (shown once) and its CSRF token."""

    cookie: str
    csrf_token: str
    user_id: int
    org_id: int


@dataclass(frozen=True)
class WebSessionCheck:
    """A live session's user (loaded with its organization), CSRF token and row id."""

    user: User
    session_id: int
    csrf_token: str
    seen_due: bool


def sign_in(
    session: Session, *, username: str, password: str, remote_addr: str, lifetime: timedelta
) -> NewWebSession:
    """Check the credentials (the user's pool password) and start a session.

    Raises `AuthenticationFailed` alike for an unknown user and a wrong password.
    """
    check = check_ftp_login(session, username=username, password=password)
    cookie = generate_token()
    now = utcnow()
    # A user's expired sessions go when they next sign in, so the table stays small without
    # a sweeper; ended but unexpired rows stay, so a replayed cookie is known as ended.
    session.execute(
        delete(WebSession).where(WebSession.user_id == check.user.id, WebSession.expires_at <= now)
    )
    record = WebSession(
        user_id=check.user.id,
        token_hash=hash_token(cookie),
        csrf_token=secrets.token_urlsafe(32),
        credential=check.credential,
        remote_addr=remote_addr[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(record)
    session.flush()
    return NewWebSession(
        cookie=cookie, csrf_token=record.csrf_token, user_id=check.user.id, org_id=check.user.org_id
    )


def check_web_session(session: Session, *, cookie: str) -> WebSessionCheck:
    """The live session the cookie belongs to, without writing anything."""
    row = session.execute(
        select(WebSession, User, Organization, FtpAccount.password_hash, FtpAccount.disabled)
        .join(User, User.id == WebSession.user_id)
        .join(Organization, Organization.id == User.org_id)
        .join(FtpAccount, FtpAccount.user_id == User.id)
        .where(WebSession.token_hash == hash_token(cookie))
    ).first()
    if row is None:
        raise AuthenticationFailed("not signed in")
    record: WebSession = row.WebSession
    now = utcnow()
    if record.ended_at is not None or record.expires_at <= now:
        raise AuthenticationFailed("session ended")
    if row.User.disabled or row.Organization.disabled or row.disabled:
        raise AuthenticationFailed("account disabled")
    if credential_fingerprint(row.password_hash) != record.credential:
        raise AuthenticationFailed("password changed; sign in again")
    user: User = row.User
    return WebSessionCheck(
        user=user,
        session_id=record.id,
        csrf_token=record.csrf_token,
        seen_due=record.last_seen_at <= now - SEEN_RESOLUTION,
    )


def record_seen(session: Session, *, session_id: int) -> None:
    """Stamp a session's last request (at most once a minute)."""
    now = utcnow()
    session.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.last_seen_at <= now - SEEN_RESOLUTION)
        .values(last_seen_at=now)
    )


def sign_out(session: Session, *, cookie: str) -> bool:
    """End the session the cookie belongs to; whether there was a live one."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.token_hash == hash_token(cookie), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
