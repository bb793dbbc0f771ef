"""organizations choose whether sidecars may publish titles

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:40:00

Off for every organization, existing ones included: a sidecar (written by whoever holds an
FTP login) creates and updates titles as drafts until the organization's admin turns
auto-publish on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `organizations.sidecar_auto_publish` (false)."""
    # A plain ADD COLUMN: a batch copy of `organizations` would have to drop a table that
    # every other table references.
    op.add_column(
        "organizations",
        sa.Column("sidecar_auto_publish", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    """Drop `organizations.sidecar_auto_publish`."""
    # SQLite >= 3.35 drops a column in place.
    op.drop_column("organizations", "sidecar_auto_publish")
