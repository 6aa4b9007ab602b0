"""metric: covering history index, no foreign key checked per point

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00.000000

A history read walks the new index alone: it is ordered as the read is (step, timestamp, then
insertion order) and holds the value, so neither a sort nor a visit to each row is needed.

Postgres checks a foreign key with a trigger per inserted row: on a 1,000-point log-batch that
was 40% of the insert. The service checks the run once per batch instead, and runs are never
hard-deleted (they are archived), so nothing can be orphaned.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("metric", schema=None) as batch_op:
        batch_op.drop_constraint("fk_metric_run_id_run", type_="foreignkey")
        batch_op.drop_index("ix_metric_run_id_key_step")
        batch_op.create_index("ix_metric_history", ["run_id", "key", "step", "timestamp", "id", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metric", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_history")
        batch_op.create_index("ix_metric_run_id_key_step", ["run_id", "key", "step"], unique=False)
        batch_op.create_foreign_key("fk_metric_run_id_run", "run", ["run_id"], ["id"], ondelete="CASCADE")
