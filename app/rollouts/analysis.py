"""The rollout analysis job: every tick it re-reads the rollout row (so a retried attempt
resumes where the last one stopped), waits for every live replica to apply the step, holds the
interval, reads the step's statistics and advances, promotes, rolls back or keeps waiting. It
ends when the rollout leaves `progressing`; any failure of its own stops the rollout too."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.auth.security import Role
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Deployment, Rollout
from app.errors import DeploymentConflict, InvalidSpec
from app.jobs.context import JobCancelled, JobContext, LeaseLost
from app.jobs.runner import JobRuntime, succeed
from app.rollouts import service
from app.rollouts.decision import decide
from app.rollouts.schemas import RolloutState

logger = logging.getLogger("shipyard.rollouts")

# (session, deployment id, model version id, since) -> (value, rows) of a live metric from
# feedback, or None when there is none yet.
LiveMetric = Callable[[Session, int, int, datetime], tuple[float, int] | None]


@dataclass
class _Tick:
    done: bool
    fraction: float
    message: str
    result: dict[str, Any] = field(default_factory=dict)


def check_spec(*_: Any, **__: Any) -> dict[str, Any]:
    raise InvalidSpec("rollout_analysis jobs are started by a rollout (POST /deployments/{name}/rollouts), not by hand")


def run(runtime: JobRuntime, ctx: JobContext, live_metric: LiveMetric | None = None) -> None:
    rollout_id = int(ctx.spec["rollout_id"])
    try:
        while True:
            try:
                with runtime.sessions.begin() as session:
                    tick = _tick(runtime, session, ctx, rollout_id, live_metric)
                    if tick.done:
                        succeed(runtime, session, ctx, tick.result)
                        return
            except DeploymentConflict:
                # A person's change holds the deployment right now: look again on the next tick.
                tick = _Tick(False, 0.0, "waiting for another change of the deployment to finish")
            ctx.progress(tick.fraction, tick.message)
            time.sleep(_poll_seconds(runtime))
    except LeaseLost:
        raise  # another attempt owns the rollout now
    except Exception as exc:
        _stop(runtime, ctx, rollout_id, exc)
        raise


def abandon(session: Session, job_id: str) -> None:
    """The job failed for good (its workers died): the rollout must not stay half-way."""
    rollout = service.rollout_of_job(session, job_id)
    if rollout is None or rollout.state != RolloutState.PROGRESSING.value:
        return
    locked = service.lock_for_analysis(session, rollout.id)
    if locked is not None:
        rollout, deployment = locked
        if rollout.state == RolloutState.PROGRESSING.value:
            service.lock_deployment(session, deployment)
            service.finish(
                session, None, _system(rollout), deployment, rollout, RolloutState.FAILED, "its analysis job died"
            )


def _system(rollout: Rollout) -> Principal:
    return Principal(user_id=None, username=rollout.created_by, role=Role.editor)


def _poll_seconds(runtime: JobRuntime) -> float:
    return max(0.1, min(1.0, runtime.settings.serving_stats_flush_seconds))


def _stop(runtime: JobRuntime, ctx: JobContext, rollout_id: int, exc: BaseException) -> None:
    """Traffic back to the primary after the analysis itself failed (or was cancelled)."""
    for _ in range(20):
        try:
            _stop_once(runtime, ctx, rollout_id, exc)
            return
        except DeploymentConflict:
            time.sleep(0.25)  # a person's change holds the deployment; it may end the rollout itself
        except Exception:
            logger.exception("rollout %s: could not stop it after its analysis failed", rollout_id)
            return
    logger.error("rollout %s: could not stop it after its analysis failed: the deployment stayed locked", rollout_id)


def _stop_once(runtime: JobRuntime, ctx: JobContext, rollout_id: int, exc: BaseException) -> None:
    with runtime.sessions.begin() as session:
        locked = service.lock_for_analysis(session, rollout_id)
        if locked is None:
            return
        rollout, deployment = locked
        if rollout.state != RolloutState.PROGRESSING.value:
            return
        service.lock_deployment(session, deployment)
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        cancelled = isinstance(exc, JobCancelled)
        service.finish(
            session,
            None,
            ctx.actor,
            deployment,
            rollout,
            RolloutState.ABORTED if cancelled else RolloutState.FAILED,
            "its analysis job was cancelled" if cancelled else f"the analysis stopped: {detail}"[:2000],
        )


def _tick(
    runtime: JobRuntime, session: Session, ctx: JobContext, rollout_id: int, live_metric: LiveMetric | None
) -> _Tick:
    locked = service.lock_for_analysis(session, rollout_id)
    if locked is None:
        return _Tick(True, 1.0, "the rollout is gone", {"state": "gone"})
    rollout, deployment = locked
    if rollout.state != RolloutState.PROGRESSING.value:
        return _Tick(True, 1.0, f"rollout {rollout.state}", {"state": rollout.state, "reason": rollout.reason})
    steps = len(rollout.steps)
    now = utcnow()
    label = f"step {rollout.current_step + 1} of {steps} ({rollout.steps[rollout.current_step]}%)"
    if rollout.step_started_at is None:
        settings = runtime.settings
        lagging = service.lagging_replicas(
            session, rollout.step_generation, timedelta(seconds=settings.serving_replica_live_seconds)
        )
        if lagging:
            waited = (now - rollout.step_entered_at).total_seconds()
            names = ", ".join(f"{replica} (at generation {generation})" for replica, generation in lagging)
            if waited > settings.rollout_replica_timeout_seconds:
                reason = (
                    f"replica {names} did not apply serving generation {rollout.step_generation} of {label} "
                    f"within {settings.rollout_replica_timeout_seconds:g} s"
                )
                return _end(session, ctx, deployment, rollout, RolloutState.FAILED, reason)
            return _Tick(False, _fraction(rollout, 0), f"{label}: waiting for {names} to apply the weights")
        rollout.step_started_at = now
        rollout.updated_at = now
    held = (now - rollout.step_started_at).total_seconds()
    scope = [rollout.step_revision]
    candidate = service.step_stats(session, deployment, scope, rollout.model, rollout.candidate_version)
    analysis = service.report(session, deployment, rollout, scope)
    analysis.update({"step": rollout.current_step + 1, "held_seconds": round(held, 3), "at": now.isoformat()})
    rollout.analysis = analysis
    fraction = _fraction(rollout, held)
    if rollout.strategy == "blue_green":
        # At 0% the candidate gets no traffic to judge: every replica loaded it (the step's
        # clock started) and it held one interval warm; then the switch.
        if held < rollout.interval_seconds:
            return _Tick(False, fraction, f"blue-green: version {rollout.candidate_version} warm, switching soon")
        return _end(session, ctx, deployment, rollout, RolloutState.PROMOTED, "warm on every replica for one interval")
    live = None
    if live_metric is not None:
        since = rollout.step_started_at
        mine = live_metric(session, deployment.id, rollout.candidate_version_id, since)
        theirs = live_metric(session, deployment.id, rollout.primary_version_id, since)
        if mine is not None and theirs is not None:
            live = (mine, theirs)
            analysis["live_metric"] = {"candidate": list(mine), "primary": list(theirs)}
    decision = decide(
        service.thresholds_of(rollout),
        candidate,
        held_seconds=held,
        interval_seconds=rollout.interval_seconds,
        last_step=rollout.current_step == steps - 1,
        live=live,
    )
    message = f"{label}: {decision.reason}"
    if decision.action == "wait":
        rollout.reason = decision.reason
        return _Tick(False, fraction, message)
    if decision.action == "rollback":
        return _end(session, ctx, deployment, rollout, RolloutState.ROLLED_BACK, f"{label}: {decision.reason}")
    if decision.action == "promote":
        return _end(session, ctx, deployment, rollout, RolloutState.PROMOTED, f"{label}: {decision.reason}")
    service.lock_deployment(session, deployment)
    service.advance(session, ctx.actor, deployment, rollout, f"{label} {decision.reason}")
    return _Tick(False, _fraction(rollout, 0), f"advanced to step {rollout.current_step + 1} of {steps}")


def _end(
    session: Session, ctx: JobContext, deployment: Deployment, rollout: Rollout, outcome: RolloutState, reason: str
) -> _Tick:
    service.lock_deployment(session, deployment)
    service.finish(session, None, ctx.actor, deployment, rollout, outcome, reason)
    return _Tick(True, 1.0, f"rollout {outcome.value}: {reason}", {"state": outcome.value, "reason": reason})


def _fraction(rollout: Rollout, held: float) -> float:
    within = min(held / rollout.interval_seconds, 1.0) if rollout.interval_seconds else 1.0
    return (rollout.current_step + within) / (len(rollout.steps) + 1)
