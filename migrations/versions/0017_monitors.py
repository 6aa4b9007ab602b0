"""monitors: one per deployment (its drift check's schedule, window and actions), and the actions
each drift report set off

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-11 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("schedule_name", sa.String(length=256), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(length=256), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("alert_url", sa.String(length=2048), nullable=True),
        sa.Column("alert_secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployment.id"], name=op.f("fk_monitor_deployment_id_deployment"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_monitor_deployment_id")),
    )
    op.create_table(
        "monitor_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["drift_report.id"],
            name=op.f("fk_monitor_action_report_id_drift_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_action")),
        sa.UniqueConstraint("report_id", "action", "event", name=op.f("uq_monitor_action_report_id_action_event")),
    )
    with op.batch_alter_table("monitor_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitor_action_report_id"), ["report_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_action_report_id"))
    op.drop_table("monitor_action")
    op.drop_table("monitor")
