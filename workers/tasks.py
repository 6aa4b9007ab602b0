"""Thin Celery tasks: take a job id, hand it to the same runner the embedded mode uses (and push
this process's job metrics when a Pushgateway is configured); and fire the due schedules, as the
embedded server's scheduler thread does."""

import os
import socket

from celery import Celery

from app.jobs.metrics import JobMetricsPusher
from app.jobs.queue import RECONCILE_TASK, RUN_TASK
from app.jobs.runner import JobRuntime, reconcile, run_job
from app.schedules.scheduler import TICK_TASK, run_due


def register_tasks(celery: Celery, runtime: JobRuntime, pusher: JobMetricsPusher | None = None) -> None:
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def push() -> None:
        if pusher is not None:
            pusher.push()

    # Tasks are registered on the app by the decorator; the functions need no other reference.
    @celery.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run(job_id: str) -> None:
        try:
            run_job(runtime, job_id, worker)
        finally:
            push()

    @celery.task(name=RECONCILE_TASK, ignore_result=True)
    def reconcile_jobs() -> list[str]:
        try:
            return reconcile(runtime)
        finally:
            # It may have failed jobs whose workers died, which it counts.
            push()

    @celery.task(name=TICK_TASK, ignore_result=True)
    def fire_schedules() -> list[str]:
        return run_due(runtime.sessions, runtime.queue, settings=runtime.settings)
