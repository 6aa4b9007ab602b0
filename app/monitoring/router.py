"""HTTP endpoints of monitoring: a deployment's drift reports, and one report whole."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.deployments.schemas import DeploymentName
from app.deps import API_PREFIX, SessionDep, Viewer
from app.errors import DeploymentNotFound, DriftReportNotFound, InvalidInput, error_responses
from app.monitoring import service
from app.monitoring.schemas import DriftReportList, DriftReportRead

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
