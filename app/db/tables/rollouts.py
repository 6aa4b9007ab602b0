"""Rollouts and what their analysis reads: one row per rollout (at most one in progress per
deployment), the traffic statistics each serving process flushes, and each process's heartbeat."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class Rollout(Base):
    __tablename__ = "rollout"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), index=True)
    # The deployment's id while the rollout is in progress, NULL after: the unique key that
    # keeps a second concurrent rollout out (NULLs never collide, on SQLite nor Postgres).
    active_deployment_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    strategy: Mapped[str] = mapped_column(String(32))
    # No foreign keys: a finished rollout must not keep its versions from being deleted (while it
    # is in progress, its routes hold them).
    primary_version_id: Mapped[int]
    candidate_version_id: Mapped[int]
    model: Mapped[str] = mapped_column(String(256))
    primary_version: Mapped[int]
    candidate_version: Mapped[int]
    steps: Mapped[list[int]] = mapped_column(JSON)
    interval_seconds: Mapped[float] = mapped_column(Float)
    # {max_error_rate, max_p95_ms, min_requests, step_timeout_seconds, max_live_metric_drop}
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(32), default="progressing")
    # Index into steps; the step's revision and serving generation, when it was written and
    # when its clock started (once every live replica had applied it; NULL until then).
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    step_revision: Mapped[int] = mapped_column(Integer, default=0)
    step_generation: Mapped[int] = mapped_column(Integer, default=0)
    step_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    step_started_at: Mapped[datetime | None]
    # The revision serving before the rollout started, where a rollback returns.
    base_revision: Mapped[int] = mapped_column(Integer)
    final_revision: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    # The last analysis: {requests, errors, error_rate, p95_ms, primary: {...}, ...}
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ServingStats(Base):
    """The counts one serving process gathered over about a second for one deployment revision
    and version: requests, errors, a fixed-bucket latency histogram, shadow agreement."""

    __tablename__ = "serving_stats"
    __table_args__ = (Index("ix_serving_stats_deployment_revision", "deployment", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment: Mapped[str] = mapped_column(String(2048))  # the folded name
    revision: Mapped[int]
    model: Mapped[str] = mapped_column(String(256))
    version: Mapped[int]
    replica: Mapped[str] = mapped_column(String(128))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    latency_buckets: Mapped[list[int]] = mapped_column(JSON)
    shadow_compared: Mapped[int] = mapped_column(Integer, default=0)
    shadow_agreed: Mapped[int] = mapped_column(Integer, default=0)
    shadow_dropped: Mapped[int] = mapped_column(Integer, default=0)
    flushed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServingReplica(Base):
    """Each serving process's heartbeat: the serving generation it has applied, and when."""

    __tablename__ = "serving_replica"

    replica: Mapped[str] = mapped_column(String(128), primary_key=True)
    generation: Mapped[int]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
