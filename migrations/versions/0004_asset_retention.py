"""masters leave storage after a retention period: assets.retired_at and assets.purged_at

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:00:00

`retired_at`: when the last file entry of the master went away (deleted, or replaced by a
newer version); the nightly job purges its bytes once the retention period has passed.
`purged_at`: when its master and renditions were deleted from storage (the row stays, for
the catalog history and the delivery log).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_assets_retired_at"), ["retired_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assets_retired_at"))
        batch_op.drop_column("purged_at")
        batch_op.drop_column("retired_at")
