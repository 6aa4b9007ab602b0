"""metric points packed in chunks, one row per metric per log-batch

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:30:00.000000

A row per point cost Postgres a heap tuple, two index entries and a foreign-key check per
point. Points now travel as packed (step, value, timestamp) records, one row per metric per
batch (see app.db.tables.tracking.MetricChunk); existing points are moved over in order.
"""

import struct
from collections.abc import Iterator, Sequence
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POINT = struct.Struct("<qdq")
CHUNK = 1000


def _chunk_table() -> sa.Table:
    return sa.table(
        "metric_chunk",
        sa.column("id", sa.BigInteger),
        sa.column("run_id", sa.String),
        sa.column("key", sa.String),
        sa.column("points", sa.LargeBinary),
    )


def _point_table() -> sa.Table:
    return sa.table(
        "metric",
        sa.column("id", sa.BigInteger),
        sa.column("run_id", sa.String),
        sa.column("key", sa.String),
        sa.column("value", sa.Float),
        sa.column("step", sa.BigInteger),
        sa.column("timestamp", sa.BigInteger),
    )


def _chunks(rows: Iterator[sa.Row]) -> Iterator[dict[str, object]]:
    """Rows sorted by run, key, step, timestamp and id, as chunks of at most CHUNK points."""
    for (run_id, key), series in groupby(rows, key=lambda row: (row.run_id, row.key)):
        points = [(row.step, row.value, row.timestamp) for row in series]
        for start in range(0, len(points), CHUNK):
            part = points[start : start + CHUNK]
            packed = b"".join(POINT.pack(*point) for point in part)
            yield {"run_id": run_id, "key": key, "points": packed}


def upgrade() -> None:
    op.create_table(
        "metric_chunk",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("points", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_metric_chunk_run_id_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_chunk")),
    )
    with op.batch_alter_table("metric_chunk", schema=None) as batch_op:
        batch_op.create_index("ix_metric_chunk_run_id_key_id", ["run_id", "key", "id"], unique=False)

    # One run at a time, so memory stays bounded by the largest run's points.
    bind = op.get_bind()
    metric, chunk_table = _point_table(), _chunk_table()
    run_ids = bind.execute(sa.select(metric.c.run_id).distinct()).scalars().all()
    for run_id in run_ids:
        rows = bind.execute(
            sa.select(metric.c.run_id, metric.c.key, metric.c.step, metric.c.value, metric.c.timestamp)
            .where(metric.c.run_id == run_id)
            .order_by(metric.c.key, metric.c.step, metric.c.timestamp, metric.c.id)
        ).fetchall()
        chunks = list(_chunks(iter(rows)))
        if chunks:
            bind.execute(chunk_table.insert(), chunks)

    with op.batch_alter_table("metric", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_run_id_key_step")
    op.drop_table("metric")


def downgrade() -> None:
    op.create_table(
        "metric",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_metric_run_id_run"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric")),
    )
    with op.batch_alter_table("metric", schema=None) as batch_op:
        batch_op.create_index("ix_metric_run_id_key_step", ["run_id", "key", "step"], unique=False)

    bind = op.get_bind()
    metric, chunk_table = _point_table(), _chunk_table()
    chunk_ids = bind.execute(sa.select(chunk_table.c.id).order_by(chunk_table.c.id)).scalars().all()
    for chunk_id in chunk_ids:
        run_id, key, packed = bind.execute(
            sa.select(chunk_table.c.run_id, chunk_table.c.key, chunk_table.c.points).where(chunk_table.c.id == chunk_id)
        ).one()
        points = [
            {"run_id": run_id, "key": key, "step": step, "value": value, "timestamp": stamp}
            for step, value, stamp in POINT.iter_unpack(packed)
        ]
        if points:
            bind.execute(metric.insert(), points)

    with op.batch_alter_table("metric_chunk", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_chunk_run_id_key_id")
    op.drop_table("metric_chunk")
