"""API schemas of schedules."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.jobs.schemas import JobType
from app.schemas import JsonInt, StrictBody

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$"
# Names go into URLs: letters, digits, `_`, `.` and `-`, as model names, up to 256 characters.
ScheduleName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# The bounds (10 s to 366 days) and the duration grammar are checked by the service, for both forms.
Every = Annotated[int, JsonInt] | Annotated[str, StringConstraints(max_length=64)]
CronText = Annotated[str, StringConstraints(max_length=256)]

EVERY_DESCRIPTION = (
    "The interval: seconds (3600) or a duration (`90s`, `15m`, `1h30m`, `1d`), 10 s to 366 days. Ticks fall "
    "on multiples of it counted from 1970-01-01T00:00Z, so `1h` fires on the hour. Exactly one of every and cron."
)
CRON_DESCRIPTION = (
    "A five-field cron expression in UTC (`*/5 * * * *`, `0 6 * * mon-fri`, `@daily`): lists, ranges, steps, "
    "month and day names. Exactly one of every and cron."
)


class ScheduleCreate(StrictBody):
    name: ScheduleName
    job_type: Annotated[JobType, Strict(False)]
    spec: dict[str, Any] = Field(description="The job's spec, checked now as POST /jobs checks it.")
    every: Every | SkipJsonSchema[None] = Field(default=None, description=EVERY_DESCRIPTION)
    cron: CronText | SkipJsonSchema[None] = Field(default=None, description=CRON_DESCRIPTION)
    enabled: bool = True


class ScheduleUpdate(StrictBody):
    """The fields given change. A new every or cron replaces the timing (give one of them)."""

    enabled: bool | SkipJsonSchema[None] = Field(default=None, description="false pauses, true resumes.")
    every: Every | SkipJsonSchema[None] = Field(default=None, description=EVERY_DESCRIPTION)
    cron: CronText | SkipJsonSchema[None] = Field(default=None, description=CRON_DESCRIPTION)
    spec: dict[str, Any] | SkipJsonSchema[None] = Field(
        default=None, description="A new spec, checked now; the jobs then run as whoever set it."
    )


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    job_type: str
    spec: dict[str, Any]
    every_seconds: int | None
    cron: str | None
    enabled: bool
    managed_by: str | None = Field(description="What owns the schedule (it is changed there); null: a user's own.")
    run_as: str = Field(description="The user its jobs run as: whoever last set its spec.")
    next_run_at: datetime | None = Field(description="The next tick; null while paused.")
    last_run_at: datetime | None = Field(description="The last tick handled.")
    last_job_id: str | None = Field(description="The job of the last tick; null when it was skipped.")
    last_skip_reason: str | None = Field(description="Why the last tick submitted no job.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class ScheduleList(BaseModel):
    schedules: list[ScheduleRead]
    next_page_token: str | None


class TickRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tick_at: datetime = Field(description="The fire time this tick is.")
    job_id: str | None = Field(description="The job it submitted; null when it was skipped.")
    skip_reason: str | None = Field(description="Why it submitted no job (its user deactivated, its spec refused).")
    created_at: datetime = Field(description="When a scheduler handled it.")


class TickList(BaseModel):
    ticks: list[TickRead]
    next_page_token: str | None
