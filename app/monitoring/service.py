"""Monitoring use cases: store a drift check's report, list a deployment's reports, read one, and
the newest report of each deployment (what the drift gauges show). The drift_check job itself is
app.monitoring.drift_check."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db.tables import DriftReport
from app.deployments import service as deployments
from app.errors import DriftReportNotFound
from app.monitoring import repository
from app.monitoring.schemas import DriftReportRead, DriftReportSummary, ModelVersionRows
from app.pagination import decode_page_token, int_from_cursor, take_page


def store_report(
    session: Session,
    *,
    deployment_id: int,
    job_id: str,
    created_by: str,
    window_start: datetime,
    window_end: datetime,
    body: dict[str, Any],
) -> DriftReport:
    """The report of a drift_check job, once per job (a retried attempt finds the first one's)."""
    dataset = body["dataset"]
    performance = body.get("performance") or {}
    return repository.add_report(
        session,
        DriftReport(
            deployment_id=deployment_id,
            job_id=job_id,
            window_start=window_start,
            window_end=window_end,
            current_rows=int(body["rows"]["current"]),
            reference_rows=int(body["rows"]["reference"]),
            reference=str(body["reference"]),
            model_versions=list(body["model_versions"]),
            preset=str(dataset["preset"]),
            drift_detected=bool(body["drift_detected"]),
            drifted_share=float(dataset["drifted_share"]),
            decay_detected=performance.get("decay_detected"),
            body=body,
            created_by=created_by,
        ),
    )


def list_reports(
    session: Session, name: str, *, page_token: str | None, max_results: int
) -> tuple[list[DriftReportSummary], str | None]:
    deployment = deployments.get(session, name)
    before_id = int_from_cursor(decode_page_token(page_token), "before_id")
    found = repository.list_reports(session, deployment.id, before_id=before_id, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda r: {"before_id": r.id})
    return [summary(r, deployment.name) for r in page], next_token


def get_report(session: Session, report_id: int) -> DriftReportRead:
    found = repository.get_report(session, report_id)
    if found is None:
        raise DriftReportNotFound(f"no drift report with id {report_id}")
    report, deployment = found
    return DriftReportRead(**summary(report, deployment).model_dump(), body=report.body)


def newest_reports(session: Session) -> Sequence[tuple[str, DriftReport]]:
    """(deployment name, its newest report) for every deployment that has one."""
    return [(name, report) for report, name in repository.newest_reports(session)]


def summary(report: DriftReport, deployment: str) -> DriftReportSummary:
    return DriftReportSummary(
        id=report.id,
        deployment=deployment,
        job_id=report.job_id,
        window_start=report.window_start,
        window_end=report.window_end,
        current_rows=report.current_rows,
        reference_rows=report.reference_rows,
        reference=report.reference,
        model_versions=[ModelVersionRows.model_validate(v) for v in report.model_versions],
        preset=report.preset,
        drift_detected=report.drift_detected,
        drifted_share=report.drifted_share,
        decay_detected=report.decay_detected,
        drifted_columns=list(report.body.get("drifted_columns", [])),
        created_by=report.created_by,
        created_at=report.created_at,
    )
