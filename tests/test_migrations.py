"""Migrations upgrade an empty database to exactly the models' schema, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pool_core import migrate
from pool_core.db import create_db_engine
from pool_core.models import Base
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
