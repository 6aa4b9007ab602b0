"""Schedules and their ticks: a tick row is the claim on one fire time of one schedule, unique
by (schedule, tick time), written in the transaction that submits its job."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, FoldedName, utcnow


class Schedule(FoldedName, Base):
    __tablename__ = "schedule"
    __table_args__ = (Index("ix_schedule_enabled_next_run_at", "enabled", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    job_type: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Exactly one of the two.
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(default=True)
    # None for a user's schedule; else what owns it (a deployment monitor), which alone changes it.
    managed_by: Mapped[str | None] = mapped_column(String(256))
    # Who the jobs run as: whoever last set the spec. A plain id, not a foreign key: a user who is
    # gone makes each tick a recorded skip, not a schedule silently deleted or run by someone else.
    # None only for a schedule the platform itself (the system principal) put.
    run_as: Mapped[str] = mapped_column(String(64))
    run_as_user_id: Mapped[int | None] = mapped_column(Integer)
    # The next tick to fire; None while the schedule is paused.
    next_run_at: Mapped[datetime | None]
    # The last tick handled, its job, or why it was skipped.
    last_run_at: Mapped[datetime | None]
    last_job_id: Mapped[str | None] = mapped_column(String(32))
    last_skip_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleTick(Base):
    """One fire time of one schedule, claimed by the scheduler that got there first."""

    __tablename__ = "schedule_tick"
    __table_args__ = (UniqueConstraint("schedule_id", "tick_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id", ondelete="CASCADE"))
    tick_at: Mapped[datetime]
    job_id: Mapped[str | None] = mapped_column(String(32))
    skip_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
