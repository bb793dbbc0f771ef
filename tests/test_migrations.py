"""Migrations upgrade an empty database to exactly the models' schema, on both backends."""
# Azerbaijani and Turkish episode names (with the dotless i) are test data.
# ruff: noqa: RUF001

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from pool_core import migrate
from pool_core.db import create_db_engine
from pool_core.models import Base, TitleSearch
from pool_core.search.engine import search_titles
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


def test_episode_names_are_indexed_for_existing_titles(
    db_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(db_backend, tmp_path, request)
    migrate.upgrade(url, "0002")
    engine = create_db_engine(url)
    title_id, episode_id = uuid.uuid4(), uuid.uuid4()

    def key(value: uuid.UUID) -> str:
        return value.hex if db_backend == "sqlite" else str(value)

    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organizations (id, code, name, country, disabled, created_at) "
                    "VALUES (1, 'aztv', 'AZ', 'AZ', false, :now)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO titles (id, org_id, kind, status, original_title, "
                    "original_language, countries, keywords, contributors, created_at, "
                    "updated_at) VALUES (:id, 1, 'serial', 'published', 'Dədə Qorqud', 'az', "
                    "'[]', '[]', '[]', :now, :now)"
                ),
                {"id": key(title_id), "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO episodes (id, title_id, season_number, number, name, "
                    "localizations, created_at, updated_at) VALUES (:id, :title, 1, 1, "
                    "'Bamsı Beyrək', :locs, :now, :now)"
                ),
                {
                    "id": key(episode_id),
                    "title": key(title_id),
                    "locs": '{"tr": {"title": "Bamsı Beyrek ve Banıçiçek", "synopsis": ""}}',
                    "now": now,
                },
            )
            # The row as index_title wrote it before episodes were indexed.
            conn.execute(
                text(
                    "INSERT INTO title_search (title_id, org_id, kind, status, title_sort, "
                    "title_doc, document, genres, languages, created_at) VALUES (:id, 1, "
                    "'serial', 'published', 'dede qorqud', 'dede qorqud', 'dede qorqud', '[]', "
                    "'[]', :now)"
                ),
                {"id": key(title_id), "now": now},
            )
            if db_backend == "sqlite":
                conn.execute(
                    text(
                        "INSERT INTO title_search_fts (rowid, document) "
                        "SELECT id, document FROM title_search"
                    )
                )
        migrate.upgrade(url)
        with Session(engine) as session:
            for query in ("Bamsı", "Banıçiçek", "Qorqud"):
                page = search_titles(session, viewer_org_id=1, query=query)
                assert [hit.title.id for hit in page.hits] == [title_id], query
            page = search_titles(session, viewer_org_id=1, query="banicicek")
            assert [e.id for e in page.hits[0].episodes] == [episode_id]
            # The typo vocabulary learned the episode's words too.
            page = search_titles(session, viewer_org_id=1, query="Beyrak")
            assert [hit.title.id for hit in page.hits] == [title_id]
    finally:
        engine.dispose()
