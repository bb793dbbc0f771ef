"""subtitle_tracks: each master's subtitle tracks, the original file and its WebVTT

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:10:00

One row per master and language; a new file for the language replaces the row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `subtitle_tracks`."""
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


def downgrade() -> None:
    """Drop `subtitle_tracks`."""
    with op.batch_alter_table("subtitle_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subtitle_tracks_org_id"))
        batch_op.drop_index(batch_op.f("ix_subtitle_tracks_asset_id"))

    op.drop_table("subtitle_tracks")
