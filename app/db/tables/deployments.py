"""Deployments: a named endpoint, its numbered revisions (route tables), the routes it serves
now, and the one generation number every serving process polls."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.db.base import Base, utcnow
from app.names import MAX_FOLDED_NAME_BYTES, fold_name


class Deployment(Base):
    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    # The name as people read it (app.names.fold_name), which no two deployments share.
    folded_name: Mapped[str] = mapped_column(String(MAX_FOLDED_NAME_BYTES), unique=True, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    track_alias: Mapped[str | None] = mapped_column(String(64))
    # The tracked alias's version this deployment last acted on (a plain id: the version may go),
    # so one alias move starts one rollout, and a rollback is not undone by the follower.
    followed_version_id: Mapped[int | None] = mapped_column(Integer)
    # What came of the last alias move: rolled out, or why not.
    follow_status: Mapped[str] = mapped_column(Text, default="", server_default="")
    default_strategy: Mapped[str] = mapped_column(String(32), default="direct")
    state: Mapped[str] = mapped_column(String(32), default="serving")
    # The revision serving now; a route change moves it with a conditional update.
    current_revision: Mapped[int] = mapped_column(Integer, default=0)
    # The serving generation of the last route change, so a poller reloads only what changed.
    route_generation: Mapped[int] = mapped_column(Integer, default=0, index=True)
    # Share of predictions written to the prediction log; None: SHIPYARD_PREDICTION_LOG_SAMPLE_RATE.
    log_sample_rate: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Micro-batching of concurrent predicts: both set, or both None (off).
    batch_max_size: Mapped[int | None] = mapped_column(Integer)
    batch_max_wait_ms: Mapped[int | None] = mapped_column(Integer)

    @validates("name")
    def _fold_name(self, _: str, name: str) -> str:
        self.folded_name = fold_name(name)
        return name


class DeploymentRevision(Base):
    """One route table in a deployment's history, with who made it, when and why."""

    __tablename__ = "deployment_revision"
    __table_args__ = (UniqueConstraint("deployment_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    # [{model, version, weight, mode}], as the API shows it.
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String(32), default="direct")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentRoute(Base):
    """The routes of a deployment's current revision, one row per model version it sends
    traffic to: what the registry checks before deleting a version."""

    __tablename__ = "deployment_route"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="RESTRICT"), index=True)
    weight: Mapped[int]
    mode: Mapped[str] = mapped_column(String(16))


class ServingGeneration(Base):
    """A single row, bumped by every route change: serving processes poll this one number."""

    __tablename__ = "serving_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
