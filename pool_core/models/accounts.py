"""Organizations (broadcasters), their users, FTP accounts and API tokens."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pool_core.models.base import (
    Base,
    StrEnum,
    enum_column,
    intpk,
    optional_timestamp,
    str255,
    timestamp,
)


class Role(StrEnum):
    """What a user may do inside their organization."""

    ADMIN = "admin"
    RIGHTS_MANAGER = "rights_manager"
    EDITOR = "editor"
    UPLOADER = "uploader"


class Organization(Base):
    """A member broadcaster."""

    __tablename__ = "organizations"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str255]
    country: Mapped[str] = mapped_column(String(2))
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether a sidecar may publish titles (its `status`); off, sidecars only write drafts
    # and never change a published title (see pool_core.services.sidecar_ingest).
    sidecar_auto_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[timestamp]

    users: Mapped[list[User]] = relationship(back_populates="organization")


class User(Base):
    """A person or robot acting for one organization."""

    __tablename__ = "users"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Globally unique: FTP logins carry no organization.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = enum_column(Role)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[timestamp]

    organization: Mapped[Organization] = relationship(back_populates="users")


class FtpAccount(Base):
    """The FTP credential of a user; the password is stored only as a KDF hash."""

    __tablename__ = "ftp_accounts"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    password_hash: Mapped[str255]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[timestamp]
    last_login_at: Mapped[optional_timestamp]

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the catalog API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # The first characters of the token, shown in listings so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[timestamp]
    expires_at: Mapped[optional_timestamp]
    revoked_at: Mapped[optional_timestamp]
    last_used_at: Mapped[optional_timestamp]

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser of the web UI; only the SHA-256 of its cookie is stored.

    Server-side, so signing out, disabling the user or changing the password ends it at
    once. `credential` is the fingerprint of the password hash it signed in with.
    """

    __tablename__ = "web_sessions"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The synchronizer token every form and htmx request of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str] = mapped_column(String(64), default="")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
    expires_at: Mapped[timestamp]
    ended_at: Mapped[optional_timestamp]

    user: Mapped[User] = relationship()
