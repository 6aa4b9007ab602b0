"""The prediction log's index (one row per Parquet segment in the artifact store) and the
feedback (ground truth) attached to prediction ids."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class PredictionSegment(Base):
    """One Parquet file of logged predictions: one deployment, model version and revision."""

    __tablename__ = "prediction_segment"
    __table_args__ = (
        # Readers select a deployment's segments by time window, newest first.
        Index("ix_prediction_segment_deployment_id_last_at", "deployment_id", "last_at"),
        Index("ix_prediction_segment_model_version_id_last_at", "model_version_id", "last_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    # No foreign key: the log of a version outlives the version's deletion from the registry.
    model_version_id: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    row_count: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(1024), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PredictionFeedback(Base):
    """The actual outcome of one prediction; sending it again replaces it."""

    __tablename__ = "prediction_feedback"
    __table_args__ = (
        UniqueConstraint("deployment_id", "prediction_id"),
        Index("ix_prediction_feedback_deployment_id_received_at", "deployment_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    prediction_id: Mapped[str] = mapped_column(String(64))
    actual: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_by: Mapped[str] = mapped_column(String(64))
