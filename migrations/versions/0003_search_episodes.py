"""search documents include episode names and their localizations

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:40:00

No schema change: the search row of every title that has episodes is rebuilt so its
document holds the episode names, as `pool_core.search.engine.index_title` now writes it.
The rows are read with plain table constructs (not the ORM models, which may describe a
later schema); the document is built by the same function the application uses.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from pool_core.search.engine import document_of
from pool_core.search.episodes import episode_names
from pool_core.search.typos import add_to_vocabulary

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

titles = sa.table(
    "titles",
    sa.column("id", sa.Uuid()),
    sa.column("original_title", sa.String()),
    sa.column("keywords", sa.JSON()),
    sa.column("contributors", sa.JSON()),
    sa.column("external_id", sa.String()),
)
localizations = sa.table(
    "title_localizations",
    sa.column("title_id", sa.Uuid()),
    sa.column("language", sa.String()),
    sa.column("title", sa.String()),
    sa.column("synopsis", sa.Text()),
)
episodes = sa.table(
    "episodes",
    sa.column("title_id", sa.Uuid()),
    sa.column("season_number", sa.Integer()),
    sa.column("number", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("localizations", sa.JSON()),
)
title_search = sa.table(
    "title_search",
    sa.column("id", sa.Integer()),
    sa.column("title_id", sa.Uuid()),
    sa.column("title_sort", sa.String()),
    sa.column("title_doc", sa.Text()),
    sa.column("document", sa.Text()),
)


def _reindex(session: Session, title: Any) -> None:
    search_id = session.scalar(
        sa.select(title_search.c.id).where(title_search.c.title_id == title.id)
    )
    if search_id is None:
        return
    locs = session.execute(
        sa.select(localizations.c.title, localizations.c.synopsis)
        .where(localizations.c.title_id == title.id)
        .order_by(localizations.c.language)
    ).all()
    names = [
        text
        for ep in session.execute(
            sa.select(episodes.c.name, episodes.c.localizations)
            .where(episodes.c.title_id == title.id)
            .order_by(episodes.c.season_number, episodes.c.number)
        )
        for _, text in episode_names(ep.name or "", ep.localizations or {})
    ]
    built = document_of(
        original_title=title.original_title,
        localizations=[(loc.title, loc.synopsis or "") for loc in locs],
        keywords=title.keywords or [],
        contributor_names=[str(c.get("name", "")) for c in title.contributors or []],
        external_id=title.external_id,
        episode_names=names,
    )
    session.execute(
        title_search.update()
        .where(title_search.c.id == search_id)
        .values(title_sort=built.title_sort, title_doc=built.title_doc, document=built.document)
    )
    if session.get_bind().dialect.name == "sqlite":
        # The FTS5 table as it was at this revision (the backend's `index` writes the tables
        # of the newest schema, which do not exist yet here).
        values = {"id": search_id, "doc": built.document}
        session.execute(sa.text("DELETE FROM title_search_fts WHERE rowid = :id"), values)
        session.execute(
            sa.text("INSERT INTO title_search_fts (rowid, document) VALUES (:id, :doc)"), values
        )
    add_to_vocabulary(session, built.document.split())


def upgrade() -> None:
    """Apply this revision."""
    session = Session(bind=op.get_bind())
    with_episodes = sa.select(episodes.c.title_id).distinct()
    for title in session.execute(sa.select(titles).where(titles.c.id.in_(with_episodes))).all():
        _reindex(session, title)
    session.flush()


def downgrade() -> None:
    """Revert this revision: nothing to undo, a document with more words is still valid."""
