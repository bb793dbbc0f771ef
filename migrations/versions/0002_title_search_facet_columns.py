"""title_search keeps genres and languages for facet counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Existing rows get their copies from the per-title tables, sorted and without duplicates,
# exactly as `pool_core.search.engine.index_title` writes them.
BACKFILL = {
    "sqlite": """
        UPDATE title_search SET
          genres = (SELECT json_group_array(genre) FROM (
                      SELECT genre FROM title_genres g
                      WHERE g.title_id = title_search.title_id ORDER BY genre)),
          languages = (SELECT json_group_array(base_language) FROM (
                      SELECT DISTINCT base_language FROM title_localizations l
                      WHERE l.title_id = title_search.title_id ORDER BY base_language))
    """,
    "postgresql": """
        UPDATE title_search s SET
          genres = coalesce((SELECT jsonb_agg(genre ORDER BY genre) FROM title_genres g
                             WHERE g.title_id = s.title_id), '[]'::jsonb),
          languages = coalesce((SELECT jsonb_agg(DISTINCT base_language ORDER BY base_language)
                                FROM title_localizations l WHERE l.title_id = s.title_id),
                               '[]'::jsonb)
    """,
}


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "title_search", sa.Column("genres", JSON, server_default=sa.text("'[]'"), nullable=False)
    )
    op.add_column(
        "title_search",
        sa.Column("languages", JSON, server_default=sa.text("'[]'"), nullable=False),
    )
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("title_search", schema=None) as batch_op:
        batch_op.drop_column("languages")
        batch_op.drop_column("genres")
