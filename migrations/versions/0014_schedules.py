"""schedules: periodic jobs by interval or cron, and the ticks each one claimed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("folded_name", sa.String(length=2048), nullable=False),
        sa.Column("job_type", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=256), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("managed_by", sa.String(length=256), nullable=True),
        sa.Column("run_as", sa.String(length=64), nullable=False),
        sa.Column("run_as_user_id", sa.Integer(), nullable=True),
        sa.Column("next_run_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("last_skip_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
    )
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_folded_name"), ["folded_name"], unique=True)
        batch_op.create_index("ix_schedule_enabled_next_run_at", ["enabled", "next_run_at"], unique=False)
    op.create_table(
        "schedule_tick",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("tick_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_schedule_tick_schedule_id_schedule"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_tick")),
        sa.UniqueConstraint("schedule_id", "tick_at", name=op.f("uq_schedule_tick_schedule_id_tick_at")),
    )


def downgrade() -> None:
    op.drop_table("schedule_tick")
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_enabled_next_run_at")
        batch_op.drop_index(batch_op.f("ix_schedule_folded_name"))
    op.drop_table("schedule")
