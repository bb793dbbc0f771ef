"""Migrations upgrade an empty database to exactly the models' schema, on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from pool_core import migrate
from pool_core.db import create_db_engine
from pool_core.models import Base, TitleSearch
from tests.fixtures.database import fresh_database_url


# Alembic cannot reflect SQLite expression indexes and says so; the PostgreSQL-only GIN
# index is checked by name below instead.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_from_empty_matches_models_and_is_idempotent(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(db_backend, tmp_path, request)
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    head = migrate.head_revision()
    assert head is not None and migrate.current_revision(url) == head
    migrate.upgrade(url)  # a second run changes nothing and does not fail
    assert migrate.current_revision(url) == head

    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert set(Base.metadata.tables) <= tables
            if db_backend == "sqlite":
                assert "title_search_fts" in tables  # the FTS5 full-text table
            else:
                indexes = {i["name"] for i in inspect(conn).get_indexes("title_search")}
                assert "ix_title_search_document_fts" in indexes
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": migrate.include_object}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        engine.dispose()


def test_facet_columns_are_backfilled_from_the_per_title_tables(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(db_backend, tmp_path, request)
    migrate.upgrade(url, "0001")
    engine = create_db_engine(url)
    title_id = uuid.uuid4()
    hex_id = title_id.hex if db_backend == "sqlite" else str(title_id)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organizations (id, code, name, country, disabled, created_at) "
                    "VALUES (1, 'kztv', 'KZ', 'KZ', false, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO titles (id, org_id, kind, status, original_title, "
                    "original_language, countries, keywords, contributors, created_at, "
                    "updated_at) VALUES (:id, 1, 'film', 'published', 'Dala', 'kk', '[]', '[]', "
                    "'[]', :now, :now)"
                ),
                {"id": hex_id, "now": now},
            )
            for genre in ("history", "drama"):
                conn.execute(
                    text("INSERT INTO title_genres (title_id, genre) VALUES (:id, :g)"),
                    {"id": hex_id, "g": genre},
                )
            for tag in ("kk-Latn", "kk-Cyrl", "en"):
                conn.execute(
                    text(
                        "INSERT INTO title_localizations (title_id, language, base_language, "
                        "title, synopsis) VALUES (:id, :tag, :base, 'Dala', '')"
                    ),
                    {"id": hex_id, "tag": tag, "base": tag.split("-")[0]},
                )
            conn.execute(
                text(
                    "INSERT INTO title_search (title_id, org_id, kind, status, title_sort, "
                    "title_doc, document, created_at) VALUES (:id, 1, 'film', 'published', "
                    "'dala', 'dala', 'dala', :now)"
                ),
                {"id": hex_id, "now": now},
            )
        migrate.upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(select(TitleSearch.genres, TitleSearch.languages)).one()
        assert row.genres == ["drama", "history"]
        assert row.languages == ["en", "kk"]
    finally:
        engine.dispose()
