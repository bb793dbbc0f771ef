"""Alembic revisions for the pool's schema, valid on SQLite and PostgreSQL."""
