"""deployments: named endpoints, their revisions and current routes, and the serving generation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("folded_name", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("track_alias", sa.String(length=64), nullable=True),
        sa.Column("default_strategy", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("current_revision", sa.Integer(), nullable=False),
        sa.Column("route_generation", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_folded_name"), ["folded_name"], unique=True)
        batch_op.create_index(batch_op.f("ix_deployment_route_generation"), ["route_generation"], unique=False)
    op.create_table(
        "deployment_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_revision_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_revision")),
        sa.UniqueConstraint("deployment_id", "revision", name=op.f("uq_deployment_revision_deployment_id_revision")),
    )
    with op.batch_alter_table("deployment_revision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_revision_deployment_id"), ["deployment_id"], unique=False)
    op.create_table(
        "deployment_route",
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_route_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_deployment_route_model_version_id_model_version"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "position", name=op.f("pk_deployment_route")),
    )
    with op.batch_alter_table("deployment_route", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_route_model_version_id"), ["model_version_id"], unique=False)
    generation = op.create_table(
        "serving_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_generation")),
    )
    # The one row every route change bumps, there from the start so a bump is a plain UPDATE.
    op.bulk_insert(generation, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("serving_generation")
    with op.batch_alter_table("deployment_route", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_route_model_version_id"))
    op.drop_table("deployment_route")
    with op.batch_alter_table("deployment_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_revision_deployment_id"))
    op.drop_table("deployment_revision")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_route_generation"))
        batch_op.drop_index(batch_op.f("ix_deployment_folded_name"))
    op.drop_table("deployment")
