"""idempotency keys per user with a request fingerprint; jobs remember their submitter's role

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:30:00.000000

An Idempotency-Key was unique across all users on the job table alone. It now lives in
idempotency_record, unique per (username, key), with the SHA-256 of the request it came with,
so jobs and model version registrations share one mechanism. A job also stores the role its
submitter had, which its handler acts with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("username", "key", name=op.f("uq_idempotency_record_username_key")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_constraint("uq_job_idempotency_key", type_="unique")
        batch_op.add_column(sa.Column("created_by_role", sa.String(length=16), nullable=False, server_default="editor"))
        batch_op.create_index(batch_op.f("ix_job_created_at_id"), ["created_at", "id"], unique=False)


def downgrade() -> None:
    job = sa.table("job", sa.column("idempotency_key", sa.String))
    duplicated = (
        sa.select(job.c.idempotency_key)
        .where(job.c.idempotency_key.is_not(None))
        .group_by(job.c.idempotency_key)
        .having(sa.func.count() > 1)
    )
    # Keys reused by different users cannot be globally unique again: those jobs lose their key.
    op.execute(job.update().where(job.c.idempotency_key.in_(duplicated)).values(idempotency_key=None))
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_created_at_id"))
        batch_op.drop_column("created_by_role")
        batch_op.create_unique_constraint("uq_job_idempotency_key", ["idempotency_key"])
    op.drop_table("idempotency_record")
