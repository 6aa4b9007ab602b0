"""The job types this platform runs, and the runtime that runs them, assembled in one place.

Handlers are named by module and function and imported when a job of their type is first
checked or run: training code pulls in scikit-learn (~100 MB), which an API process that only
tracks, registers and uploads should not hold."""

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.context import Principal
from app.db.session import SessionFactory
from app.jobs.context import JobContext
from app.jobs.queue import JobQueue
from app.jobs.runner import JobRuntime
from app.settings import Settings
from app.storage import ArtifactStore

TRAINING = "app.training.service"
HANDLER_NAMES = {"train": (TRAINING, "run_train"), "evaluate": (TRAINING, "run_evaluate")}
ABANDON_NAMES = {"train": (TRAINING, "abandon_train")}

Handler = Callable[[JobRuntime, JobContext], None]


def _load(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


class _Handlers(Mapping[str, Handler]):
    """job type -> handler, each imported on first use."""

    def __getitem__(self, job_type: str) -> Handler:
        module, name = HANDLER_NAMES[job_type]
        handler: Handler = _load(module, name)
        return handler

    def __iter__(self) -> Iterator[str]:
        return iter(HANDLER_NAMES)

    def __len__(self) -> int:
        return len(HANDLER_NAMES)


def check_job_spec(
    session: Session, actor: Principal, job_type: str, spec: dict[str, Any], *, protected_aliases: Sequence[str]
) -> dict[str, Any]:
    """The spec check of the job type's module (a bad spec is a 400 when it is submitted, and
    one its submitter may not carry out a 403)."""
    check: Callable[..., dict[str, Any]] = _load(TRAINING, "check_job_spec")
    return check(session, actor, job_type, spec, protected_aliases=protected_aliases)


def build_runtime(sessions: SessionFactory, store: ArtifactStore, settings: Settings, queue: JobQueue) -> JobRuntime:
    runtime = JobRuntime(sessions=sessions, store=store, settings=settings, queue=queue, handlers=_Handlers())

    def abandon(session: Session, job_type: str, job_id: str) -> None:
        if job_type in ABANDON_NAMES:
            _load(*ABANDON_NAMES[job_type])(session, job_id)

    runtime.abandon = abandon
    return runtime
