"""title_words_fts: SQLite's index of each title's own words, for ranking

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00

Relevance scores a query word by where it stands in the title's own words. SQLite ranked by
searching each match's title text once per typo variant; this FTS5 table (rowid =
`title_search.id`, the `title_doc` words) turns that into one index lookup per statement.
PostgreSQL ranks as before and has nothing to add.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As at this revision (not imported from the models, which follow the newest schema).
CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS title_words_fts USING fts5("
    "title, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = 'none')"
)
FILL = "INSERT INTO title_words_fts (rowid, title) SELECT id, title_doc FROM title_search"


def upgrade() -> None:
    """Create and fill `title_words_fts` on SQLite."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(CREATE)
    op.execute("DELETE FROM title_words_fts")
    op.execute(FILL)


def downgrade() -> None:
    """Drop `title_words_fts` on SQLite."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS title_words_fts")
