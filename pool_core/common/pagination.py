"""Paging: one opaque cursor codec (base64url JSON) and the keyset helpers of the catalog.

Every list the API pages hands out cursors made here, so a cursor is validated one way: a
string this server did not make is a clear 422, never a 500 or a silent first page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import Select, SQLColumnExpression, and_, or_

from pool_core.errors import InvalidInput

BAD_CURSOR = "the cursor is not one this server handed out"

E = TypeVar("E", bound=Enum)
# Any SELECT, whatever its columns (Select is generic over a variadic row type).
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


@dataclass
class Page:
    """A page of a keyset-paginated list."""

    items: list[Any]
    next_cursor: str | None


def encode_cursor(value: Any) -> str:
    """Serialise a JSON value into the opaque string clients pass back."""
    raw = json.dumps(value, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, message: str = BAD_CURSOR) -> object:
    """Parse a cursor made by `encode_cursor`; anything else is `InvalidInput(message)`."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput(message) from exc


def parse_enum(enum_cls: type[E], value: str, name: str) -> E:
    """A query parameter as a member of `enum_cls`, or a 422 naming the allowed values."""
    try:
        return enum_cls(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum_cls)
        raise InvalidInput(f"{name} {value!r} is not one of {allowed}") from exc


def values_cursor(values: tuple[Any, ...]) -> str:
    """A cursor holding a row's sort key (times as ISO 8601, everything else as text)."""
    return encode_cursor([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])


def cursor_values(cursor: str, size: int = 2) -> list[str]:
    """The `size` values of a `values_cursor`."""
    values = decode_cursor(cursor)
    if not isinstance(values, list) or len(values) != size:
        raise InvalidInput(BAD_CURSOR)
    return [str(v) for v in values]


def int_cursor(cursor: str, *, size: int) -> list[int]:
    """The `size` integers of a `values_cursor` over integer columns."""
    try:
        values = [int(v) for v in cursor_values(cursor, size)]
    except ValueError as exc:
        raise InvalidInput(BAD_CURSOR) from exc
    # Integer columns: a bigger number would overflow the database driver, not just miss.
    if any(not 0 <= v < 2**31 for v in values):
        raise InvalidInput(BAD_CURSOR)
    return values


def after_cursor(
    stmt: S,
    created: SQLColumnExpression[datetime],
    ident: SQLColumnExpression[uuid.UUID],
    cursor: str | None,
) -> S:
    """Keyset: rows after a (created desc, id desc) cursor."""
    if not cursor:
        return stmt
    stamp, key = cursor_values(cursor)
    try:
        when = datetime.fromisoformat(stamp)
        key_id = uuid.UUID(key)
    except ValueError as exc:
        raise InvalidInput(BAD_CURSOR) from exc
    if when.tzinfo is None:
        raise InvalidInput(BAD_CURSOR)
    return stmt.where(or_(created < when, and_(created == when, ident < key_id)))


def page_of(rows: list[Any], limit: int, key: Any) -> Page:
    """A page from `limit + 1` fetched rows: the extra row only says there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=values_cursor(key(rows[-1])) if more and rows else None)
