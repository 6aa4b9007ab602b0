"""HTTP endpoints of monitoring: a deployment's drift reports, one report whole, and the
deployment's monitor."""

import functools
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.deployments.schemas import DeploymentName
from app.deps import API_PREFIX, Editor, OutboundDep, SessionDep, SettingsDep, Viewer
from app.errors import (
    DatasetNotFound,
    DeploymentNotFound,
    DriftReportNotFound,
    InvalidInput,
    MonitorConflict,
    MonitorNotFound,
    ScheduleConflict,
    UrlRefused,
    error_responses,
)
from app.jobs.handlers import check_job_spec
from app.monitoring import service
from app.monitoring.schemas import DriftReportList, DriftReportRead, MonitorPut, MonitorRead

router = APIRouter(prefix=API_PREFIX, tags=["monitoring"])
NamePath = Annotated[DeploymentName, Path(description="A deployment's name.")]
ReportIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="A drift report's id.")]


@router.get(
    "/deployments/{name}/drift-reports",
    summary="List a deployment's drift reports",
    response_model=DriftReportList,
    responses=error_responses(DeploymentNotFound, InvalidInput),
)
def list_drift_reports(
    name: NamePath,
    session: SessionDep,
    _: Viewer,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> DriftReportList:
    """Newest first, one summary per report: window, rows, reference, versions, verdicts and the
    drifted columns. `GET /drift-reports/{id}` has the whole report."""
    found, next_token = service.list_reports(session, name, page_token=page_token, max_results=max_results)
    return DriftReportList(reports=found, next_page_token=next_token)


@router.get(
    "/drift-reports/{report_id}",
    summary="Read a drift report",
    response_model=DriftReportRead,
    responses=error_responses(DriftReportNotFound),
)
def get_drift_report(report_id: ReportIdPath, session: SessionDep, _: Viewer) -> DriftReportRead:
    """The summary and the body: per column the test, statistic, p-value or score, threshold,
    verdict, missing rates and the binned distributions of both sides; the dataset verdict; the
    prediction drift; the performance of each version with feedback."""
    return service.get_report(session, report_id)


@router.put(
    "/deployments/{name}/monitor",
    summary="Set a deployment's monitor",
    response_model=MonitorRead,
    responses={
        201: {"model": MonitorRead, "description": "The deployment had no monitor: this one is new."},
        **error_responses(
            DeploymentNotFound, InvalidInput, UrlRefused, DatasetNotFound, MonitorConflict, ScheduleConflict
        ),
    },
)
def put_monitor(
    name: NamePath,
    body: MonitorPut,
    response: Response,
    session: SessionDep,
    outbound: OutboundDep,
    settings: SettingsDep,
    actor: Editor,
) -> MonitorRead:
    """A drift check of the deployment every `every` (or on `cron`) over `window`, and what to do
    when it finds drift (`on_drift`) or decay (`on_decay`): `alert` posts a signed webhook,
    `retrain` submits a retrain job. Replaces the monitor set before (200), or makes the first
    (201). Everything is checked first: a private webhook address, a version with no training
    spec to retrain, a bad gate or rollout is a 400 naming the field, and nothing changes. The
    checks run as the caller."""
    check = functools.partial(check_job_spec, protected_aliases=settings.protected_aliases)
    monitor, created = service.put_monitor(session, outbound, actor, name, body, check_spec=check)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return monitor


@router.get(
    "/deployments/{name}/monitor",
    summary="Get a deployment's monitor",
    response_model=MonitorRead,
    responses=error_responses(DeploymentNotFound, MonitorNotFound),
)
def get_monitor(name: NamePath, session: SessionDep, _: Viewer) -> MonitorRead:
    """The monitor (its webhook secret masked), its schedule's next and last run, and the newest report."""
    return service.get_monitor(session, name)


@router.delete(
    "/deployments/{name}/monitor",
    summary="Delete a deployment's monitor",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(DeploymentNotFound, MonitorNotFound),
)
def delete_monitor(name: NamePath, session: SessionDep, actor: Editor) -> None:
    """The monitor and its schedule go; the drift reports stay."""
    service.delete_monitor(session, actor, name)
