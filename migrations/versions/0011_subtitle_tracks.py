"""subtitle_tracks: each master's subtitle tracks (original and WebVTT) and their cues

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:10:00

One row per master and language; a new file for the language replaces the row. Each cue is
a row of `subtitle_cues` with its text folded for search, indexed by FTS5 on SQLite
(`subtitle_cues_fts`, rowid = the cue's id) and by a GIN expression index on PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As at this revision (not imported from the models, which follow the newest schema).
CUES_FTS = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS subtitle_cues_fts USING fts5("
    "terms, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3', detail = 'none')"
)
CUES_GIN = (
    "CREATE INDEX IF NOT EXISTS ix_subtitle_cues_terms_fts ON subtitle_cues "
    "USING gin (array_to_tsvector(string_to_array(terms, ' '))) WITH (fastupdate = off)"
)


def upgrade() -> None:
    """Create `subtitle_tracks` and `subtitle_cues` with its full-text index."""
    op.create_table(
        "subtitle_tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("original_key", sa.String(length=1024), nullable=False),
        sa.Column("original_size", sa.BigInteger(), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("vtt_key", sa.String(length=1024), nullable=False),
        sa.Column("vtt_size", sa.BigInteger(), nullable=False),
        sa.Column("vtt_sha256", sa.String(length=64), nullable=False),
        sa.Column("encoding", sa.String(length=64), nullable=False),
        sa.Column("frame_rate", sa.Float(), nullable=True),
        sa.Column("cue_count", sa.Integer(), nullable=False),
        sa.Column("first_cue_start", sa.Float(), nullable=False),
        sa.Column("last_cue_end", sa.Float(), nullable=False),
        sa.Column(
            "findings", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_subtitle_tracks_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_subtitle_tracks_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_subtitle_tracks_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subtitle_tracks")),
        sa.UniqueConstraint(
            "asset_id", "language", name=op.f("uq_subtitle_tracks_asset_id_language")
        ),
    )
    with op.batch_alter_table("subtitle_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subtitle_tracks_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subtitle_tracks_org_id"), ["org_id"], unique=False)
    op.create_table(
        "subtitle_cues",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
            name=op.f("fk_subtitle_cues_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["subtitle_tracks.id"],
            name=op.f("fk_subtitle_cues_track_id_subtitle_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subtitle_cues")),
    )
    op.create_index(
        "ix_subtitle_cues_asset_start", "subtitle_cues", ["asset_id", "start"], unique=False
    )
    op.create_index(op.f("ix_subtitle_cues_track_id"), "subtitle_cues", ["track_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(CUES_FTS)
    else:
        op.execute(CUES_GIN)


def downgrade() -> None:
    """Drop `subtitle_cues` (and its full-text index) and `subtitle_tracks`."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS subtitle_cues_fts")
    op.drop_table("subtitle_cues")
    with op.batch_alter_table("subtitle_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subtitle_tracks_org_id"))
        batch_op.drop_index(batch_op.f("ix_subtitle_tracks_asset_id"))

    op.drop_table("subtitle_tracks")
