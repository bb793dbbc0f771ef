"""Organizations, users, FTP credentials and API tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager

from pool_core.common.actor import Actor
from pool_core.errors import AlreadyExists, AuthenticationFailed, InvalidInput, NotFound
from pool_core.models import ApiToken, FtpAccount, Organization, Role, User, utcnow
from pool_core.security import (
    DUMMY_PASSWORD_HASH,
    credential_fingerprint,
    generate_password,
    generate_token,
    hash_password,
    hash_token,
    verify_password,
)

ORG_CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
# The longest a token may live unless the settings say otherwise (`api_token_max_days`).
DEFAULT_TOKEN_TTL = timedelta(days=90)
# What every admin-facing "name taken" answer says, whoever holds the name: the answer must
# not tell which organization (or that another one) has it.
USERNAME_TAKEN = "username {name!r} is not available; choose another"


@dataclass(frozen=True)
class NewUser:
    """A freshly created user and the secrets shown to them exactly once."""

    user: User
    ftp_password: str
    api_token: str


def create_organization(
    session: Session,
    *,
    code: str,
    name: str,
    country: str,
    quota_bytes: int | None = None,
) -> Organization:
    """Create a member broadcaster."""
    code = code.strip().lower()
    country = country.strip().upper()
    if not ORG_CODE_RE.match(code):
        raise InvalidInput(
            f"organization code {code!r} must be 2-32 characters: a-z, 0-9, '-', "
            "starting with a letter"
        )
    if not COUNTRY_RE.match(country):
        raise InvalidInput(f"country {country!r} must be an ISO 3166-1 alpha-2 code like AZ")
    if not name.strip():
        raise InvalidInput("organization name must not be empty")
    if quota_bytes is not None and quota_bytes < 0:
        raise InvalidInput("quota must be a non-negative number of bytes")
    if session.scalar(select(Organization.id).where(Organization.code == code)) is not None:
        raise AlreadyExists(f"organization {code!r} already exists")
    org = Organization(code=code, name=name.strip(), country=country, quota_bytes=quota_bytes)
    session.add(org)
    _flush_unique(session, f"organization {code!r} already exists")
    return org


def get_organization_by_code(session: Session, *, code: str) -> Organization:
    """Return the organization with this code."""
    org = session.scalar(select(Organization).where(Organization.code == code.strip().lower()))
    if org is None:
        raise NotFound(f"no organization with code {code!r}")
    return org


def get_organization(session: Session, *, org_id: int) -> Organization:
    """Return the organization with this id."""
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"no organization with id {org_id}")
    return org


def update_organization_settings(
    session: Session, *, org_id: int, sidecar_auto_publish: bool | None = None
) -> Organization:
    """Change an organization's settings; None leaves a setting as it is."""
    org = get_organization(session, org_id=org_id)
    if sidecar_auto_publish is not None:
        org.sidecar_auto_publish = sidecar_auto_publish
    session.flush()
    return org


def list_organizations(session: Session) -> list[Organization]:
    """Return every organization, by code."""
    return list(session.scalars(select(Organization).order_by(Organization.code)))


def create_user(
    session: Session,
    *,
    org: Organization,
    username: str,
    role: Role | str,
    display_name: str = "",
    token_ttl: timedelta = DEFAULT_TOKEN_TTL,
) -> NewUser:
    """Create a user with an FTP password and an API token, returned once in clear."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            f"username {username!r} must be 2-64 characters: a-z, 0-9, '.', '_', '-'"
        )
    try:
        role = Role(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role {role!r} is not one of {roles}") from exc
    taken = USERNAME_TAKEN.format(name=username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(taken)
    user = User(org_id=org.id, username=username, role=role, display_name=display_name)
    session.add(user)
    _flush_unique(session, taken)
    password = set_ftp_password(session, user=user)
    _, token = create_api_token(
        session, user=user, name="initial", ttl=token_ttl, max_ttl=token_ttl
    )
    return NewUser(user=user, ftp_password=password, api_token=token)


def create_member_user(
    session: Session,
    *,
    org: Organization,
    username: str,
    role: Role | str,
    display_name: str = "",
    token_ttl: timedelta = DEFAULT_TOKEN_TTL,
) -> NewUser:
    """Create a user for an organization's admin: only names in the org's own namespace.

    Usernames are global (FTP logins carry no organization), so a free choice of names would
    let one member probe which names another member uses. An admin names users
    `<org-code>-...`; a name outside that namespace is refused the same way whether or not it
    exists, and a taken name inside it can only be one of their own organization's.
    """
    name = username.strip().lower()
    codes = session.scalars(select(Organization.code)).all()
    owners = [code for code in codes if name.startswith(f"{code}-")]
    # The longest code wins: `kz-tv-ops` belongs to `kz-tv`, not to `kz`.
    if not owners or max(owners, key=len) != org.code:
        raise InvalidInput(f"usernames in your organization start with '{org.code}-'")
    return create_user(
        session,
        org=org,
        username=name,
        role=role,
        display_name=display_name,
        token_ttl=token_ttl,
    )


def get_member_user(session: Session, *, org_id: int, user_id: int) -> User:
    """Return a user of this organization (another organization's user is not found)."""
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id:
        raise NotFound(f"no user {user_id}")
    return user


def disable_user(session: Session, *, user: User) -> int:
    """Disable the user and revoke every live token; return how many tokens were revoked.

    The FTP servers end the user's live sessions at their next check
    (`ftp_session_recheck_seconds`); refused logins and tokens follow from `disabled` at once.
    """
    user.disabled = True
    now = utcnow()
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return int(getattr(revoked, "rowcount", 0) or 0)


def disable_organization(session: Session, *, org: Organization) -> None:
    """Disable a member: its users' logins, tokens and live FTP sessions stop working."""
    org.disabled = True
    session.flush()


def get_user_by_username(session: Session, *, username: str) -> User:
    """Return the user with this username."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def set_ftp_password(session: Session, *, user: User, password: str | None = None) -> str:
    """Set (or generate) the user's FTP password and return it in clear."""
    password = password or generate_password()
    if len(password) < 12:
        raise InvalidInput("FTP passwords must be at least 12 characters")
    account = session.scalar(select(FtpAccount).where(FtpAccount.user_id == user.id))
    if account is None:
        account = FtpAccount(user_id=user.id, password_hash=hash_password(password))
        session.add(account)
    else:
        account.password_hash = hash_password(password)
    session.flush()
    return password


@dataclass(frozen=True)
class FtpLoginCheck:
    """A verified FTP login: the user and the fingerprint of the password it used."""

    user: User
    credential: str


def verify_ftp_login(session: Session, *, username: str, password: str) -> User:
    """Return the user if the FTP credentials are right and record the login time."""
    user = check_ftp_login(session, username=username, password=password).user
    record_ftp_logins(session, user_ids=[user.id])
    return user


def check_ftp_login(session: Session, *, username: str, password: str) -> FtpLoginCheck:
    """Return the user if the FTP credentials are right, only reading, equal work either way.

    Nothing is written, so callers can verify in a read-only unit of work: on SQLite many
    scrypt checks then run in parallel (scrypt releases the GIL) instead of queueing behind
    the single writer; `record_ftp_logins` stores the login time later, in a batch.
    """
    row = session.execute(
        select(User, FtpAccount, Organization)
        .join(FtpAccount, FtpAccount.user_id == User.id)
        .join(Organization, Organization.id == User.org_id)
        .where(User.username == username.strip().lower())
    ).first()
    stored_hash = row.FtpAccount.password_hash if row else DUMMY_PASSWORD_HASH
    password_ok = verify_password(password, stored_hash)
    if row is None or not password_ok:
        raise AuthenticationFailed("authentication failed")
    if row.User.disabled or row.FtpAccount.disabled or row.Organization.disabled:
        raise AuthenticationFailed("account disabled")
    user: User = row.User
    return FtpLoginCheck(user=user, credential=credential_fingerprint(row.FtpAccount.password_hash))


def live_ftp_credentials(session: Session, *, user_ids: Iterable[int]) -> dict[int, str]:
    """The current password fingerprint of each of these users who may still use FTP.

    A user missing from the answer is disabled (or their organization or FTP account is, or
    they are gone): their live sessions must end, as must those whose fingerprint changed.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, FtpAccount.password_hash)
        .join(FtpAccount, FtpAccount.user_id == User.id)
        .join(Organization, Organization.id == User.org_id)
        .where(
            User.id.in_(ids),
            User.disabled.is_(False),
            FtpAccount.disabled.is_(False),
            Organization.disabled.is_(False),
        )
    )
    return {user_id: credential_fingerprint(password_hash) for user_id, password_hash in rows}


def record_ftp_logins(
    session: Session, *, user_ids: Iterable[int], at: datetime | None = None
) -> None:
    """Set the FTP accounts' last login time (one statement for a batch of users)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    session.execute(
        update(FtpAccount)
        .where(FtpAccount.user_id.in_(ids))
        .values(last_login_at=at or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    session.flush()


def create_api_token(
    session: Session,
    *,
    user: User,
    name: str = "",
    ttl: timedelta | None = None,
    max_ttl: timedelta = DEFAULT_TOKEN_TTL,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token for the user; the clear token is returned only here.

    It expires after `ttl` (or at `expires_at`), by default after `max_ttl`; asking for longer
    is refused rather than silently shortened, so a script that expects a year learns at
    once that it will not get it.
    """
    now = utcnow()
    if expires_at is None:
        expires_at = now + (max_ttl if ttl is None else ttl)
    if expires_at > now + max_ttl:
        raise InvalidInput(f"tokens live at most {max_ttl.days} days")
    token = generate_token()
    record = ApiToken(
        user_id=user.id,
        name=name,
        prefix=token[:10],
        token_hash=hash_token(token),
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return record, token


# How stale a token's `last_used_at` may get. Recording every request would turn each read
# into a write (and, on SQLite, queue every request behind the single writer); a rights
# manager auditing tokens needs "used today", not the last millisecond.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenCheck:
    """A valid token's user, and whether its last use is due to be recorded."""

    user: User
    token_id: int
    use_due: bool


def check_api_token(session: Session, *, token: str) -> TokenCheck:
    """Validate a bearer token without writing anything."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .join(User.organization)
        # The organization filled in from the same row: every caller reads it (the API names
        # it, the roles check its state), and a lazy load was one more query per request.
        .options(contains_eager(User.organization))
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise AuthenticationFailed("unknown API token")
    now = utcnow()
    record: ApiToken = row.ApiToken
    if record.revoked_at is not None:
        raise AuthenticationFailed("API token revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationFailed("API token expired")
    if row.User.disabled or row.User.organization.disabled:
        raise AuthenticationFailed("account disabled")
    due = record.last_used_at is None or record.last_used_at <= now - TOKEN_USE_RESOLUTION
    user: User = row.User
    return TokenCheck(user=user, token_id=record.id, use_due=due)


def record_token_use(session: Session, *, token_id: int) -> None:
    """Stamp a token's last use, unless a concurrent request just did."""
    now = utcnow()
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            (ApiToken.last_used_at.is_(None))
            | (ApiToken.last_used_at <= now - TOKEN_USE_RESOLUTION),
        )
        .values(last_used_at=now)
    )


def revoke_api_token(session: Session, *, token_id: int, actor: Actor) -> ApiToken:
    """Revoke one of the user's tokens, or, for an admin, any token of their organization."""
    record = session.get(ApiToken, token_id)
    if record is None or not _may_revoke(session, record, actor):
        raise NotFound(f"no API token {token_id}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.flush()
    return record


def _may_revoke(session: Session, record: ApiToken, actor: Actor) -> bool:
    if record.user_id == actor.user_id:
        return True
    if actor.role is not Role.ADMIN:
        return False
    owner = session.get(User, record.user_id)
    return owner is not None and owner.org_id == actor.org_id


def _flush_unique(session: Session, message: str) -> None:
    # Two creators racing past the existence check meet the unique constraint instead.
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(message) from exc
