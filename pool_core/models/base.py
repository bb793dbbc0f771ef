"""Declarative base and the reusable column types every model shares."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

# Deterministic constraint names so Alembic migrations are the same on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# BIGINT on PostgreSQL but INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(primary_key=True)]
bigintpk = Annotated[int, mapped_column(BigIntPK, primary_key=True)]
uuidpk = Annotated[uuid.UUID, mapped_column(primary_key=True, default=uuid.uuid4)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
timestamp_updated = Annotated[
    datetime, mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
]
optional_timestamp = Annotated[datetime | None, mapped_column(UTCDateTime(), nullable=True)]
json_dict = Annotated[dict[str, Any], mapped_column(JSONType, default=dict)]
str64 = Annotated[str, mapped_column(String(64))]
str255 = Annotated[str, mapped_column(String(255))]
bytesize = Annotated[int, mapped_column(BigInteger, default=0)]


# Not enum.StrEnum: existing rows and JSON payloads rely on this exact behaviour, and the
# switch is not worth a behaviour change in the one base every status enum shares.
class StrEnum(str, enum.Enum):  # noqa: UP042
    """An enum stored by its value, readable in the database and in JSON."""

    def __str__(self) -> str:
        return str(self.value)


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute as is.
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


def enum_column(enum_cls: type[enum.Enum], **kwargs: Any) -> Any:
    """A VARCHAR column holding an enum's value, with a CHECK constraint on both databases."""
    from sqlalchemy import Enum

    return mapped_column(
        Enum(
            enum_cls,
            values_callable=lambda members: [m.value for m in members],
            native_enum=False,
            create_constraint=True,
            length=32,
            validate_strings=True,
        ),
        **kwargs,
    )
