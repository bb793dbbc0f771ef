"""The two full-text backends: SQLite FTS5 and PostgreSQL tsvector (GIN).

Both index the same pre-folded `[a-z0-9]` terms and receive the same parsed query (a list of
term groups: a prefix plus its typo variants), so they match exactly the same titles. Neither
needs an extension: FTS5 is compiled into CPython's SQLite, and PostgreSQL builds the vector
with `array_to_tsvector`, bypassing its text parser and dictionaries entirely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Engine,
    bindparam,
    column,
    func,
    inspect,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import cast
from sqlalchemy.sql.selectable import TableValuedAlias

from pool_core.models import TitleSearch
from pool_core.models.catalog import SQLITE_FTS_TABLES


@dataclass(frozen=True)
class TermGroup:
    """One query word: matched as a prefix, or as any of its one-typo variants."""

    term: str
    variants: tuple[str, ...] = ()


class SearchBackend(Protocol):
    """How one database indexes folded documents and matches term groups."""

    def index(self, session: Session, *, row_id: int, document: str, title_doc: str) -> None:
        """Put (or replace) a document and its title words in the full-text index."""

    def remove(self, session: Session, *, row_id: int) -> None:
        """Take a document out of the full-text index."""

    def query_text(self, groups: list[TermGroup]) -> str:
        """The full-text query (the value `matches` is given) for the AND of the groups."""

    def matches(self, query: Any) -> ColumnElement[bool]:
        """A condition on `TitleSearch` true for rows matching `query` (a `query_text`)."""

    def contains(self, term: str) -> ColumnElement[bool]:
        """A condition on `TitleSearch` true for rows whose document has `term` as a word."""

    def contains_column(self, term: Any) -> ColumnElement[bool]:
        """`contains` for a term given by a SQL expression (a column of an outer query)."""

    def rebuild(self, session: Session) -> None:
        """Rebuild the full-text index from `title_search` (after bulk loads or repairs)."""

    def elements(self, column: Any) -> TableValuedAlias:
        """A table-valued FROM item with one `value` row per element of a JSON array column."""

    def title_tiers(self, n: int, variants: int) -> list[tuple[ColumnElement[bool], int]]:
        """The relevance of query word `n` among a title's own words, best first.

        `(condition, score)`: the word is a title word (4), starts one (3), or one of its
        `variants` typo variants is one (2); the statement's CASE takes the first that holds.
        """

    def title_tier_values(self, n: int, group: TermGroup) -> dict[str, Any]:
        """The bind parameters of `title_tiers` for query word `n`."""


class SqliteFtsBackend:
    """FTS5 in two side tables whose rowid is `title_search.id` (`SQLITE_FTS_TABLES`)."""

    def index(self, session: Session, *, row_id: int, document: str, title_doc: str) -> None:
        """Put (or replace) a document in the FTS5 table and its title words in theirs."""
        self.remove(session, row_id=row_id)
        values = {"id": row_id, "doc": document, "title": title_doc}
        session.execute(
            text("INSERT INTO title_search_fts (rowid, document) VALUES (:id, :doc)"), values
        )
        session.execute(
            text("INSERT INTO title_words_fts (rowid, title) VALUES (:id, :title)"), values
        )

    def remove(self, session: Session, *, row_id: int) -> None:
        """Take a document out of both FTS5 tables."""
        for name in SQLITE_FTS_TABLES:
            session.execute(text(f"DELETE FROM {name} WHERE rowid = :id"), {"id": row_id})

    def rebuild(self, session: Session) -> None:
        """Refill both FTS5 tables from `title_search`, one statement each."""
        for name, (_, fill) in SQLITE_FTS_TABLES.items():
            session.execute(text(f"DELETE FROM {name}"))
            session.execute(text(fill))

    def query_text(self, groups: list[TermGroup]) -> str:
        """FTS5's syntax: `("term"* OR "variant") AND (...)`."""
        return " AND ".join(
            "(" + " OR ".join([f'"{g.term}"*', *(f'"{v}"' for v in g.variants)]) + ")"
            for g in groups
        )

    def matches(self, query: Any) -> ColumnElement[bool]:
        """`id IN (rowids FTS5 matches)`."""
        return self._matched_by(query)

    def contains(self, term: str) -> ColumnElement[bool]:
        """`id IN (rowids holding the exact token)`; an anonymous bind, so several combine."""
        return self._matched_by(literal(f'"{term}"'))

    def contains_column(self, term: Any) -> ColumnElement[bool]:
        """`id IN (rowids holding the token the expression names)`, per outer row."""
        return self._matched_by(literal('"') + term + literal('"'))

    @staticmethod
    def _matched_by(query: Any, fts_table: str = "title_search_fts") -> ColumnElement[bool]:
        fts = table(fts_table, column("rowid"))
        matching = (
            select(fts.c.rowid)
            .where(literal_column(fts_table).op("MATCH")(query))
            # A query naming an outer column (`contains_column`) correlates to it, however
            # deep this is nested.
            .correlate_except(fts)
        )
        return TitleSearch.id.in_(matching)

    def elements(self, column: Any) -> TableValuedAlias:
        """`json_each(column)`, whose `value` column is the element."""
        return func.json_each(column).table_valued("value")

    def title_tiers(self, n: int, variants: int) -> list[tuple[ColumnElement[bool], int]]:
        """Membership in the title-words index's matches, one lookup per tier and query.

        SQLite builds each uncorrelated `IN (...)` set once per statement, so a match costs a
        set probe per tier instead of a string search per variant: ranking `dami` (2,009
        matches, 8 typo variants) took 11-20 ms with `instr` over each title's words and
        6-8 ms this way (bench/search.py's catalog).
        """
        tiers = [
            (self._matched_by(bindparam(f"title_word_{n}"), "title_words_fts"), 4),
            (self._matched_by(bindparam(f"title_prefix_{n}"), "title_words_fts"), 3),
        ]
        if variants:
            tiers.append((self._matched_by(bindparam(f"title_variants_{n}"), "title_words_fts"), 2))
        return tiers

    def title_tier_values(self, n: int, group: TermGroup) -> dict[str, Any]:
        """FTS5 queries: the word, the word as a prefix, any of its variants."""
        values = {f"title_word_{n}": f'"{group.term}"', f"title_prefix_{n}": f'"{group.term}"*'}
        if group.variants:
            values[f"title_variants_{n}"] = " OR ".join(f'"{v}"' for v in group.variants)
        return values


class PostgresFtsBackend:
    """A GIN index over `array_to_tsvector(string_to_array(document, ' '))`."""

    def index(self, session: Session, *, row_id: int, document: str, title_doc: str) -> None:
        """Nothing to do: the expression index follows the row."""

    def remove(self, session: Session, *, row_id: int) -> None:
        """Nothing to do: the expression index follows the row."""

    def rebuild(self, session: Session) -> None:
        """Reindex the GIN expression index."""
        session.execute(text("REINDEX INDEX ix_title_search_document_fts"))

    def query_text(self, groups: list[TermGroup]) -> str:
        """A tsquery: `('term':* | 'variant') & (...)`."""
        return " & ".join(
            "(" + " | ".join([f"'{g.term}':*", *(f"'{v}'" for v in g.variants)]) + ")"
            for g in groups
        )

    def matches(self, query: Any) -> ColumnElement[bool]:
        """`vector @@ query::tsquery`, using the GIN index."""
        return self._vector().op("@@")(cast(query, TSQUERY))

    def contains(self, term: str) -> ColumnElement[bool]:
        """`vector @@ 'term'` (an exact lexeme, no prefix), using the GIN index."""
        return self._vector().op("@@")(cast(literal(f"'{term}'"), TSQUERY))

    @staticmethod
    def _vector() -> ColumnElement[Any]:
        # The expression of the GIN index, with a literal separator (not a bound parameter)
        # so the planner matches the index.
        return func.array_to_tsvector(
            func.string_to_array(TitleSearch.document, literal_column("' '"))
        )

    def contains_column(self, term: Any) -> ColumnElement[bool]:
        """`vector @@ quote_literal(term)::tsquery`: the exact lexeme, per outer row."""
        return self._vector().op("@@")(cast(func.quote_literal(term), TSQUERY))

    def elements(self, column: Any) -> TableValuedAlias:
        """`jsonb_array_elements_text(column) AS x(value)`."""
        return func.jsonb_array_elements_text(column).table_valued("value").render_derived()

    def title_tiers(self, n: int, variants: int) -> list[tuple[ColumnElement[bool], int]]:
        """`strpos` over the title's words padded with spaces (as fast as LIKE here).

        Terms are folded to `[a-z0-9]` and separated by one space, so " term " is a whole
        word and " term" a word's start.
        """
        padded = literal(" ") + TitleSearch.title_doc + literal(" ")

        def held(name: str) -> ColumnElement[bool]:
            return func.strpos(padded, bindparam(name)) > 0

        return [
            (held(f"word_{n}"), 4),
            (held(f"prefix_{n}"), 3),
            *((held(f"variant_{n}_{k}"), 2) for k in range(variants)),
        ]

    def title_tier_values(self, n: int, group: TermGroup) -> dict[str, Any]:
        """The padded strings `title_tiers` looks for."""
        values = {f"word_{n}": f" {group.term} ", f"prefix_{n}": f" {group.term}"}
        values.update({f"variant_{n}_{k}": f" {v} " for k, v in enumerate(group.variants)})
        return values


def backend_for(session: Session) -> SearchBackend:
    """The backend for the database this session talks to."""
    return backend_named(session.get_bind().dialect.name)


def backend_named(dialect: str) -> SearchBackend:
    """The backend for a SQLAlchemy dialect name."""
    if dialect == "postgresql":
        return PostgresFtsBackend()
    return SqliteFtsBackend()


def ensure_search_schema(engine: Engine) -> None:
    """Create the full-text index when the schema lacks it (idempotent, cheap when present).

    `Base.metadata.create_all` makes it through DDL events; a schema built by migrations
    that predate or omit it is repaired here, and an FTS5 table created late is filled.
    """
    with engine.begin() as conn:
        if "title_search" not in inspect(conn).get_table_names():
            return
        if engine.dialect.name == "sqlite":
            for name, (create, fill) in SQLITE_FTS_TABLES.items():
                exists = conn.execute(
                    text("SELECT 1 FROM sqlite_master WHERE name = :name"), {"name": name}
                ).first()
                if exists is None:
                    conn.exec_driver_sql(create)
                    conn.exec_driver_sql(fill)
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE INDEX IF NOT EXISTS ix_title_search_document_fts ON title_search "
                "USING gin (array_to_tsvector(string_to_array(document, ' ')))"
            )
