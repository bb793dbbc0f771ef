"""Schemas every router shares: pages, problems, safe text."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def _no_control_chars(value: str) -> str:
    # NUL cannot be stored by PostgreSQL, and other C0 controls are never meant in metadata.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


NoControl = AfterValidator(_no_control_chars)
# Bounded text types matching the database column sizes.
Name = Annotated[str, Field(min_length=1, max_length=512), NoControl]
Short = Annotated[str, Field(max_length=64), NoControl]
Medium = Annotated[str, Field(max_length=255), NoControl]
LongText = Annotated[str, Field(max_length=20_000), NoControl]
ExternalId = Annotated[str, Field(max_length=128), NoControl]
AgeRating = Annotated[str, Field(max_length=16), NoControl]
LanguageTag = Annotated[str, Field(min_length=2, max_length=35), NoControl]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last.")


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in (
        (401, "Missing, unknown, expired or revoked API token."),
        (403, "Authenticated, but not allowed."),
        (404, "Not found, or not visible to your organization."),
        (409, "Conflicts with the current state."),
        (422, "Invalid input."),
    )
}
