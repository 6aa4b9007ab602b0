"""Every SQL statement of monitoring: drift reports, monitors and the actions of reports."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import Deployment, DriftReport, Monitor, MonitorAction


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


# ---- monitors ----------------------------------------------------------------------------------


def lock_monitor(session: Session, deployment_id: int) -> Monitor | None:
    """The deployment's monitor, its row locked for this transaction (a concurrent PUT, DELETE or
    retrain decision waits for this one)."""
    return session.scalars(
        select(Monitor).where(Monitor.deployment_id == deployment_id).with_for_update()
    ).one_or_none()


def get_monitor(session: Session, deployment_id: int) -> Monitor | None:
    return session.scalars(select(Monitor).where(Monitor.deployment_id == deployment_id)).one_or_none()


def add_monitor(session: Session, monitor: Monitor) -> Monitor | None:
    """None when another transaction added the deployment's monitor first (in a SAVEPOINT, so the
    caller's transaction stays usable to read that one)."""
    try:
        with session.begin_nested():
            session.add(monitor)
            session.flush()
    except IntegrityError:
        return None
    return monitor


def delete_monitor(session: Session, monitor: Monitor) -> None:
    session.delete(monitor)
    session.flush()


def actions_of(session: Session, report_ids: Sequence[int]) -> Sequence[MonitorAction]:
    if not report_ids:
        return []
    return session.scalars(
        select(MonitorAction).where(MonitorAction.report_id.in_(report_ids)).order_by(MonitorAction.id)
    ).all()


def find_action(session: Session, report_id: int, action: str, event: str | None = None) -> MonitorAction | None:
    query = select(MonitorAction).where(MonitorAction.report_id == report_id, MonitorAction.action == action)
    if event is not None:
        query = query.where(MonitorAction.event == event)
    return session.scalars(query.order_by(MonitorAction.id).limit(1)).one_or_none()


def add_action(session: Session, action: MonitorAction) -> MonitorAction | None:
    """None when the report's action was recorded by another attempt meanwhile."""
    try:
        with session.begin_nested():
            session.add(action)
            session.flush()
    except IntegrityError:
        return None
    return action
