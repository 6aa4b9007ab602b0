"""failed logins, for the per-user and per-address login rate limit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failure_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_login_failure_username_created_at", ["username", "created_at"], unique=False)
        batch_op.create_index(
            "ix_login_failure_client_address_created_at", ["client_address", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_client_address_created_at")
        batch_op.drop_index("ix_login_failure_username_created_at")
        batch_op.drop_index(batch_op.f("ix_login_failure_created_at"))
    op.drop_table("login_failure")
