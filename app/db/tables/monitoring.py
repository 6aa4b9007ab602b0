"""Monitoring: one row per drift report, written by a drift_check job with its completion."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class DriftReport(Base):
    """A deployment's logged inputs and predictions over a window against a reference dataset
    version, and, with feedback, the live metric of each version that served in it."""

    __tablename__ = "drift_report"
    __table_args__ = (
        # Listing a deployment's reports newest first, and the newest one per deployment (gauges).
        Index("ix_drift_report_deployment_id_id", "deployment_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    # One report per job: a duplicate attempt of the same job adds none.
    job_id: Mapped[str] = mapped_column(String(32), unique=True)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    current_rows: Mapped[int] = mapped_column(Integer)
    reference_rows: Mapped[int] = mapped_column(Integer)
    # `name@version` of the reference dataset version.
    reference: Mapped[str] = mapped_column(String(300))
    # [{model, version, rows}]: the versions that answered the window's predictions.
    model_versions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    preset: Mapped[str] = mapped_column(String(32))
    drift_detected: Mapped[bool] = mapped_column(Boolean)
    drifted_share: Mapped[float] = mapped_column(Float)
    # NULL when the check judged no decay (no performance threshold given).
    decay_detected: Mapped[bool | None] = mapped_column(Boolean)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
