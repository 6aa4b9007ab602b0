"""Every SQL statement of monitoring: drift reports."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import Deployment, DriftReport


def add_report(session: Session, report: DriftReport) -> DriftReport:
    """Once per job: a second attempt of the same job gets the report the first one stored."""
    existing = report_of_job(session, report.job_id)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        found = report_of_job(session, report.job_id)
        if found is None:
            raise
        return found
    return report


def report_of_job(session: Session, job_id: str) -> DriftReport | None:
    return session.scalars(select(DriftReport).where(DriftReport.job_id == job_id)).one_or_none()


def get_report(session: Session, report_id: int) -> tuple[DriftReport, str] | None:
    """The report and its deployment's name."""
    row = session.execute(
        select(DriftReport, Deployment.name)
        .join(Deployment, Deployment.id == DriftReport.deployment_id)
        .where(DriftReport.id == report_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def list_reports(session: Session, deployment_id: int, *, before_id: int | None, limit: int) -> Sequence[DriftReport]:
    """A deployment's reports, newest first."""
    query = select(DriftReport).where(DriftReport.deployment_id == deployment_id)
    if before_id is not None:
        query = query.where(DriftReport.id < before_id)
    return session.scalars(query.order_by(DriftReport.id.desc()).limit(limit)).all()


def newest_reports(session: Session) -> Sequence[tuple[DriftReport, str]]:
    """The newest report of every deployment that has one, with the deployment's name."""
    newest = select(func.max(DriftReport.id).label("id")).group_by(DriftReport.deployment_id).subquery()
    rows = session.execute(
        select(DriftReport, Deployment.name)
        .join(newest, newest.c.id == DriftReport.id)
        .join(Deployment, Deployment.id == DriftReport.deployment_id)
        .order_by(Deployment.name)
    )
    return [(report, name) for report, name in rows.tuples()]
