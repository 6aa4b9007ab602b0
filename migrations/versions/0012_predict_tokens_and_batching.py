"""predict-only tokens (a scope and the deployments it names) and per-deployment micro-batching

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("deployments", sa.JSON(), nullable=True))
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_max_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("batch_max_wait_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("batch_max_wait_ms")
        batch_op.drop_column("batch_max_size")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("deployments")
        batch_op.drop_column("scope")
