"""The Celery app, configured from Shipyard settings. The job row in the database is the
truth; the broker only wakes a worker, so tasks ack late and are never prefetched in bulk."""

import sys

from celery import Celery

from app.db.migrate import upgrade_to_head
from app.observability import configure_logging
from app.settings import Settings, get_settings

TASK_MODULES: list[str] = []


def create_celery(settings: Settings) -> Celery:
    celery = Celery("shipyard", broker=settings.broker_url, include=TASK_MODULES)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return celery


def main(argv: list[str] | None = None) -> None:
    """`shipyard worker`: migrate, then run a Celery worker on the configured broker."""
    settings = get_settings()
    if not settings.broker_url:
        sys.exit("shipyard worker needs SHIPYARD_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    configure_logging(settings.log_level, settings.log_json)
    upgrade_to_head(settings)
    celery = create_celery(settings)
    celery.worker_main(["worker", "--loglevel", settings.log_level.lower(), *(argv or [])])
