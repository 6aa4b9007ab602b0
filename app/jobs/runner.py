"""Running one job attempt: claim the row, keep the lease alive, call the handler for its
type, and record the outcome only while this attempt's fencing token is current. Also the
reconciler, which re-enqueues what the broker lost and fails what ran out of attempts."""

import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.auth.security import Role
from app.context import Principal
from app.db.base import utcnow
from app.db.session import SessionFactory
from app.errors import AppError, ServiceUnavailable
from app.jobs import repository
from app.jobs.context import JobCancelled, JobContext, LeaseLost
from app.jobs.metrics import JobMetrics
from app.jobs.queue import JobQueue, enqueue_after_commit
from app.jobs.schemas import FINISHED, JobStatus
from app.ml.errors import SpecError
from app.periodic import PeriodicThread
from app.settings import Settings
from app.storage import ArtifactStore

logger = logging.getLogger("shipyard.jobs")

# Failures worth another attempt: the database or the store was briefly unreachable.
TRANSIENT = (OperationalError, ServiceUnavailable, BotoCoreError, ConnectionError, TimeoutError)


@dataclass
class JobRuntime:
    """Everything a job needs, assembled once by the server or the worker process."""

    sessions: SessionFactory
    store: ArtifactStore
    settings: Settings
    queue: JobQueue
    handlers: Mapping[str, Callable[["JobRuntime", JobContext], None]]
    # Tidies what a job left behind when its worker died for good (a run still RUNNING), in the
    # transaction that fails the job.
    abandon: Callable[[Session, str, str], None] = lambda session, job_type, job_id: None
    metrics: JobMetrics = field(default_factory=JobMetrics)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.job_lease_seconds)


def succeed(runtime: JobRuntime, session: Session, ctx: JobContext, result: dict[str, Any]) -> None:
    """The handler's last write, in the same transaction as its effects: if another worker took
    the job meanwhile, LeaseLost rolls the effects back with it."""
    now = utcnow()
    done = repository.finish(
        session,
        ctx.job_id,
        ctx.token,
        now,
        {
            "status": "succeeded",
            "progress": 1.0,
            "message": "done",
            "result": result,
            "finished_at": now,
            "log_tail": ctx.log_tail(),
            "error": None,
        },
    )
    if not done:
        raise LeaseLost(f"job {ctx.job_id} is no longer ours; its result is dropped")


def run_job(runtime: JobRuntime, job_id: str, worker: str) -> None:
    with runtime.sessions.begin() as session:
        job = repository.claim(session, job_id, worker, utcnow(), runtime.lease)
        if job is None:
            logger.info("job %s not claimed by %s: done, not due, or held by a live worker", job_id, worker)
            return
        token = job.fencing_token
        ctx = JobContext(
            job_id=job.id,
            job_type=job.type,
            spec=dict(job.spec),
            attempt=job.attempts,
            token=token,
            actor=Principal(user_id=None, username=job.created_by, role=Role(job.created_by_role)),
            _report=lambda fraction, message, log: _report(runtime, job_id, token, fraction, message, log),
        )
        max_attempts = job.max_attempts
    started = time.monotonic()
    heartbeat = _Heartbeat(runtime, ctx)
    heartbeat.start()
    # The status this attempt recorded, None when it recorded none (the job was no longer ours).
    outcome: str | None = None
    try:
        ctx.progress(0.0, f"started (attempt {ctx.attempt} on {worker})")
        runtime.handlers[ctx.job_type](runtime, ctx)
        # A handler returns only once its succeed() has committed.
        outcome = "succeeded"
    except JobCancelled:
        outcome = _finish(runtime, ctx, {"status": "cancelled", "message": "cancelled", "finished_at": utcnow()})
    except LeaseLost as exc:
        logger.warning("%s", exc)
    except TRANSIENT as exc:  # before AppError: ServiceUnavailable is one, and is retried
        outcome = _retry_or_fail(runtime, ctx, exc, max_attempts)
    except (SpecError, AppError) as exc:
        outcome = _finish(runtime, ctx, {"status": "failed", "error": _summary(exc), "finished_at": utcnow()})
    except Exception as exc:
        ctx.log(traceback.format_exc(limit=5))
        outcome = _finish(runtime, ctx, {"status": "failed", "error": _summary(exc), "finished_at": utcnow()})
    finally:
        heartbeat.stop()
    if outcome is not None and JobStatus(outcome) in FINISHED:
        runtime.metrics.job_finished(ctx.job_type, outcome, time.monotonic() - started)


def _summary(exc: BaseException) -> str:
    detail = exc.detail if isinstance(exc, AppError) else str(exc)
    return f"{type(exc).__name__}: {detail}"[:2000]


def _retry_or_fail(runtime: JobRuntime, ctx: JobContext, exc: BaseException, max_attempts: int) -> str | None:
    if ctx.attempt >= max_attempts:
        return _finish(runtime, ctx, {"status": "failed", "error": _summary(exc), "finished_at": utcnow()})
    delay = timedelta(seconds=min(2**ctx.attempt, 60))
    ctx.log(f"transient error, retrying in {delay.seconds}s: {_summary(exc)}")
    return _finish(
        runtime,
        ctx,
        {
            "status": "queued",
            "not_before": utcnow() + delay,
            "error": _summary(exc),
            "message": f"retrying after a transient error (attempt {ctx.attempt})",
        },
    )


def _finish(runtime: JobRuntime, ctx: JobContext, fields: dict[str, Any]) -> str | None:
    """The status recorded, or None when it could not be."""
    try:
        with runtime.sessions.begin() as session:
            if not repository.finish(session, ctx.job_id, ctx.token, utcnow(), {**fields, "log_tail": ctx.log_tail()}):
                logger.warning("job %s: outcome %s dropped, the job is no longer ours", ctx.job_id, fields["status"])
                return None
    except TRANSIENT:
        # The database is down: the lease will expire and the reconciler decides what happens next.
        logger.exception("job %s: could not record its outcome", ctx.job_id)
        return None
    return str(fields["status"])


def _report(runtime: JobRuntime, job_id: str, token: int, fraction: float, message: str, log: str) -> bool | None:
    return _renew(runtime, job_id, token, {"progress": fraction, "message": message, "log_tail": log})


def _renew(runtime: JobRuntime, job_id: str, token: int, fields: dict[str, Any]) -> bool | None:
    """Extend the lease (and write fields); None when the job is no longer ours, else whether
    it was asked to cancel."""
    with runtime.sessions.begin() as session:
        return repository.renew(session, job_id, token, utcnow(), runtime.lease, fields)


class _Heartbeat:
    """Renews the lease while the handler is busy between checkpoints (a long fit)."""

    def __init__(self, runtime: JobRuntime, ctx: JobContext) -> None:
        self._runtime, self._ctx = runtime, ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{ctx.job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        interval = max(self._runtime.settings.job_lease_seconds / 3, 0.2)
        while not self._stop.wait(interval):
            try:
                cancel = _renew(self._runtime, self._ctx.job_id, self._ctx.token, {})
            except TRANSIENT:
                logger.warning("job %s: heartbeat failed", self._ctx.job_id)
                continue
            if cancel is None:
                return
            if cancel:
                self._ctx.cancel_seen = True


def reconcile(runtime: JobRuntime) -> list[str]:
    """Fail jobs out of attempts; re-enqueue jobs still queued a while or on an expired lease."""
    now = utcnow()
    requeue_after = timedelta(seconds=runtime.settings.job_requeue_after_seconds)
    with runtime.sessions.begin() as session:
        failed = repository.fail_exhausted(session, now)
        for job_id, job_type in failed:
            logger.warning("job %s failed after its last attempt (stale heartbeat)", job_id)
            # With the job's failure, so no one sees the job failed and its run still RUNNING;
            # in a savepoint, so a tidy-up that goes wrong cannot undo the failure.
            try:
                with session.begin_nested():
                    runtime.abandon(session, job_type, job_id)
            except Exception:
                logger.exception("job %s: could not tidy up after it", job_id)
        due = repository.due_for_enqueue(session, now, now - requeue_after)
        # Stamp them so the next pass does not send the same ids again straight away.
        repository.touch_queued(session, due, now)
        for job_id in due:
            enqueue_after_commit(session, runtime.queue, job_id)
    # Counted once committed; no attempt saw these end, so they have no duration.
    for _, job_type in failed:
        runtime.metrics.job_finished(job_type, "failed", None)
    return due


class Reconciler(PeriodicThread):
    """The server's periodic reconcile, on a daemon thread."""

    def __init__(self, runtime: JobRuntime) -> None:
        super().__init__(
            "shipyard-reconciler", lambda: runtime.settings.job_reconcile_seconds, lambda: reconcile(runtime)
        )
