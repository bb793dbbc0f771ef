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
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        engine.dispose()
