"""Deployment monitors (a drift check on a schedule, and what to do when it finds drift or decay)
and the actions each drift report set off. A monitor's webhook secret is kept here only: it is
never logged nor returned."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class Monitor(Base):
    __tablename__ = "monitor"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One monitor per deployment: a second PUT replaces the first.
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"), unique=True)
    # The managed schedule that submits its drift checks.
    schedule_name: Mapped[str] = mapped_column(String(256))
    # Exactly one of the two, as the schedule has them.
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(256))
    # window, reference, options, performance, on_drift, on_decay, retrain: all but the webhook.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    alert_url: Mapped[str | None] = mapped_column(String(2048))
    alert_secret: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorAction(Base):
    """One action a drift report set off: an alert (per event) or a retrain (once per report)."""

    __tablename__ = "monitor_action"
    __table_args__ = (UniqueConstraint("report_id", "action", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("drift_report.id", ondelete="CASCADE"), index=True)
    # alert or retrain.
    action: Mapped[str] = mapped_column(String(16))
    # drift.detected or decay.detected: the event that set it off.
    event: Mapped[str] = mapped_column(String(32))
    # alert: sending, then delivered or failed; retrain: submitted or skipped.
    status: Mapped[str] = mapped_column(String(16))
    delivery_id: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(32))
    # Why it was skipped, or why the delivery failed.
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
