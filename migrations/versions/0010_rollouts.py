"""rollouts: rollout rows, serving statistics and replica heartbeats

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "serving_replica",
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("seen_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("replica", name=op.f("pk_serving_replica")),
    )
    with op.batch_alter_table("serving_replica", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serving_replica_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "serving_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=2048), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=128), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency_buckets", sa.JSON(), nullable=False),
        sa.Column("shadow_compared", sa.Integer(), nullable=False),
        sa.Column("shadow_agreed", sa.Integer(), nullable=False),
        sa.Column("shadow_dropped", sa.Integer(), nullable=False),
        sa.Column("flushed_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_stats")),
    )
    with op.batch_alter_table("serving_stats", schema=None) as batch_op:
        batch_op.create_index("ix_serving_stats_deployment_revision", ["deployment", "revision"], unique=False)

    op.create_table(
        "rollout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("active_deployment_id", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("primary_version_id", sa.Integer(), nullable=False),
        sa.Column("candidate_version_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("primary_version", sa.Integer(), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("step_revision", sa.Integer(), nullable=False),
        sa.Column("step_generation", sa.Integer(), nullable=False),
        sa.Column("step_entered_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("step_started_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("base_revision", sa.Integer(), nullable=False),
        sa.Column("final_revision", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployment.id"], name=op.f("fk_rollout_deployment_id_deployment"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout")),
        sa.UniqueConstraint("active_deployment_id", name=op.f("uq_rollout_active_deployment_id")),
    )
    with op.batch_alter_table("rollout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollout_deployment_id"), ["deployment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rollout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollout_deployment_id"))

    op.drop_table("rollout")
    with op.batch_alter_table("serving_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_serving_stats_deployment_revision")

    op.drop_table("serving_stats")
    with op.batch_alter_table("serving_replica", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_replica_seen_at"))

    op.drop_table("serving_replica")
