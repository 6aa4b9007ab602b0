"""Every SQL statement of schedules and their ticks."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import Schedule, ScheduleTick
from app.errors import ScheduleConflict
from app.names import fold_name


def add_schedule(session: Session, schedule: Schedule) -> Schedule:
    """ScheduleConflict when the name is taken, by a request that committed meanwhile too (the
    insert runs in a SAVEPOINT, so the request's transaction stays usable)."""
    try:
        with session.begin_nested():
            session.add(schedule)
            session.flush()
    except IntegrityError as exc:
        raise ScheduleConflict(
            f"a schedule named {schedule.name!r}, or one differing only in case, already exists"
        ) from exc
    return schedule


def get_schedule(session: Session, name: str, *, for_update: bool = False) -> Schedule | None:
    """By name as people read it; with `for_update`, the row locked until the transaction ends."""
    query = select(Schedule).where(Schedule.folded_name == fold_name(name))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def lock_schedule(session: Session, schedule_id: int) -> Schedule | None:
    """The schedule, its row locked until the transaction ends (on SQLite the write lock does it),
    so a tick and an edit of the schedule take turns."""
    return session.scalars(
        select(Schedule).where(Schedule.id == schedule_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()


def list_schedules(session: Session, *, after_id: int | None, limit: int) -> Sequence[Schedule]:
    query = select(Schedule).order_by(Schedule.id).limit(limit)
    if after_id is not None:
        query = query.where(Schedule.id > after_id)
    return session.scalars(query).all()


def delete_schedule(session: Session, schedule: Schedule) -> None:
    """The schedule and, by the foreign key's cascade, its ticks."""
    session.delete(schedule)
    session.flush()


def due_schedule_ids(session: Session, now: datetime) -> list[int]:
    """Enabled schedules whose next tick has come, the longest waiting first."""
    rows = session.execute(
        select(Schedule.id)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at, Schedule.id)
    )
    return [schedule_id for (schedule_id,) in rows]


def claim_tick(session: Session, tick: ScheduleTick) -> bool:
    """Insert the tick; False when another scheduler claimed it first. On Postgres the insert
    waits for a concurrent one with the same key to commit or roll back, then fails or succeeds."""
    try:
        with session.begin_nested():
            session.add(tick)
            session.flush()
    except IntegrityError:
        return False
    return True


def delete_ticks_before(session: Session, schedule_id: int, before: datetime) -> None:
    session.execute(delete(ScheduleTick).where(ScheduleTick.schedule_id == schedule_id, ScheduleTick.tick_at < before))


def list_ticks(session: Session, schedule_id: int, *, before_id: int | None, limit: int) -> Sequence[ScheduleTick]:
    """Newest claim first."""
    query = (
        select(ScheduleTick)
        .where(ScheduleTick.schedule_id == schedule_id)
        .order_by(ScheduleTick.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(ScheduleTick.id < before_id)
    return session.scalars(query).all()
