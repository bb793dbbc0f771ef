"""The programme catalog: titles, seasons, episodes, localizations, asset links, search index."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    DDL,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pool_core.models.accounts import Organization
from pool_core.models.base import (
    Base,
    JSONType,
    StrEnum,
    enum_column,
    intpk,
    timestamp,
    timestamp_updated,
    uuidpk,
)

# Byte-wise ordering on PostgreSQL so sorting by title is the same as on SQLite (BINARY).
SortableText = String(512).with_variant(String(512, collation="C"), "postgresql")
# Folded search terms are plain [a-z0-9]; "C" keeps range scans and ordering byte-wise.
TermText = String(64).with_variant(String(64, collation="C"), "postgresql")


class TitleKind(StrEnum):
    """What sort of programme a title is."""

    SERIAL = "serial"
    DOCUMENTARY = "documentary"
    FILM = "film"
    NEWS = "news"
    PROGRAMME = "programme"


class TitleStatus(StrEnum):
    """Drafts are visible to their owner only; published titles to every member."""

    DRAFT = "draft"
    PUBLISHED = "published"


def title_visible(status: str, *, owner_org_id: int, viewer_org_id: int) -> bool:
    """Who may see a title: every member when it is published, its owner always.

    The one rule, in Python; queries say it in SQL (`catalog.titles._visible`,
    `search.statements.visible`, and for assets `catalog.assets.visible_assets`).
    `test_every_reader_of_a_title_follows_the_one_visibility_rule` holds a title's page, the
    catalog lookup, the rights check and search to it.
    """
    return status == TitleStatus.PUBLISHED or owner_org_id == viewer_org_id


class MetadataState(StrEnum):
    """How far a master's catalog metadata has got."""

    NEEDS_METADATA = "needs_metadata"
    PENDING = "pending"
    LINKED = "linked"
    INVALID = "invalid"


class Title(Base):
    """A programme one organization offers: serial, documentary, film, news or programme."""

    __tablename__ = "titles"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: Mapped[uuidpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The owner's own identifier (house number), the key sidecars update a title by.
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    kind: Mapped[TitleKind] = enum_column(TitleKind)
    status: Mapped[TitleStatus] = enum_column(TitleStatus, default=TitleStatus.PUBLISHED)
    original_title: Mapped[str] = mapped_column(String(512))
    original_language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    production_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    countries: Mapped[list[str]] = mapped_column(JSONType, default=list)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    age_rating: Mapped[str | None] = mapped_column(String(16), nullable=True)
    eidr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    isan: Mapped[str | None] = mapped_column(String(64), nullable=True)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    contributors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    rights_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]

    localizations: Mapped[list[TitleLocalization]] = relationship(
        cascade="all, delete-orphan",
        order_by="TitleLocalization.language",
    )
    genre_rows: Mapped[list[TitleGenre]] = relationship(
        cascade="all, delete-orphan", order_by="TitleGenre.genre"
    )
    seasons: Mapped[list[Season]] = relationship(
        cascade="all, delete-orphan", order_by="Season.number"
    )
    # Loaded with the title: every view of a title names its owner.
    owner: Mapped[Organization] = relationship(lazy="joined", innerjoin=True, viewonly=True)

    @property
    def genres(self) -> list[str]:
        """The title's genres, sorted."""
        return [row.genre for row in self.genre_rows]


class TitleLocalization(Base):
    """Title and synopsis in one language and script, keyed by a BCP 47 tag (`kk-Cyrl`)."""

    __tablename__ = "title_localizations"
    __table_args__ = (UniqueConstraint("title_id", "language"),)

    id: Mapped[intpk]
    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("titles.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(35))
    # The primary language subtag (`kk` for `kk-Cyrl`), what the language facet counts.
    base_language: Mapped[str] = mapped_column(String(8), index=True)
    title: Mapped[str] = mapped_column(String(512))
    synopsis: Mapped[str] = mapped_column(Text, default="")


class TitleGenre(Base):
    """One genre (from the controlled list) of a title."""

    __tablename__ = "title_genres"

    title_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True
    )
    genre: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Season(Base):
    """A numbered season of a serial."""

    __tablename__ = "seasons"
    __table_args__ = (UniqueConstraint("title_id", "number"),)

    id: Mapped[intpk]
    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("titles.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512), default="")


class Episode(Base):
    """An episode of a title, optionally inside a season."""

    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("title_id", "season_number", "number"),
        Index("ix_episodes_title_order", "title_id", "season_number", "number"),
    )

    id: Mapped[uuidpk]
    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("titles.id", ondelete="CASCADE"))
    # 0 for titles without seasons, so the unique constraint also holds there.
    season_number: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512), default="")
    # {"kk-Cyrl": {"title": ..., "synopsis": ...}}; the names (own and localized) are searched
    # as part of the title's search document.
    localizations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp_updated]


class AssetCatalog(Base):
    """The catalog side of a master: what it belongs to and how its sidecar fared."""

    __tablename__ = "asset_catalog"

    asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    title_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("titles.id", ondelete="SET NULL"), nullable=True, index=True
    )
    episode_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("episodes.id", ondelete="SET NULL"), nullable=True, index=True
    )
    state: Mapped[MetadataState] = enum_column(MetadataState, default=MetadataState.NEEDS_METADATA)
    # The readable reason a sidecar was refused, shown on the asset and in `<name>.errors.txt`.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[timestamp_updated]


class TitleSearch(Base):
    """One denormalised search row per title: folded text plus the facet columns.

    `document` and `title_doc` hold only space-separated `[a-z0-9]+` terms produced by
    `pool_core.search.normalize`, so SQLite's FTS5 and PostgreSQL's tsvector see exactly the
    same words and both databases return the same results.
    """

    __tablename__ = "title_search"

    # An integer key: it is the FTS5 rowid on SQLite.
    id: Mapped[intpk]
    title_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("titles.id", ondelete="CASCADE"), unique=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    production_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title_sort: Mapped[str] = mapped_column(SortableText)
    title_doc: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)
    # Copies of the title's genres and base languages (sorted JSON arrays), so facet counts
    # read only the matched rows instead of joining two per-title tables for every match.
    genres: Mapped[list[str]] = mapped_column(JSONType, server_default=text("'[]'"))
    languages: Mapped[list[str]] = mapped_column(JSONType, server_default=text("'[]'"))
    created_at: Mapped[timestamp]

    __table_args__ = (
        Index("ix_title_search_created", "created_at", "id"),
        Index("ix_title_search_sort", "title_sort", "title_id"),
        # The full-text index on PostgreSQL: the stored terms verbatim, no parser involved.
        Index(
            "ix_title_search_document_fts",
            func.array_to_tsvector(func.string_to_array(text("document"), text("' '"))),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
    )


class SearchTerm(Base):
    """The vocabulary of indexed terms, for typo-tolerant query expansion."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(TermText, primary_key=True)


class SearchTermDeletion(Base):
    """A term with one character deleted (SymSpell), so one-typo neighbours are one lookup."""

    __tablename__ = "search_term_deletions"

    variant: Mapped[str] = mapped_column(TermText, primary_key=True)
    term: Mapped[str] = mapped_column(TermText, primary_key=True)


# SQLite's full-text index: FTS5 tables whose rowid is `title_search.id`. FTS5 is built into
# the SQLite shipped with CPython; the tokenizer sees only [a-z0-9] words separated by spaces.
# `title_search_fts` holds every searchable word (what matches); `title_words_fts` only the
# title's own words, which relevance ranks by (see `search.backends`).
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS title_search_fts USING fts5("
    "document, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = 'column')"
)
SQLITE_TITLE_WORDS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS title_words_fts USING fts5("
    "title, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = 'none')"
)
# Each table: the statement creating it and the one filling it from `title_search`.
SQLITE_FTS_TABLES = {
    "title_search_fts": (
        SQLITE_FTS_DDL,
        "INSERT INTO title_search_fts (rowid, document) SELECT id, document FROM title_search",
    ),
    "title_words_fts": (
        SQLITE_TITLE_WORDS_DDL,
        "INSERT INTO title_words_fts (rowid, title) SELECT id, title_doc FROM title_search",
    ),
}
for _name, (_create, _fill) in SQLITE_FTS_TABLES.items():
    event.listen(
        TitleSearch.__table__,
        "after_create",
        DDL(_create).execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
    )
    event.listen(
        TitleSearch.__table__,
        "before_drop",
        DDL(f"DROP TABLE IF EXISTS {_name}").execute_if(  # type: ignore[no-untyped-call]
            dialect="sqlite"
        ),
    )
