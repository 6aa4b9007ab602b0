"""What a drift_check job does, once its report is stored, when the report found drift or decay
and the deployment has a monitor: `alert` posts a signed webhook (drift.detected, decay.detected)
through the one outbound client; `retrain` submits a retrain job, once per report, and not while
a retrain or a rollout of the deployment is still going. Each action is recorded against the
report, so a retried attempt of the job takes only the ones not taken yet."""

import functools
import logging
from typing import Any

from app.jobs.context import JobContext
from app.jobs.runner import JobRuntime
from app.monitoring import service
from app.retraining import service as retraining
from app.webhooks import service as webhooks

logger = logging.getLogger("shipyard.monitoring")


def carry_out(runtime: JobRuntime, ctx: JobContext, report_id: int) -> list[dict[str, Any]]:
    """Take the monitor's actions on the report; return every action recorded for it."""
    with runtime.sessions.begin(write=False) as session:
        due = service.due_actions(session, report_id)
    if due is not None:
        for event in due.events:
            if "alert" in due.wanted(event) and due.alert_url:
                _alert(runtime, ctx, due, event)
        retrain_events = [event for event in due.events if "retrain" in due.wanted(event)]
        if retrain_events:
            ctx.progress(0.99, f"deciding on a retrain of {due.deployment}")
            check = functools.partial(retraining.check_job_spec, protected_aliases=runtime.settings.protected_aliases)
            with runtime.sessions.begin() as session:
                service.decide_retrain(session, runtime.queue, ctx.actor, due, retrain_events[0], check_spec=check)
    with runtime.sessions.begin(write=False) as session:
        return [action.model_dump(mode="json") for action in service.report_actions(session, report_id)]


def _alert(runtime: JobRuntime, ctx: JobContext, due: service.DueActions, event: str) -> None:
    with runtime.sessions.begin() as session:
        if not service.claim_alert(session, due.report_id, event):
            return
    ctx.progress(0.98, f"sending {event} to the monitor's webhook")
    assert due.alert_url is not None
    delivery = webhooks.deliver(
        runtime.sessions,
        webhooks.outbound_client(runtime.settings),
        url=due.alert_url,
        secret=due.alert_secret,
        event=event,
        payload=_payload(runtime, due),
        deployment_id=due.deployment_id,
        settings=runtime.settings,
    )
    with runtime.sessions.begin() as session:
        service.record_delivery(session, due.report_id, event, delivery)
    logger.info("drift report %s: %s to the monitor's webhook %s", due.report_id, event, delivery.status.value)


def _payload(runtime: JobRuntime, due: service.DueActions) -> dict[str, Any]:
    path = f"/api/v1/drift-reports/{due.report_id}"
    base = runtime.settings.public_url
    return {
        "deployment": due.deployment,
        "report_id": due.report_id,
        "report_url": f"{base.rstrip('/')}{path}" if base else path,
        "drift_detected": due.drift_detected,
        "decay_detected": due.decay_detected,
        "drifted_share": due.drifted_share,
        "drifted_columns": due.drifted_columns,
        "window_start": due.window_start.isoformat(),
        "window_end": due.window_end.isoformat(),
        "drift_check_job_id": due.job_id,
    }
