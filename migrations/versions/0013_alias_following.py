"""alias following: the alias version a deployment last acted on, and what came of it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followed_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("follow_status", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("follow_status")
        batch_op.drop_column("followed_version_id")
