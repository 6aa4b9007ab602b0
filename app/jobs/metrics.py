"""The job metrics: finished jobs and their durations by type and final state (counted by the
runner on either executor), the jobs in the database by type and state (read at scrape time),
and the push of a worker process's job metrics to a Pushgateway."""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, push_to_gateway
from prometheus_client.core import GaugeMetricFamily

from app.db.session import SessionFactory
from app.jobs import service
from app.jobs.schemas import FINISHED, JobStatus

logger = logging.getLogger("shipyard.jobs")

# The Pushgateway's `job` label for what the workers push (`instance` tells the processes apart).
PUSH_JOB = "shipyard_worker"
PUSH_TIMEOUT_SECONDS = 5.0


class JobMetrics:
    """What one process observes of the jobs it runs; the server's are in its /metrics, a
    worker's go to the Pushgateway."""

    def __init__(self, registry: CollectorRegistry | None = None, job_types: Iterable[str] = ()) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.finished = Counter(
            "shipyard_jobs_finished_total",
            "Jobs whose run ended in this process (succeeded, failed, cancelled), or that its reconciler "
            "failed after their worker died, by type.",
            ["type", "state"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "shipyard_job_duration_seconds",
            "Time from the claim of a job's last attempt to its final state, by type and state.",
            ["type", "state"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800),
            registry=self.registry,
        )
        # Zeros from the start: rate() and increase() miss the first job of a series born at 1.
        for job_type in job_types:
            for state in sorted(FINISHED):
                self.finished.labels(job_type, state.value)

    def job_finished(self, job_type: str, state: str, seconds: float | None) -> None:
        """A job reached `state`; `seconds` is None when no attempt of this process saw it end
        (the reconciler failing a job whose worker died)."""
        self.finished.labels(job_type, state).inc()
        if seconds is not None:
            self.duration.labels(job_type, state).observe(seconds)


class JobCountCollector:
    """`shipyard_jobs{type,state}`: one grouped count over the job rows, reused for
    `cache_seconds` so a burst of scrapes costs one query. With the database down the scrape
    still answers, without these samples (and the failure is cached too, so a burst of scrapes
    does not wait for the database once each)."""

    def __init__(
        self,
        sessions: SessionFactory,
        job_types: Iterable[str],
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._job_types = tuple(job_types)
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._counts: dict[tuple[str, str], int] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering the collector must not query the database (the registry would call collect()).
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        counts = self._current_counts()
        if counts is not None:
            for job_type in sorted(set(self._job_types) | {job_type for job_type, _ in counts}):
                for state in JobStatus:
                    family.add_metric([job_type, state.value], counts.get((job_type, state.value), 0))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "shipyard_jobs", "Jobs in the database by type and state (queued, running, ...).", labels=["type", "state"]
        )

    def _current_counts(self) -> dict[tuple[str, str], int] | None:
        with self._lock:
            if self._read_at is not None and self._clock() - self._read_at < self._cache_seconds:
                return self._counts
            try:
                with self._sessions(write=False) as session:
                    self._counts = service.count_jobs(session)
            except Exception:
                logger.warning("job counts could not be read for /metrics", exc_info=True)
                self._counts = None
            self._read_at = self._clock()
            return self._counts


class JobMetricsPusher:
    """Pushes a worker process's job metrics to the Pushgateway, grouped by the process (host and
    pid: each pool process counts its own jobs). A gateway that does not answer never fails a
    job: it is warned about once, and again only after it has answered in between."""

    def __init__(self, gateway_url: str, registry: CollectorRegistry, timeout: float = PUSH_TIMEOUT_SECONDS) -> None:
        self._gateway_url = gateway_url
        self._registry = registry
        self._timeout = timeout
        self._failing = False

    @property
    def instance(self) -> str:
        # Read at push time: Celery forks its pool processes after this object is made.
        return f"{socket.gethostname()}:{os.getpid()}"

    def push(self) -> bool:
        """Whether the gateway took the metrics."""
        try:
            push_to_gateway(
                self._gateway_url,
                job=PUSH_JOB,
                registry=self._registry,
                grouping_key={"instance": self.instance},
                timeout=self._timeout,
            )
        except Exception as exc:
            if not self._failing:
                logger.warning(
                    "job metrics could not be pushed to the Pushgateway (%s: %s); jobs carry on, "
                    "and the push is tried again after each job",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
            return False
        if self._failing:
            logger.info("the Pushgateway takes job metrics again")
        self._failing = False
        return True
