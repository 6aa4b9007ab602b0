"""One small interface to wake a worker for a job id: threads in this process (embedded) or a
Celery message by task name (the app never imports the workers). Ids are handed over only
after the transaction that created the job commits, and dropped if it rolls back."""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from celery import Celery
from sqlalchemy.orm import Session

from app.db.hooks import after_commit

logger = logging.getLogger("shipyard.jobs")

RUN_TASK = "jobs.run"
RECONCILE_TASK = "jobs.reconcile"


class JobQueue(Protocol):
    def enqueue(self, job_id: str) -> None: ...

    def close(self) -> None: ...


class EmbeddedJobQueue:
    """Runs jobs on a few threads inside the server: the same job functions as the workers."""

    def __init__(self, threads: int) -> None:
        self._run: Callable[[str], None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shipyard-job")
        self._closed = threading.Event()

    def bind(self, run: Callable[[str], None]) -> None:
        """The function that runs one job id (it needs the runtime, which needs this queue)."""
        self._run = run

    def enqueue(self, job_id: str) -> None:
        if not self._closed.is_set():
            self._pool.submit(self._safely, job_id)

    def _safely(self, job_id: str) -> None:
        assert self._run is not None, "bind() the queue before enqueueing"
        try:
            self._run(job_id)
        except Exception:  # the runner records failures on the row; this only keeps the pool alive
            logger.exception("job %s crashed its executor thread", job_id)

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


class CeleryJobQueue:
    """Sends the job id to the Celery workers on the broker; the job row stays the truth."""

    def __init__(self, broker_url: str) -> None:
        self._celery = Celery("shipyard-producer", broker=broker_url)
        self._celery.conf.broker_connection_retry_on_startup = True

    def enqueue(self, job_id: str) -> None:
        # A lost message is not a lost job: the reconciler re-sends ids still queued in the database.
        try:
            self._celery.send_task(RUN_TASK, args=[job_id])
        except Exception:
            logger.warning("could not send job %s to the broker; the reconciler will retry", job_id, exc_info=True)

    def close(self) -> None:
        self._celery.close()


def enqueue_after_commit(session: Session, queue: JobQueue, job_id: str) -> None:
    # The outermost commit, not a SAVEPOINT's: a worker must find the row when the id arrives.
    after_commit(session, lambda: queue.enqueue(job_id))
