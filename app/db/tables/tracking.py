"""Experiments, runs, and what runs log: params, metric points (full history), latest metric
values (for search and ordering), and tags."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, FoldedName, utcnow


class Experiment(FoldedName, Base):
    __tablename__ = "experiment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Run(Base):
    __tablename__ = "run"
    __table_args__ = (Index("ix_run_experiment_id_start_time", "experiment_id", "start_time"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    # Milliseconds since the epoch, as the SDK and MLflow clients send them.
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    parent_run_id: Mapped[str | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"), index=True)
    source_git_commit: Mapped[str | None] = mapped_column(String(64))
    source_entry_point: Mapped[str | None] = mapped_column(String(512))
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Param(Base):
    __tablename__ = "param"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunTag(Base):
    __tablename__ = "run_tag"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricChunk(Base):
    """The points of one metric that one log-batch brought to a run, packed in one row: `points`
    holds (step int64, value float64, timestamp int64) little-endian records, sorted by (step,
    timestamp). A row per point cost Postgres a heap tuple and two index entries per point; this
    way a 1,000-point batch over 10 keys is 10 rows, and a long history is read as a few blobs."""

    __tablename__ = "metric_chunk"
    __table_args__ = (Index("ix_metric_chunk_run_id_key_id", "run_id", "key", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    points: Mapped[bytes] = mapped_column(LargeBinary)


class LatestMetric(Base):
    """The point with the highest (step, timestamp) per run and key: what search and order_by see.
    `value` is NULL when that point is NaN (SQLite cannot store NaN; NULL compares false on both)."""

    # Looked up by its primary key (run_id, key) only: a (key, value) index tempted Postgres into
    # scanning every run's values per run when its statistics lagged behind a bulk load.
    __tablename__ = "latest_metric"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
