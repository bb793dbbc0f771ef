"""bytes of deleted or replaced plain files count against the quota until they are swept

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 04:30:00

`released_objects`: one row per object a deleted or overwritten plain file left in storage;
the quota counts it, and the nightly maintenance deletes the object and the row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `released_objects`."""
    op.create_table(
        "released_objects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_released_objects_org_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_released_objects")),
    )
    with op.batch_alter_table("released_objects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_released_objects_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    """Drop `released_objects`."""
    with op.batch_alter_table("released_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_released_objects_org_id"))
    op.drop_table("released_objects")
