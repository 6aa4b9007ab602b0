"""latest metric values may be NaN, stored as NULL

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:30:00.000000

A run's latest value of a metric may be NaN (a diverging loss). SQLite stores no NaN (it binds
one as NULL), so `latest_metric.value` becomes nullable and NULL means NaN on both databases;
the history in `metric_chunk` keeps the NaN itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("latest_metric") as batch:
        batch.alter_column("value", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE latest_metric SET value = 'NaN' WHERE value IS NULL")
    else:
        # SQLite has no NaN to put back: drop those latest values (their history stays in
        # metric_chunk), which only leaves those runs out of metric searches.
        op.execute("DELETE FROM latest_metric WHERE value IS NULL")
    with op.batch_alter_table("latest_metric") as batch:
        batch.alter_column("value", existing_type=sa.Float(), nullable=False)
