"""The caller, their tokens, and users an admin creates."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from catalog_api.schemas.common import Medium, Short
from pool_core.models import ApiToken, Role, User


class MeOut(BaseModel):
    """Who the token belongs to."""

    id: int
    username: str
    display_name: str
    role: Role
    organization: str

    @classmethod
    def from_model(cls, user: User) -> MeOut:
        """Build from the ORM object."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            organization=user.organization.code,
        )


class TokenIn(BaseModel):
    """A new API token for yourself."""

    name: Short = ""
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days until it expires; at most the pool's token lifetime cap (90 days "
        "unless configured), which is also the default. Longer is refused (422).",
    )


class TokenOut(BaseModel):
    """An API token as listed (never the secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_model(cls, token: ApiToken) -> TokenOut:
        """Build from the ORM object."""
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class NewTokenOut(TokenOut):
    """A freshly issued token: `token` is shown this once and never again."""

    token: str


class UserIn(BaseModel):
    """A new user in the admin's own organization."""

    username: Short = Field(min_length=2)
    role: Role
    display_name: Medium = ""


class NewUserOut(BaseModel):
    """A created user with their first API token and FTP password, shown this once."""

    user: MeOut
    api_token: str
    ftp_password: str


class DisabledUserOut(BaseModel):
    """A user just disabled, and how many live tokens that revoked."""

    user: MeOut
    tokens_revoked: int
