"""The Celery app, configured from Shipyard settings. The job row in the database is the
truth; the broker only wakes a worker, so tasks ack late, are re-queued when a worker dies,
and are never prefetched in bulk."""

import sys
import threading

from celery import Celery

from app.bootstrap import start_problem
from app.db.migrate import retry_until_reachable, upgrade_to_head
from app.db.session import SessionFactory, create_db_engine
from app.jobs.handlers import build_runtime
from app.jobs.metrics import JobMetricsPusher
from app.jobs.queue import RECONCILE_TASK, CeleryJobQueue
from app.observability import configure_logging
from app.schedules.scheduler import TICK_TASK
from app.settings import Settings, get_settings
from app.storage import create_store
from workers.tasks import register_tasks


def create_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("the workers need SHIPYARD_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    celery = Celery("shipyard", broker=settings.broker_url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            # kombu sweeps for unacked messages past the timeout only every interval x throttle
            # seconds (100 s by default): sweep at least twice per visibility timeout instead.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout_seconds // 2)),
            "unacked_restore_throttle": 1,
        },
        beat_schedule={
            "reconcile-jobs": {"task": RECONCILE_TASK, "schedule": settings.job_reconcile_seconds},
            # A pass not run within its interval is dropped (the next one does its work), so
            # workers that were away do not come back to a pile of them.
            "fire-schedules": {
                "task": TICK_TASK,
                "schedule": settings.scheduler_interval_seconds,
                "options": {"expires": settings.scheduler_interval_seconds},
            },
        },
        # Beat's own record of when it last sent each entry: in the data dir, not the working directory.
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    runtime = build_runtime(
        SessionFactory(create_db_engine(settings)),
        create_store(settings),
        settings,
        CeleryJobQueue(settings.broker_url),
    )
    pusher = JobMetricsPusher(settings.pushgateway_url, runtime.metrics.registry) if settings.pushgateway_url else None
    register_tasks(celery, runtime, pusher)
    return celery


def _start(argv: list[str]) -> None:
    settings = get_settings()
    if not settings.broker_url:
        sys.exit("this needs SHIPYARD_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    problem = start_problem(settings)
    if problem is not None:
        sys.exit(f"shipyard {argv[0]}: {problem}")
    configure_logging(settings.log_level, settings.log_json)
    # As the server does: wait for the database (and migrate it) before taking any task.
    retry_until_reachable(lambda: upgrade_to_head(settings), settings.database_retry_max_seconds, threading.Event())
    create_celery(settings).start(argv)


def main(argv: list[str] | None = None) -> None:
    """`shipyard worker`: wait for the database and migrate it, then run a Celery worker on the
    configured broker."""
    _start(["worker", "--loglevel", get_settings().log_level.lower(), *(argv or [])])


def beat(argv: list[str] | None = None) -> None:
    """`shipyard beat`: sends the job reconciler's and the schedules' passes to the workers. Its
    schedule file is <data dir>/celerybeat-schedule unless `--schedule FILE` says otherwise."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _start(["beat", "--loglevel", settings.log_level.lower(), *(argv or [])])
