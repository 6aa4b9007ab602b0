"""The job types this platform runs, each registered here by its functions, and the runtime that
runs them. A new job type is one entry in JOB_TYPES (and one in app.jobs.schemas.JobType)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session

from app.context import Principal
from app.db.session import SessionFactory
from app.jobs.context import JobContext
from app.jobs.metrics import JobMetrics
from app.jobs.queue import JobQueue
from app.jobs.runner import JobRuntime
from app.monitoring import drift_check
from app.predictions import service as predictions
from app.retraining import service as retraining
from app.rollouts import analysis as rollout_analysis
from app.settings import Settings
from app.storage import ArtifactStore
from app.training import service as training

Handler = Callable[[JobRuntime, JobContext], None]
SpecCheck = Callable[..., dict[str, Any]]  # (session, actor, job_type, spec, *, protected_aliases)
Abandon = Callable[[Session, str], None]


@dataclass(frozen=True)
class JobTypeHandlers:
    """What the platform does with one job type: check its spec at submit, run it, tidy after it."""

    run: Handler
    check_spec: SpecCheck
    # Tidies what a job left behind when its worker died for good (a run still RUNNING).
    abandon: Abandon | None = None


# Plain references, not import strings: import-linter and mypy see every handler.
JOB_TYPES: dict[str, JobTypeHandlers] = {
    "train": JobTypeHandlers(
        run=training.run_train, check_spec=training.check_job_spec, abandon=training.abandon_train
    ),
    "evaluate": JobTypeHandlers(run=training.run_evaluate, check_spec=training.check_job_spec),
    # Its run is a training run: tidied as a train job's is.
    "retrain": JobTypeHandlers(
        run=retraining.run_retrain, check_spec=retraining.check_job_spec, abandon=training.abandon_train
    ),
    # The live metric from feedback is wired in by the prediction log (None until then).
    "rollout_analysis": JobTypeHandlers(
        run=lambda runtime, ctx: rollout_analysis.run(
            runtime,
            ctx,
            live_metric=lambda session, deployment_id, version_id, since: predictions.live_score(
                session, runtime.store, deployment_id, version_id, since
            ),
        ),
        check_spec=rollout_analysis.check_spec,
        abandon=rollout_analysis.abandon,
    ),
    "drift_check": JobTypeHandlers(run=drift_check.run, check_spec=drift_check.check_spec),
}
HANDLERS: dict[str, Handler] = {job_type: handlers.run for job_type, handlers in JOB_TYPES.items()}


def check_job_spec(
    session: Session, actor: Principal, job_type: str, spec: dict[str, Any], *, protected_aliases: Sequence[str]
) -> dict[str, Any]:
    """The spec check of the job type (a bad spec is a 400 when it is submitted, and one its
    submitter may not carry out a 403)."""
    return JOB_TYPES[job_type].check_spec(session, actor, job_type, spec, protected_aliases=protected_aliases)


def build_runtime(
    sessions: SessionFactory,
    store: ArtifactStore,
    settings: Settings,
    queue: JobQueue,
    metrics_registry: CollectorRegistry | None = None,
) -> JobRuntime:
    """The runtime; its job metrics go to `metrics_registry` (the server's /metrics), or to a
    registry of their own (a worker's, which it pushes)."""
    runtime = JobRuntime(
        sessions=sessions,
        store=store,
        settings=settings,
        queue=queue,
        handlers=HANDLERS,
        metrics=JobMetrics(metrics_registry, job_types=JOB_TYPES),
    )

    def abandon(session: Session, job_type: str, job_id: str) -> None:
        handlers = JOB_TYPES.get(job_type)
        if handlers is not None and handlers.abandon is not None:
            handlers.abandon(session, job_id)

    runtime.abandon = abandon
    return runtime
