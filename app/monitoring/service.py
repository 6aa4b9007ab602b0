"""Monitoring use cases: store a drift check's report, list a deployment's reports, read one, and
the newest report of each deployment (what the drift gauges show); put, read and delete a
deployment's monitor. The drift_check job itself is app.monitoring.drift_check, and what a
monitor does about a report app.monitoring.actions."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Deployment, DriftReport, Monitor, MonitorAction
from app.deployments import service as deployments
from app.errors import (
    AppError,
    DriftReportNotFound,
    InvalidInput,
    InvalidSpec,
    MonitorConflict,
    MonitorNotFound,
    ScheduleNotFound,
)
from app.jobs import service as jobs
from app.jobs.queue import JobQueue
from app.jobs.schemas import JobCreate, JobType
from app.monitoring import repository
from app.monitoring.schemas import (
    SECRET_MASK,
    AlertRead,
    DriftReportRead,
    DriftReportSummary,
    ModelVersionRows,
    MonitorActionsRead,
    MonitorPut,
    MonitorRead,
    MonitorScheduleRead,
    ReportAction,
    RetrainAction,
)
from app.names import fold_name
from app.outbound import OutboundClient
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.retraining import service as retraining
from app.schedules import service as schedules
from app.schedules.ticks import TimingError, interval_seconds
from app.webhooks.schemas import DeliveryRead

# (session, actor, job type, spec) -> the spec checked, as POST /jobs checks it.
SpecCheck = Callable[[Session, Principal, str, dict[str, Any]], dict[str, Any]]
DRIFT_CHECK = "drift_check"


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
    actions = _actions_by_report(session, [r.id for r in page])
    return [summary(r, deployment.name, actions.get(r.id, [])) for r in page], next_token


def get_report(session: Session, report_id: int) -> DriftReportRead:
    found = repository.get_report(session, report_id)
    if found is None:
        raise DriftReportNotFound(f"no drift report with id {report_id}")
    report, deployment = found
    actions = _actions_by_report(session, [report.id]).get(report.id, [])
    return DriftReportRead(**summary(report, deployment, actions).model_dump(), body=report.body)


def newest_reports(session: Session) -> Sequence[tuple[str, DriftReport]]:
    """(deployment name, its newest report) for every deployment that has one."""
    return [(name, report) for report, name in repository.newest_reports(session)]


def summary(report: DriftReport, deployment: str, actions: Sequence[ReportAction] = ()) -> DriftReportSummary:
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
        actions=list(actions),
    )


def _actions_by_report(session: Session, report_ids: Sequence[int]) -> dict[int, list[ReportAction]]:
    found: dict[int, list[ReportAction]] = {}
    for action in repository.actions_of(session, report_ids):
        found.setdefault(action.report_id, []).append(ReportAction.model_validate(action))
    return found


# ---- monitors ----------------------------------------------------------------------------------


def put_monitor(
    session: Session,
    outbound: OutboundClient,
    actor: Principal,
    name: str,
    data: MonitorPut,
    *,
    check_spec: SpecCheck,
) -> tuple[MonitorRead, bool]:
    """Create or replace the deployment's monitor and its managed schedule of drift checks;
    (monitor, created). Everything is checked first, so a refused PUT changes nothing: the drift
    check's spec, the timing, the webhook URL (through the outbound client), the retrain."""
    deployment = deployments.get(session, name)
    drift_spec = _drift_spec(deployment, data)
    try:
        check_spec(session, actor, DRIFT_CHECK, drift_spec)
    except InvalidSpec as exc:
        raise InvalidInput(exc.detail, **exc.extra) from exc
    every_seconds, cron = _timing(data)
    actions = data.actions
    wanted = {*actions.on_drift, *actions.on_decay}
    if actions.on_decay and data.performance is None:
        raise InvalidInput(
            "on_decay needs `performance` ({metric, threshold}): without it no check judges decay",
            field="actions.on_decay",
        )
    if "alert" in wanted and actions.alert is None:
        raise InvalidInput("the alert action needs actions.alert: {url, secret}", field="actions.alert")
    alert_url = outbound.check_url(actions.alert.url, field="actions.alert.url") if actions.alert else None
    retrain = actions.retrain or (RetrainAction() if "retrain" in wanted else None)
    if retrain is not None:
        _check_retrain(session, deployment.name, retrain)

    monitor = repository.lock_monitor(session, deployment.id)
    created = monitor is None
    secret = _secret(data, monitor)
    now = utcnow()
    config = {
        "window": data.window.model_dump(mode="json", exclude_none=True),
        "reference": data.reference,
        "options": data.options.model_dump(mode="json") if data.options else None,
        "performance": data.performance.model_dump(mode="json") if data.performance else None,
        "on_drift": list(dict.fromkeys(actions.on_drift)),
        "on_decay": list(dict.fromkeys(actions.on_decay)),
        "retrain": retrain.model_dump(mode="json", exclude_unset=True) if retrain else None,
    }
    if monitor is None:
        monitor = repository.add_monitor(
            session,
            Monitor(
                deployment_id=deployment.id,
                schedule_name=schedule_name(deployment),
                config={},
                created_by=actor.username,
                created_at=now,
                updated_by=actor.username,
                updated_at=now,
            ),
        )
        if monitor is None:
            # A concurrent PUT added it first (Postgres made this insert wait for that one): replace it.
            created = False
            monitor = repository.lock_monitor(session, deployment.id)
            if monitor is None:
                raise MonitorConflict(f"the monitor of deployment {deployment.name!r} changed meanwhile; try again")
            secret = _secret(data, monitor)
    monitor.every_seconds, monitor.cron, monitor.config = every_seconds, cron, config
    monitor.alert_url, monitor.alert_secret = alert_url, secret
    monitor.enabled = data.enabled
    monitor.updated_by, monitor.updated_at = actor.username, now
    session.flush()
    schedules.put_managed_schedule(
        session,
        actor,
        name=monitor.schedule_name,
        job_type=DRIFT_CHECK,
        spec=drift_spec,
        every_seconds=every_seconds,
        cron=cron,
        enabled=data.enabled,
        managed_by=f"deployment-monitor:{deployment.name}",
    )
    audit.record(
        session,
        actor,
        "monitor.create" if created else "monitor.update",
        "deployment",
        deployment.name,
        # No URL (its path or query may hold a token of the receiver's) and never the secret.
        {
            "every_seconds": every_seconds,
            "cron": cron,
            "window": config["window"],
            "on_drift": config["on_drift"],
            "on_decay": config["on_decay"],
            "alert": alert_url is not None,
            "enabled": data.enabled,
        },
    )
    return _monitor_read(session, deployment, monitor), created


def get_monitor(session: Session, name: str) -> MonitorRead:
    """The monitor (its secret masked), its schedule's next and last run, and the newest report."""
    deployment = deployments.get(session, name)
    monitor = repository.get_monitor(session, deployment.id)
    if monitor is None:
        raise MonitorNotFound(f"deployment {deployment.name!r} has no monitor; PUT one")
    return _monitor_read(session, deployment, monitor)


def delete_monitor(session: Session, actor: Principal, name: str) -> None:
    """The monitor and its schedule go; its reports and their actions stay."""
    deployment = deployments.get(session, name)
    monitor = repository.lock_monitor(session, deployment.id)
    if monitor is None:
        raise MonitorNotFound(f"deployment {deployment.name!r} has no monitor")
    schedules.delete_managed_schedule(session, actor, monitor.schedule_name)
    repository.delete_monitor(session, monitor)
    audit.record(session, actor, "monitor.delete", "deployment", deployment.name)


def schedule_name(deployment: Deployment) -> str:
    return f"deployment-monitor.{deployment.folded_name}"


def _drift_spec(deployment: Deployment, data: MonitorPut) -> dict[str, Any]:
    """The spec of each scheduled drift check. The reference stays as given: left out, each
    check compares with what the version serving then was trained on."""
    spec: dict[str, Any] = {
        "deployment": deployment.name,
        "window": data.window.model_dump(mode="json", exclude_none=True),
    }
    if data.reference is not None:
        spec["reference"] = data.reference
    if data.options is not None:
        spec["options"] = data.options.model_dump(mode="json")
    if data.performance is not None:
        spec["performance"] = data.performance.model_dump(mode="json", exclude_none=True)
    return spec


def _timing(data: MonitorPut) -> tuple[int | None, str | None]:
    every = data.every
    if (every is None) == (data.cron is None):
        raise InvalidInput("give exactly one of every (e.g. 1h) and cron (e.g. 0 * * * *)", field="every")
    if every is None:
        return None, data.cron  # checked by the schedule, as a schedule's cron is
    try:
        return interval_seconds(every), None
    except TimingError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc


def _check_retrain(session: Session, deployment: str, retrain: RetrainAction) -> None:
    try:
        retraining.check_spec_of(
            session, {"deployment": deployment, **retrain.model_dump(mode="json", exclude_unset=True)}
        )
    except InvalidSpec as exc:
        field = exc.extra.get("field")
        where = "actions.retrain" if field in (None, "deployment") else f"actions.retrain.{field}"
        raise InvalidInput(f"the retrain action: {exc.detail}", field=where) from exc


def _secret(data: MonitorPut, monitor: Monitor | None) -> str | None:
    """The webhook secret to keep: the one given, else the one set before; none without a webhook."""
    alert = data.actions.alert
    if alert is None:
        return None
    if alert.secret is not None:
        return alert.secret.get_secret_value()
    if monitor is not None and monitor.alert_secret:
        return monitor.alert_secret
    raise InvalidInput(
        "actions.alert needs a secret (at least 16 characters) to sign its deliveries with",
        field="actions.alert.secret",
    )


def _monitor_read(session: Session, deployment: Deployment, monitor: Monitor) -> MonitorRead:
    config = monitor.config
    try:
        schedule = schedules.get_schedule(session, monitor.schedule_name)
        schedule_read = MonitorScheduleRead.model_validate(schedule.model_dump())
    except ScheduleNotFound:
        schedule_read = None
    newest = repository.list_reports(session, deployment.id, before_id=None, limit=1)
    last = None
    if newest:
        last = summary(newest[0], deployment.name, _actions_by_report(session, [newest[0].id]).get(newest[0].id, []))
    return MonitorRead(
        deployment=deployment.name,
        every_seconds=monitor.every_seconds,
        cron=monitor.cron,
        window=dict(config.get("window") or {}),
        reference=config.get("reference"),
        options=config.get("options"),
        performance=config.get("performance"),
        actions=MonitorActionsRead(
            alert=AlertRead(url=monitor.alert_url, secret=SECRET_MASK) if monitor.alert_url else None,
            on_drift=list(config.get("on_drift") or []),
            on_decay=list(config.get("on_decay") or []),
            retrain=config.get("retrain"),
        ),
        enabled=monitor.enabled,
        schedule=schedule_read,
        last_report=last,
        created_by=monitor.created_by,
        created_at=monitor.created_at,
        updated_by=monitor.updated_by,
        updated_at=monitor.updated_at,
    )


# ---- what a monitor does about a report (app.monitoring.actions runs it) -------------------------

DRIFT_EVENT = "drift.detected"
DECAY_EVENT = "decay.detected"


@dataclass(frozen=True)
class DueActions:
    """A stored report that found drift or decay, and what the deployment's monitor does about it."""

    report_id: int
    deployment_id: int
    deployment: str
    job_id: str
    drift_detected: bool
    decay_detected: bool
    drifted_share: float
    drifted_columns: list[str]
    window_start: datetime
    window_end: datetime
    alert_url: str | None
    alert_secret: str | None = field(repr=False)
    on_drift: list[str]
    on_decay: list[str]
    retrain: dict[str, Any] | None

    @property
    def events(self) -> list[str]:
        return [
            event for event, seen in ((DRIFT_EVENT, self.drift_detected), (DECAY_EVENT, self.decay_detected)) if seen
        ]

    def wanted(self, event: str) -> list[str]:
        return self.on_drift if event == DRIFT_EVENT else self.on_decay


def due_actions(session: Session, report_id: int) -> DueActions | None:
    """None when the report found nothing, or its deployment has no monitor (or it is paused)."""
    found = repository.get_report(session, report_id)
    if found is None:
        return None
    report, name = found
    monitor = repository.get_monitor(session, report.deployment_id)
    if monitor is None or not monitor.enabled or not (report.drift_detected or report.decay_detected):
        return None
    return DueActions(
        report_id=report.id,
        deployment_id=report.deployment_id,
        deployment=name,
        job_id=report.job_id,
        drift_detected=report.drift_detected,
        decay_detected=bool(report.decay_detected),
        drifted_share=report.drifted_share,
        drifted_columns=list(report.body.get("drifted_columns", [])),
        window_start=report.window_start,
        window_end=report.window_end,
        alert_url=monitor.alert_url,
        alert_secret=monitor.alert_secret,
        on_drift=list(monitor.config.get("on_drift") or []),
        on_decay=list(monitor.config.get("on_decay") or []),
        retrain=monitor.config.get("retrain"),
    )


def claim_alert(session: Session, report_id: int, event: str) -> bool:
    """Whether this attempt sends the report's alert for `event`: not when one was sent already
    (an attempt that died while sending left it `sending`, and it is sent again)."""
    existing = repository.find_action(session, report_id, "alert", event)
    if existing is not None:
        return existing.status == "sending"
    added = repository.add_action(
        session, MonitorAction(report_id=report_id, action="alert", event=event, status="sending", detail="")
    )
    return added is not None


def record_delivery(session: Session, report_id: int, event: str, delivery: DeliveryRead) -> None:
    action = repository.find_action(session, report_id, "alert", event)
    if action is None:
        return
    action.status = delivery.status.value
    action.delivery_id = delivery.id
    action.detail = delivery.error or ""
    action.finished_at = utcnow()
    session.flush()


def decide_retrain(
    session: Session, queue: JobQueue, actor: Principal, due: DueActions, event: str, *, check_spec: SpecCheck
) -> None:
    """Submit the monitor's retrain job for the report, once; not while a retrain or a rollout of
    the deployment is still going (the skip and why are recorded). Under the monitor's row lock,
    so two reports deciding at once submit one job."""
    if repository.lock_monitor(session, due.deployment_id) is None:
        return  # deleted meanwhile
    if repository.find_action(session, due.report_id, "retrain") is not None:
        return
    reason = _retrain_busy(session, due.deployment)
    job_id = None
    if reason is None:
        spec = {
            "deployment": due.deployment,
            **(due.retrain or {}),
            "reason": f"{event} by drift report {due.report_id} (drifted share {due.drifted_share:.2f})",
        }
        try:
            with session.begin_nested():
                job, _ = jobs.submit_job(
                    session,
                    queue,
                    actor,
                    JobCreate(type=JobType.retrain, spec=spec),
                    idempotency_key=None,
                    check_spec=check_spec,
                )
            job_id = job.id
        except AppError as exc:
            reason = f"the retrain job was refused: {exc.detail}"
    repository.add_action(
        session,
        MonitorAction(
            report_id=due.report_id,
            action="retrain",
            event=event,
            status="submitted" if job_id else "skipped",
            job_id=job_id,
            detail=reason or "",
            finished_at=utcnow(),
        ),
    )
    audit.record(
        session,
        actor,
        "monitor.retrain",
        "deployment",
        due.deployment,
        {"report_id": due.report_id, "event": event, "job_id": job_id, "skipped": reason},
    )


def report_actions(session: Session, report_id: int) -> list[ReportAction]:
    return _actions_by_report(session, [report_id]).get(report_id, [])


def _retrain_busy(session: Session, deployment: str) -> str | None:
    """Why a retrain must wait: one of the deployment's is still queued or running, or a rollout is in progress."""
    folded = fold_name(deployment)
    for job in jobs.unfinished_jobs(session, JobType.retrain.value):
        if fold_name(str(job.spec.get("deployment", ""))) == folded:
            return f"retrain job {job.id} of deployment {deployment!r} is still {job.status}"
    if deployments.get(session, deployment).state == "rolling_out":
        return f"a rollout of deployment {deployment!r} is in progress"
    return None
