"""The scheduler: fire the latest tick of every due schedule, each in a transaction of its own.
Embedded, the server runs it on a thread (Scheduler); with a broker, `shipyard beat` sends the
TICK_TASK that a worker runs. Running it in several places at once is safe: each tick is claimed
once in the database (app.schedules.service.fire)."""

import functools
import logging
from datetime import datetime

from app.db.base import utcnow
from app.db.session import SessionFactory
from app.jobs.handlers import check_job_spec
from app.jobs.queue import JobQueue
from app.jobs.runner import JobRuntime
from app.periodic import PeriodicThread
from app.schedules import service
from app.settings import Settings, get_settings

logger = logging.getLogger("shipyard.schedules")

TICK_TASK = "schedules.tick"


def run_due(
    sessions: SessionFactory, queue: JobQueue, now: datetime | None = None, *, settings: Settings | None = None
) -> list[str]:
    """Submit the jobs of the schedules due at `now` (default: the clock); return their ids. A
    schedule whose scheduler was down across several ticks fires once, for the latest of them."""
    moment = now or utcnow()
    check_spec = functools.partial(check_job_spec, protected_aliases=(settings or get_settings()).protected_aliases)
    with sessions.begin(write=False) as session:
        due = service.due_schedules(session, moment)
    submitted = []
    for schedule_id in due:
        try:
            with sessions.begin() as session:
                job_id = service.fire(session, queue, schedule_id, moment, check_spec)
        except Exception:
            # One schedule that fails (the database away a moment) must not hold up the others;
            # its tick was not claimed, so the next pass tries it again.
            logger.exception("schedule #%s: its tick failed; retried on the next pass", schedule_id)
            continue
        if job_id is not None:
            submitted.append(job_id)
    return submitted


class Scheduler(PeriodicThread):
    """The embedded mode's scheduler, on a daemon thread of the server."""

    def __init__(self, runtime: JobRuntime) -> None:
        super().__init__(
            "shipyard-scheduler",
            lambda: runtime.settings.scheduler_interval_seconds,
            lambda: run_due(runtime.sessions, runtime.queue, settings=runtime.settings),
        )
