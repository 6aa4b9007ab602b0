"""Rollout use cases: start a canary, blue-green, shadow or A/B rollout, promote, roll back or
abort it, read its history; the serving statistics and heartbeats its analysis reads. Every
transition is a deployment revision (with its audit event) written through the deployments
service; the analysis job itself is app.rollouts.analysis."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Deployment, Rollout, ServingStats
from app.deployments import service as deployments
from app.deployments.schemas import DeploymentRead, RollbackCreate, RolloutCreate, RolloutPlan, RouteMode, Strategy
from app.errors import (
    DeploymentConflict,
    InvalidInput,
    InvalidState,
    NoRolloutInProgress,
    NothingToPromote,
    RolloutInProgress,
)
from app.jobs import service as jobs
from app.jobs.queue import JobQueue
from app.jobs.schemas import JobCreate, JobType
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.rollouts import repository
from app.rollouts.decision import StepStats, Thresholds
from app.rollouts.schemas import RolloutRead, RolloutState
from app.serving.state import ServingState
from app.serving.stats import Counts, StatsKey

DEFAULT_STEPS = [10, 25, 50, 100]
# Strategies whose analysis runs as a job; shadow and ab end only by a person's promote or rollback.
ANALYSED = frozenset({Strategy.CANARY, Strategy.BLUE_GREEN})


def start_rollout(
    session: Session,
    state: ServingState,
    queue: JobQueue,
    actor: Principal,
    name: str,
    data: RolloutCreate,
    rules: deployments.ServingRules,
) -> DeploymentRead:
    strategy = Strategy(data.strategy)
    check_plan(data)
    deployment = deployments.lock(session, name)
    if repository.lock_active_rollout(session, deployment.id) is not None:
        raise _in_progress(name)
    if strategy == Strategy.DIRECT:
        direct = deployments.roll_out_directly(session, state, actor, deployment, data.version, data.reason, rules)
        return read_deployment(session, name, direct)
    current = deployments.current_targets(session, deployment)
    if len(current) != 1 or current[0].mode != RouteMode.PRIMARY:
        raise InvalidState(f"deployment {name!r} does not route all its traffic to one primary version")
    primary = current[0]
    model, version = deployments.deployable(session, actor, primary.model.name, str(data.version), rules)
    if version.id == primary.version.id:
        raise DeploymentConflict(f"deployment {name!r} already serves version {version.version} of {model.name!r}")
    steps = _steps(strategy, data)
    candidate = deployments.Target(model, version, steps[0], _candidate_mode(strategy))
    deployments.warm(state, [candidate], already={primary.version.id})
    base_revision = deployment.current_revision
    targets = _split(primary, candidate, steps[0])
    reason = data.reason or _step_reason(strategy, 0, steps, version.version)
    deployments.write_revision(
        session,
        state,
        actor,
        deployment,
        targets,
        strategy,
        reason,
        "deployment.rollout",
        {"strategy": strategy.value, "candidate_version": version.version},
    )
    thresholds = Thresholds(
        max_error_rate=data.max_error_rate,
        max_p95_ms=data.max_p95_ms,
        min_requests=data.min_requests,
        step_timeout_seconds=data.step_timeout_seconds or 3 * data.interval_seconds,
        max_live_metric_drop=data.max_live_metric_drop,
    )
    now = utcnow()
    rollout = repository.add_rollout(
        session,
        Rollout(
            deployment_id=deployment.id,
            active_deployment_id=deployment.id,
            strategy=strategy.value,
            primary_version_id=primary.version.id,
            candidate_version_id=version.id,
            model=model.name,
            primary_version=primary.version.version,
            candidate_version=version.version,
            steps=steps,
            interval_seconds=data.interval_seconds,
            thresholds=vars(thresholds),
            state=RolloutState.PROGRESSING.value,
            current_step=0,
            step_revision=deployment.current_revision,
            step_generation=deployment.route_generation,
            step_entered_at=now,
            base_revision=base_revision,
            reason=reason,
            created_by=actor.username,
            created_at=now,
            updated_at=now,
        ),
    )
    deployment.state = "rolling_out"
    if strategy in ANALYSED:
        job, _ = jobs.submit_job(
            session,
            queue,
            actor,
            JobCreate(type=JobType.rollout_analysis, spec={"rollout_id": rollout.id}, max_attempts=10),
            idempotency_key=None,
            check_spec=lambda _session, _actor, _type, spec: spec,
        )
        rollout.job_id = job.id
    session.flush()
    return read_deployment(session, name)


def read_deployment(session: Session, name: str, read: DeploymentRead | None = None) -> DeploymentRead:
    """The deployment with its rollout in progress, if any."""
    read = read or deployments.get_deployment(session, name)
    deployment = deployments.get(session, name)
    active = repository.active_rollout(session, deployment.id)
    return read.model_copy(update={"rollout": _read_now(session, deployment, active) if active is not None else None})


def list_rollouts(
    session: Session, name: str, *, page_token: str | None, max_results: int
) -> tuple[list[RolloutRead], str | None]:
    deployment = deployments.get(session, name)
    before = int_from_cursor(decode_page_token(page_token), "before")
    found = repository.list_rollouts(session, deployment.id, before=before, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda r: {"before": r.id})
    return [_read_now(session, deployment, r) for r in page], next_token


def _read_now(session: Session, deployment: Deployment, rollout: Rollout) -> RolloutRead:
    """The rollout; an A/B or shadow one in progress with its per-variant statistics as of now
    (no analysis job writes them)."""
    read = rollout_read(rollout)
    if rollout.state == RolloutState.PROGRESSING.value and rollout.strategy not in {s.value for s in ANALYSED}:
        read = read.model_copy(update={"analysis": report(session, deployment, rollout, revisions_of(rollout))})
    return read


def promote(session: Session, state: ServingState, actor: Principal, name: str) -> DeploymentRead:
    """The candidate of the rollout in progress takes all the traffic as the primary."""
    deployment = deployments.lock(session, name)
    rollout = repository.lock_active_rollout(session, deployment.id)
    if rollout is None:
        raise NothingToPromote(
            f"deployment {name!r} has no rollout in progress (a direct rollout takes all the traffic at once)"
        )
    finish(session, state, actor, deployment, rollout, RolloutState.PROMOTED, "promoted by hand")
    return read_deployment(session, name)


def rollback(
    session: Session,
    state: ServingState,
    actor: Principal,
    name: str,
    data: RollbackCreate,
    rules: deployments.ServingRules,
) -> DeploymentRead:
    """During a rollout: the primary takes all the traffic back and the rollout is rolled back.
    After a promoted rollout: back to the revision before the rollout. Else: the previous revision."""
    deployment = deployments.lock(session, name)
    rollout = repository.lock_active_rollout(session, deployment.id)
    if rollout is not None:
        finish(
            session, state, actor, deployment, rollout, RolloutState.ROLLED_BACK, data.reason or "rolled back by hand"
        )
        return read_deployment(session, name)
    latest = repository.latest_rollout(session, deployment.id)
    to_revision = None
    if latest is not None and latest.final_revision == deployment.current_revision:
        to_revision = latest.base_revision
    return read_deployment(
        session, name, deployments.rollback(session, state, actor, name, data, rules, to_revision=to_revision)
    )


def abort(session: Session, state: ServingState, actor: Principal, name: str, reason: str) -> DeploymentRead:
    deployment = deployments.lock(session, name)
    rollout = repository.lock_active_rollout(session, deployment.id)
    if rollout is None:
        raise NoRolloutInProgress(f"deployment {name!r} has no rollout in progress to abort")
    finish(session, state, actor, deployment, rollout, RolloutState.ABORTED, reason or "aborted by hand")
    return read_deployment(session, name)


# ---- transitions, shared with the analysis job -------------------------------------------------


def finish(
    session: Session,
    state: ServingState | None,
    actor: Principal,
    deployment: Deployment,
    rollout: Rollout,
    outcome: RolloutState,
    reason: str,
) -> None:
    """End the rollout: promoted, the candidate is the one primary; else the primary takes all
    the traffic back. Both are a new revision."""
    now = utcnow()
    if outcome == RolloutState.PROMOTED:
        targets = [deployments.target_of_version(session, rollout.candidate_version_id, 100, RouteMode.PRIMARY)]
        action = "deployment.promote"
    else:
        targets = [deployments.target_of_version(session, rollout.primary_version_id, 100, RouteMode.PRIMARY)]
        action = "deployment.rollback" if outcome != RolloutState.ABORTED else "deployment.rollout_abort"
    deployments.write_revision(
        session,
        state,
        actor,
        deployment,
        targets,
        Strategy(rollout.strategy),
        f"rollout {outcome.value}: {reason}",
        action,
        {"rollout": rollout.id, "rollout_state": outcome.value},
    )
    rollout.state = outcome.value
    rollout.active_deployment_id = None
    rollout.reason = reason
    rollout.final_revision = deployment.current_revision
    rollout.finished_at = now
    rollout.updated_at = now
    deployment.state = "serving"
    session.flush()


def advance(session: Session, actor: Principal, deployment: Deployment, rollout: Rollout, reason: str) -> None:
    """The next step's weights, as a new revision whose clock starts once every replica has it."""
    step = rollout.current_step + 1
    weight = rollout.steps[step]
    strategy = Strategy(rollout.strategy)
    primary = deployments.target_of_version(session, rollout.primary_version_id, 100, RouteMode.PRIMARY)
    candidate = deployments.target_of_version(session, rollout.candidate_version_id, weight, _candidate_mode(strategy))
    deployments.write_revision(
        session,
        None,
        actor,
        deployment,
        _split(primary, candidate, weight),
        strategy,
        f"{_step_reason(strategy, step, rollout.steps, rollout.candidate_version)} ({reason})",
        "deployment.rollout_step",
        {"rollout": rollout.id, "step": step + 1, "weight": weight},
    )
    now = utcnow()
    rollout.current_step = step
    rollout.step_revision = deployment.current_revision
    rollout.step_generation = deployment.route_generation
    rollout.step_entered_at = now
    rollout.step_started_at = None
    rollout.reason = reason
    rollout.updated_at = now
    session.flush()


def candidate_weight(rollout: Rollout) -> int:
    if rollout.state == RolloutState.PROMOTED.value:
        return 100
    if rollout.state != RolloutState.PROGRESSING.value:
        return 0
    return int(rollout.steps[rollout.current_step])


def rollout_read(rollout: Rollout) -> RolloutRead:
    return RolloutRead(
        id=rollout.id,
        strategy=rollout.strategy,
        model=rollout.model,
        primary_version=rollout.primary_version,
        candidate_version=rollout.candidate_version,
        state=RolloutState(rollout.state),
        steps=list(rollout.steps),
        step=rollout.current_step + 1,
        weight=candidate_weight(rollout),
        interval_seconds=rollout.interval_seconds,
        thresholds=dict(rollout.thresholds),
        step_started_at=rollout.step_started_at,
        reason=rollout.reason,
        analysis=rollout.analysis,
        job_id=rollout.job_id,
        created_by=rollout.created_by,
        created_at=rollout.created_at,
        updated_at=rollout.updated_at,
        finished_at=rollout.finished_at,
    )


def thresholds_of(rollout: Rollout) -> Thresholds:
    return Thresholds(**rollout.thresholds)


def lock_for_analysis(session: Session, rollout_id: int) -> tuple[Rollout, Deployment] | None:
    """The rollout, its row locked (a person's promote or rollback waits for this tick), and its
    deployment, not locked: a tick that only reads holds no lock a person's change would meet."""
    rollout = repository.lock_rollout(session, rollout_id)
    if rollout is None:
        return None
    deployment = repository.get_deployment(session, rollout.deployment_id)
    if deployment is None:
        return None
    return rollout, deployment


def lock_deployment(session: Session, deployment: Deployment) -> None:
    """Before a transition of the analysis: DeploymentConflict at once when a person's change
    holds the deployment (the tick is retried)."""
    repository.lock_deployment(session, deployment.id)
    session.refresh(deployment)


def rollout_of_job(session: Session, job_id: str) -> Rollout | None:
    return repository.rollout_of_job(session, job_id)


# ---- what the analysis reads -------------------------------------------------------------------


def record_stats(session: Session, replica: str, taken: Mapping[StatsKey, Counts], now: datetime) -> None:
    repository.add_stats(
        session,
        [
            ServingStats(
                deployment=deployment,
                revision=revision,
                model=model,
                version=version,
                replica=replica,
                requests=counts.requests,
                errors=counts.errors,
                latency_buckets=list(counts.latency_buckets),
                shadow_compared=counts.shadow_compared,
                shadow_agreed=counts.shadow_agreed,
                shadow_dropped=counts.shadow_dropped,
                flushed_at=now,
            )
            for (deployment, revision, model, version), counts in taken.items()
        ],
    )


def latest_states(session: Session) -> list[tuple[str, str]]:
    """(deployment name, state of its latest rollout) for every deployment that had one."""
    return repository.latest_states(session)


def forget_replica(session: Session, replica: str) -> None:
    repository.delete_replica(session, replica)


def record_heartbeat(session: Session, replica: str, generation: int) -> None:
    repository.record_replica(session, replica, generation, utcnow())


def lagging_replicas(session: Session, generation: int, live_within: timedelta) -> list[tuple[str, int]]:
    """(replica, applied generation) of each live serving process that has not applied `generation`."""
    live = repository.live_replicas(session, utcnow() - live_within)
    return [(r.replica, r.generation) for r in live if r.generation < generation]


def step_stats(
    session: Session, deployment: Deployment, revisions: Sequence[int], model: str, version: int
) -> StepStats:
    """The summed counts of one version over the given revisions of the deployment, from every replica."""
    requests = errors = compared = agreed = dropped = 0
    buckets: list[int] | None = None
    for row in repository.stats_of_revisions(session, deployment.folded_name, revisions):
        if row.model != model or row.version != version:
            continue
        requests += row.requests
        errors += row.errors
        compared += row.shadow_compared
        agreed += row.shadow_agreed
        dropped += row.shadow_dropped
        buckets = (
            list(row.latency_buckets)
            if buckets is None
            else [a + b for a, b in zip(buckets, row.latency_buckets, strict=False)]
        )
    return StepStats(requests, errors, tuple(buckets or ()), compared, agreed, dropped)


def revisions_of(rollout: Rollout) -> list[int]:
    """Every revision the rollout has written so far (its steps are consecutive revisions)."""
    return list(range(rollout.base_revision + 1, rollout.step_revision + 1))


def report(session: Session, deployment: Deployment, rollout: Rollout, scope: Sequence[int]) -> dict[str, Any]:
    candidate = step_stats(session, deployment, scope, rollout.model, rollout.candidate_version)
    primary = step_stats(session, deployment, scope, rollout.model, rollout.primary_version)
    return {"candidate": candidate.summary(), "primary": primary.summary()}


# ---- helpers -----------------------------------------------------------------------------------


def _in_progress(name: str) -> RolloutInProgress:
    return RolloutInProgress(f"deployment {name!r} has a rollout in progress; promote, roll back or abort it first")


def check_plan(data: RolloutPlan) -> None:
    """The rules across fields of a rollout, which the schema cannot state: InvalidInput naming the field."""
    steps = data.steps
    if steps is not None and (any(b <= a for a, b in zip(steps, steps[1:], strict=False)) or steps[-1] != 100):
        raise InvalidInput("steps must rise strictly and end at 100, e.g. [10, 25, 50, 100]", field="steps")
    if data.step_timeout_seconds is not None and data.step_timeout_seconds < data.interval_seconds:
        raise InvalidInput("step_timeout_seconds must be at least interval_seconds", field="step_timeout_seconds")


def _steps(strategy: Strategy, data: RolloutCreate) -> list[int]:
    if strategy == Strategy.CANARY:
        return list(data.steps or DEFAULT_STEPS)
    if strategy == Strategy.AB:
        return [data.weight]
    # blue_green: warmed at 0, then all at once; shadow: a copy of the traffic, no share of it.
    return [0]


def _candidate_mode(strategy: Strategy) -> RouteMode:
    return RouteMode.SHADOW if strategy == Strategy.SHADOW else RouteMode.CANARY


def _split(primary: deployments.Target, candidate: deployments.Target, weight: int) -> list[deployments.Target]:
    if weight >= 100:
        return [deployments.Target(candidate.model, candidate.version, 100, RouteMode.PRIMARY)]
    return [
        deployments.Target(primary.model, primary.version, 100 - weight, RouteMode.PRIMARY),
        deployments.Target(candidate.model, candidate.version, weight, candidate.mode),
    ]


def _step_reason(strategy: Strategy, step: int, steps: Sequence[int], version: int) -> str:
    if strategy == Strategy.CANARY:
        return f"canary of version {version}: step {step + 1} of {len(steps)}, {steps[step]}%"
    if strategy == Strategy.BLUE_GREEN:
        return f"blue-green: version {version} warmed at 0%"
    if strategy == Strategy.SHADOW:
        return f"shadow: version {version} gets a copy of every request"
    return f"A/B: version {version} takes {steps[0]}%"
