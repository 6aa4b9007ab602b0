"""The job types this platform runs, and the runtime that runs them, assembled in one place."""

from collections.abc import Callable

from app.db.session import SessionFactory
from app.jobs.context import JobContext
from app.jobs.queue import JobQueue
from app.jobs.runner import JobRuntime
from app.settings import Settings
from app.storage import ArtifactStore
from app.training.service import run_evaluate, run_train

HANDLERS: dict[str, Callable[[JobRuntime, JobContext], None]] = {"train": run_train, "evaluate": run_evaluate}


def build_runtime(sessions: SessionFactory, store: ArtifactStore, settings: Settings, queue: JobQueue) -> JobRuntime:
    return JobRuntime(sessions=sessions, store=store, settings=settings, queue=queue, handlers=HANDLERS)
