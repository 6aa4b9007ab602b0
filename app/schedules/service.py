"""Schedule use cases: create, read, list, change and delete a user's schedules; put and delete the
ones the platform manages (a deployment monitor's); and fire one due tick, claimed in the
transaction that submits its job (the loop over due schedules is app.schedules.scheduler)."""

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth import service as auth
from app.auth.security import Role
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Schedule, ScheduleTick
from app.errors import (
    AppError,
    Forbidden,
    InvalidInput,
    ScheduleConflict,
    ScheduleManaged,
    ScheduleNotFound,
    ServiceUnavailable,
)
from app.jobs import service as jobs
from app.jobs.queue import JobQueue
from app.jobs.schemas import JobCreate, JobType
from app.jobs.service import SpecCheck
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.schedules import repository
from app.schedules.schemas import NAME_PATTERN, ScheduleCreate, ScheduleRead, ScheduleUpdate, TickRead
from app.schedules.ticks import Ticks, TimingError

# Ticks older than this are forgotten. A scheduler only ever claims the latest tick at or before
# its clock, after the one the schedule last fired, so an old tick cannot come round again.
TICK_RETENTION = timedelta(days=7)


def create_schedule(session: Session, actor: Principal, data: ScheduleCreate, *, check_spec: SpecCheck) -> ScheduleRead:
    """A user's schedule; its spec is checked now, with the creator's rights, as POST /jobs does."""
    ticks = _ticks(data.every, data.cron)
    if repository.get_schedule(session, data.name) is not None:
        raise ScheduleConflict(f"a schedule named {data.name!r}, or one differing only in case, already exists")
    spec = check_spec(session, actor, data.job_type.value, data.spec)
    now = utcnow()
    schedule = repository.add_schedule(
        session,
        Schedule(
            name=data.name,
            job_type=data.job_type.value,
            spec=spec,
            every_seconds=ticks.every_seconds,
            cron=ticks.cron.expression if ticks.cron else None,
            enabled=data.enabled,
            managed_by=None,
            run_as=actor.username,
            run_as_user_id=actor.user_id,
            next_run_at=ticks.next_after(now) if data.enabled else None,
            created_by=actor.username,
            created_at=now,
            updated_at=now,
        ),
    )
    audit.record(session, actor, "schedule.create", "schedule", schedule.name, _timing_detail(schedule))
    return ScheduleRead.model_validate(schedule)


def get_schedule(session: Session, name: str) -> ScheduleRead:
    return ScheduleRead.model_validate(_get(session, name))


def list_schedules(
    session: Session, *, page_token: str | None, max_results: int
) -> tuple[list[ScheduleRead], str | None]:
    after_id = int_from_cursor(decode_page_token(page_token), "after_id")
    found = repository.list_schedules(session, after_id=after_id, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda schedule: {"after_id": schedule.id})
    return [ScheduleRead.model_validate(schedule) for schedule in page], next_token


def list_ticks(
    session: Session, name: str, *, page_token: str | None, max_results: int
) -> tuple[list[TickRead], str | None]:
    """The ticks of the last seven days, newest first: each one's job or why it was skipped."""
    schedule = _get(session, name)
    before_id = int_from_cursor(decode_page_token(page_token), "before_id")
    found = repository.list_ticks(session, schedule.id, before_id=before_id, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda tick: {"before_id": tick.id})
    return [TickRead.model_validate(tick) for tick in page], next_token


def update_schedule(
    session: Session, actor: Principal, name: str, data: ScheduleUpdate, *, check_spec: SpecCheck
) -> ScheduleRead:
    """Pause or resume, change the timing, or give a new spec (checked now, with the caller's
    rights; the jobs then run as the caller, never with the rights of whoever set the old one)."""
    schedule = _get_own(session, name)
    changed: list[str] = []
    ticks = Ticks.of(schedule.every_seconds, schedule.cron)
    if data.every is not None or data.cron is not None:
        ticks = _ticks(data.every, data.cron)
        schedule.every_seconds = ticks.every_seconds
        schedule.cron = ticks.cron.expression if ticks.cron else None
        changed.append("timing")
    if data.spec is not None:
        schedule.spec = check_spec(session, actor, schedule.job_type, data.spec)
        schedule.run_as, schedule.run_as_user_id = actor.username, actor.user_id
        changed.append("spec")
    if data.enabled is not None and data.enabled != schedule.enabled:
        schedule.enabled = data.enabled
        changed.append("enabled")
    if not changed:
        return ScheduleRead.model_validate(schedule)
    now = utcnow()
    if "timing" in changed or "enabled" in changed:
        # A resumed schedule starts from the next tick: what it missed while paused stays missed.
        schedule.next_run_at = ticks.next_after(now) if schedule.enabled else None
    schedule.updated_at = now
    session.flush()
    audit.record(
        session, actor, "schedule.update", "schedule", schedule.name, {"changed": changed, **_timing_detail(schedule)}
    )
    return ScheduleRead.model_validate(schedule)


def delete_schedule(session: Session, actor: Principal, name: str) -> None:
    schedule = _get_own(session, name)
    repository.delete_schedule(session, schedule)
    audit.record(session, actor, "schedule.delete", "schedule", schedule.name)


def put_managed_schedule(
    session: Session,
    actor: Principal,
    *,
    name: str,
    job_type: str,
    spec: dict[str, Any],
    every_seconds: int | None = None,
    cron: str | None = None,
    enabled: bool = True,
    managed_by: str,
    check_spec: SpecCheck | None = None,
) -> ScheduleRead:
    """Create or replace the schedule `name` that `managed_by` (e.g. ``deployment-monitor:churn``)
    owns; /schedules then shows it but refuses to change it. Its jobs run as `actor`: a user (as
    they stand at each tick), or Principal.system() for the platform's own. The spec is
    checked with `check_spec` when one is given, else the caller has checked it. InvalidInput for
    a bad name, job type or timing; ScheduleConflict when a schedule of that name is someone else's."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidInput(f"{name!r} is not a schedule name (letters, digits, `_.-`, at most 256)", field="name")
    if job_type not in {member.value for member in JobType}:
        raise InvalidInput(f"{job_type!r} is not a job type this server runs", field="job_type")
    if not managed_by.strip():
        raise InvalidInput("managed_by must say what owns the schedule", field="managed_by")
    ticks = _ticks(every_seconds, cron)
    if check_spec is not None:
        spec = check_spec(session, actor, job_type, spec)
    now = utcnow()
    schedule = repository.get_schedule(session, name, for_update=True)
    if schedule is None:
        try:
            schedule = repository.add_schedule(
                session,
                Schedule(
                    name=name,
                    job_type=job_type,
                    spec=spec,
                    every_seconds=ticks.every_seconds,
                    cron=ticks.cron.expression if ticks.cron else None,
                    enabled=enabled,
                    managed_by=managed_by,
                    run_as=actor.username,
                    run_as_user_id=actor.user_id,
                    next_run_at=ticks.next_after(now) if enabled else None,
                    created_by=actor.username,
                    created_at=now,
                    updated_at=now,
                ),
            )
        except ScheduleConflict:
            # A concurrent put of the same name committed first (Postgres made this insert wait
            # for it): update that one instead.
            schedule = repository.get_schedule(session, name, for_update=True)
            if schedule is None:
                raise
        else:
            audit.record(session, actor, "schedule.create", "schedule", name, _timing_detail(schedule))
            return ScheduleRead.model_validate(schedule)
    if schedule.managed_by != managed_by:
        owner = f"managed by {schedule.managed_by}" if schedule.managed_by else "a user's own schedule"
        raise ScheduleConflict(
            f"a schedule named {schedule.name!r} exists and is {owner}", managed_by=schedule.managed_by
        )
    timing_changed = (schedule.every_seconds, schedule.cron) != (
        ticks.every_seconds,
        ticks.cron.expression if ticks.cron else None,
    )
    if timing_changed or schedule.enabled != enabled:
        schedule.next_run_at = ticks.next_after(now) if enabled else None
    schedule.job_type, schedule.spec, schedule.enabled = job_type, spec, enabled
    schedule.every_seconds = ticks.every_seconds
    schedule.cron = ticks.cron.expression if ticks.cron else None
    schedule.run_as, schedule.run_as_user_id = actor.username, actor.user_id
    schedule.updated_at = now
    session.flush()
    audit.record(session, actor, "schedule.update", "schedule", schedule.name, _timing_detail(schedule))
    return ScheduleRead.model_validate(schedule)


def delete_managed_schedule(session: Session, actor: Principal, name: str) -> None:
    """Delete a managed schedule; nothing to do when there is none of that name. ScheduleConflict
    when the schedule of that name is a user's own."""
    schedule = repository.get_schedule(session, name, for_update=True)
    if schedule is None:
        return
    if schedule.managed_by is None:
        raise ScheduleConflict(f"schedule {schedule.name!r} is a user's own, not a managed one")
    repository.delete_schedule(session, schedule)
    audit.record(session, actor, "schedule.delete", "schedule", schedule.name, {"managed_by": schedule.managed_by})


def due_schedules(session: Session, now: datetime) -> list[int]:
    return repository.due_schedule_ids(session, now)


def fire(session: Session, queue: JobQueue, schedule_id: int, now: datetime, check_spec: SpecCheck) -> str | None:
    """Fire the schedule's latest tick at or before `now`, if it is due and no scheduler has
    claimed that tick: the tick row (unique per schedule and time) and the job row are written in
    this one transaction, so racing schedulers make one job. Returns the job's id; None when
    there was nothing to do, or the tick was skipped (the reason is kept on the tick)."""
    schedule = repository.lock_schedule(session, schedule_id)
    if schedule is None or not schedule.enabled or schedule.next_run_at is None or schedule.next_run_at > now:
        return None
    ticks = Ticks.of(schedule.every_seconds, schedule.cron)
    tick = ScheduleTick(schedule_id=schedule.id, tick_at=ticks.latest_at_or_before(now))
    if not repository.claim_tick(session, tick):
        return None
    tick.job_id, tick.skip_reason = _submit(session, queue, schedule, check_spec)
    schedule.last_run_at, schedule.last_job_id, schedule.last_skip_reason = tick.tick_at, tick.job_id, tick.skip_reason
    schedule.next_run_at = ticks.next_after(now)
    repository.delete_ticks_before(session, schedule.id, tick.tick_at - TICK_RETENTION)
    session.flush()
    outcome = {"job_id": tick.job_id} if tick.job_id else {"skipped": tick.skip_reason}
    audit.record(
        session,
        Principal.system(),
        "schedule.tick",
        "schedule",
        schedule.name,
        {"tick_at": tick.tick_at.isoformat(), **outcome},
    )
    return tick.job_id


def _submit(
    session: Session, queue: JobQueue, schedule: Schedule, check_spec: SpecCheck
) -> tuple[str | None, str | None]:
    """(job id, None), or (None, why not): the user it runs as may no longer submit it."""
    try:
        actor = _runs_as(session, schedule)
        data = JobCreate.model_validate({"type": schedule.job_type, "spec": schedule.spec})
        # In a SAVEPOINT: a spec refused now leaves nothing of the job behind, and the skip is recorded.
        with session.begin_nested():
            job, _ = jobs.submit_job(session, queue, actor, data, idempotency_key=None, check_spec=check_spec)
    except ValidationError:
        return None, f"job type {schedule.job_type!r} is not one this server runs"
    except ServiceUnavailable:
        raise  # the database or the store is away a moment: the tick is not claimed, the next pass retries it
    except AppError as exc:
        return None, exc.detail
    return job.id, None


def _runs_as(session: Session, schedule: Schedule) -> Principal:
    """The schedule's user as they stand now; Forbidden, saying why, when they may not submit jobs."""
    if schedule.run_as_user_id is not None:
        return auth.act_as(session, schedule.run_as_user_id, Role.editor)
    system = Principal.system()
    if schedule.run_as != system.username:
        # Only the platform's own principal has no user row; anyone else must be found as a user.
        raise Forbidden(f"{schedule.run_as!r} is not a user this schedule can run as")
    return system


def _get(session: Session, name: str, *, for_update: bool = False) -> Schedule:
    schedule = repository.get_schedule(session, name, for_update=for_update)
    if schedule is None:
        raise ScheduleNotFound(f"no schedule named {name!r}")
    return schedule


def _get_own(session: Session, name: str) -> Schedule:
    """A schedule /schedules may change: not one the platform manages."""
    schedule = _get(session, name, for_update=True)
    if schedule.managed_by is not None:
        raise ScheduleManaged(
            f"schedule {schedule.name!r} is managed by {schedule.managed_by}; change it there, not through /schedules",
            managed_by=schedule.managed_by,
        )
    return schedule


def _ticks(every: int | str | None, cron: str | None) -> Ticks:
    try:
        return Ticks.of(every, cron)
    except TimingError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc


def _timing_detail(schedule: Schedule) -> dict[str, Any]:
    return {
        "job_type": schedule.job_type,
        "every_seconds": schedule.every_seconds,
        "cron": schedule.cron,
        "enabled": schedule.enabled,
        **({"managed_by": schedule.managed_by} if schedule.managed_by else {}),
    }
