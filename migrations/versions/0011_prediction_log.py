"""prediction log: the Parquet segment index, feedback, and a deployment's own sample rate

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_sample_rate", sa.Float(), nullable=True))
    op.create_table(
        "prediction_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("first_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_prediction_segment_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_segment")),
        sa.UniqueConstraint("key", name=op.f("uq_prediction_segment_key")),
    )
    with op.batch_alter_table("prediction_segment", schema=None) as batch_op:
        batch_op.create_index("ix_prediction_segment_deployment_id_last_at", ["deployment_id", "last_at"], unique=False)
        batch_op.create_index(
            "ix_prediction_segment_model_version_id_last_at", ["model_version_id", "last_at"], unique=False
        )
    op.create_table(
        "prediction_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.String(length=64), nullable=False),
        sa.Column("actual", sa.JSON(), nullable=False),
        sa.Column("received_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_prediction_feedback_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_feedback")),
        sa.UniqueConstraint(
            "deployment_id", "prediction_id", name=op.f("uq_prediction_feedback_deployment_id_prediction_id")
        ),
    )
    with op.batch_alter_table("prediction_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_feedback_deployment_id_received_at", ["deployment_id", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_feedback_deployment_id_received_at")
    op.drop_table("prediction_feedback")
    with op.batch_alter_table("prediction_segment", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_segment_model_version_id_last_at")
        batch_op.drop_index("ix_prediction_segment_deployment_id_last_at")
    op.drop_table("prediction_segment")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("log_sample_rate")
