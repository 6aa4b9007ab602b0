"""HTTP endpoints of schedules: create, list, read, change, delete, and the ticks of one."""

import functools
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from app.deps import API_PREFIX, Editor, SessionDep, SettingsDep, Viewer
from app.errors import (
    AliasNotFound,
    DatasetNotFound,
    Forbidden,
    InvalidInput,
    InvalidSpec,
    ModelNotFound,
    ModelVersionNotFound,
    ScheduleConflict,
    ScheduleManaged,
    ScheduleNotFound,
    error_responses,
)
from app.jobs.handlers import check_job_spec
from app.schedules import service
from app.schedules.schemas import ScheduleCreate, ScheduleList, ScheduleName, ScheduleRead, ScheduleUpdate, TickList

router = APIRouter(prefix=API_PREFIX, tags=["schedules"])
NamePath = Annotated[ScheduleName, Path(description="A schedule's name.")]
_SPEC_ERRORS = (
    InvalidSpec,
    InvalidInput,
    Forbidden,
    DatasetNotFound,
    ModelNotFound,
    ModelVersionNotFound,
    AliasNotFound,
)


@router.post(
    "/schedules",
    summary="Create a schedule",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleRead,
    responses=error_responses(*_SPEC_ERRORS, ScheduleConflict),
)
def create_schedule(body: ScheduleCreate, session: SessionDep, settings: SettingsDep, actor: Editor) -> ScheduleRead:
    """Submit a job at every tick of an interval (`every`) or a cron expression (`cron`), in UTC. The
    spec is checked now, as `POST /jobs` checks it: a bad one is a 400. The jobs run as the creator;
    a tick when they have been deactivated or lost the editor role is skipped, and says why."""
    check_spec = functools.partial(check_job_spec, protected_aliases=settings.protected_aliases)
    return service.create_schedule(session, actor, body, check_spec=check_spec)


@router.get(
    "/schedules", summary="List schedules", response_model=ScheduleList, responses=error_responses(InvalidInput)
)
def list_schedules(
    session: SessionDep,
    _: Viewer,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ScheduleList:
    found, next_token = service.list_schedules(session, page_token=page_token, max_results=max_results)
    return ScheduleList(schedules=found, next_page_token=next_token)


@router.get(
    "/schedules/{name}",
    summary="Get a schedule",
    response_model=ScheduleRead,
    responses=error_responses(ScheduleNotFound),
)
def get_schedule(name: NamePath, session: SessionDep, _: Viewer) -> ScheduleRead:
    """Its timing, spec, next tick, and the last tick's job or why it was skipped."""
    return service.get_schedule(session, name)


@router.get(
    "/schedules/{name}/ticks",
    summary="List a schedule's ticks",
    response_model=TickList,
    responses=error_responses(ScheduleNotFound, InvalidInput),
)
def list_ticks(
    name: NamePath,
    session: SessionDep,
    _: Viewer,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TickList:
    """The ticks of the last seven days, newest first: each one's job, or why it was skipped."""
    found, next_token = service.list_ticks(session, name, page_token=page_token, max_results=max_results)
    return TickList(ticks=found, next_page_token=next_token)


@router.patch(
    "/schedules/{name}",
    summary="Change a schedule",
    response_model=ScheduleRead,
    responses=error_responses(*_SPEC_ERRORS, ScheduleNotFound, ScheduleManaged),
)
def update_schedule(
    name: NamePath, body: ScheduleUpdate, session: SessionDep, settings: SettingsDep, actor: Editor
) -> ScheduleRead:
    """Pause (`enabled: false`) or resume it (from its next tick), change `every` or `cron`, or give
    a new `spec` (checked now; the jobs then run as you). A schedule the platform manages (a
    deployment monitor's) is a 409 `schedule_managed`: change it where it is managed."""
    check_spec = functools.partial(check_job_spec, protected_aliases=settings.protected_aliases)
    return service.update_schedule(session, actor, name, body, check_spec=check_spec)


@router.delete(
    "/schedules/{name}",
    summary="Delete a schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ScheduleNotFound, ScheduleManaged),
)
def delete_schedule(name: NamePath, session: SessionDep, actor: Editor) -> None:
    """The jobs it submitted stay. A managed schedule is a 409 `schedule_managed`."""
    service.delete_schedule(session, actor, name)
