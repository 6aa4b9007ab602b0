"""drift reports: one row per drift_check job, with the report body

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("window_start", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("current_rows", sa.Integer(), nullable=False),
        sa.Column("reference_rows", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("preset", sa.String(length=32), nullable=False),
        sa.Column("drift_detected", sa.Boolean(), nullable=False),
        sa.Column("drifted_share", sa.Float(), nullable=False),
        sa.Column("decay_detected", sa.Boolean(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_drift_report_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_report")),
        sa.UniqueConstraint("job_id", name=op.f("uq_drift_report_job_id")),
    )
    with op.batch_alter_table("drift_report", schema=None) as batch_op:
        batch_op.create_index("ix_drift_report_deployment_id_id", ["deployment_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_report", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_report_deployment_id_id")
    op.drop_table("drift_report")
