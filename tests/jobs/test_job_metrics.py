"""Job metrics as Prometheus sees them: the server's /metrics after jobs ran (counts from the job
rows, finished jobs and durations from the runner), the count collector's cache and its answer
with the database down, and a real Celery worker pushing to a real Pushgateway."""

import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from app.db.base import utcnow
from app.db.migrate import upgrade_to_head
from app.db.session import SessionFactory, create_db_engine
from app.db.tables import Job
from app.jobs import repository
from app.jobs.metrics import PUSH_JOB, JobCountCollector
from app.jobs.schemas import JobStatus, JobType
from app.settings import Settings
from tests.conftest import free_port
from tests.jobs.conftest import Platform, open_platform, train_spec

pytestmark = pytest.mark.slow

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
WAIT_S = 30.0

Samples = list[tuple[str, dict[str, str], float]]


def parse(exposition: str) -> Samples:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` whose labels include `labels`, None when there is none."""
    found = [v for n, got, v in samples if n == name and labels.items() <= got.items()]
    assert len(found) <= 1, f"{len(found)} samples of {name} with {labels}"
    return found[0] if found else None


def scrape(platform: Platform) -> Samples:
    response = platform.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def job_count(platform: Platform, job_type: str, status: str) -> int:
    response = platform.client.get(
        "/api/v1/jobs", params={"type": job_type, "status": status, "max_results": 1000}, headers=platform.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_page_token"] is None
    return len(response.json()["jobs"])


def crash_spec(dataset: str) -> dict[str, Any]:
    """Passes every check at submit, then fails: more neighbours than there are rows."""
    return train_spec(dataset, estimator="knn", params={"n_neighbors": 5000})


# ---- the server's /metrics ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded(
    backend: str, tmp_path_factory: pytest.TempPathFactory, database_url: Callable[[], str | None]
) -> Iterator[Platform]:
    """Jobs on the server's threads; /metrics reads the job rows on every scrape."""
    data_dir = tmp_path_factory.mktemp(f"job-metrics-{backend}")
    with open_platform("embedded", backend, data_dir, database_url(), metrics_cache_seconds=0) as platform:
        yield platform


def upload_dataset(platform: Platform, churn_csv: bytes) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    platform.upload(name, churn_csv, expect=201)
    return f"{name}@1"


def test_the_exposition_holds_the_job_metrics_after_jobs_ran(embedded: Platform, churn_csv: bytes) -> None:
    dataset = upload_dataset(embedded, churn_csv)
    before = scrape(embedded)

    embedded.succeeded(embedded.submit("train", train_spec(dataset))["id"])
    crashed = embedded.wait(embedded.submit("train", crash_spec(dataset))["id"])
    assert crashed["status"] == "failed", embedded.describe(crashed)
    after = scrape(embedded)

    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("shipyard_jobs_finished_total", type="train", state="succeeded") == 1
    assert grew("shipyard_jobs_finished_total", type="train", state="failed") == 1
    assert grew("shipyard_job_duration_seconds_count", type="train", state="succeeded") == 1
    assert grew("shipyard_job_duration_seconds_count", type="train", state="failed") == 1
    assert grew("shipyard_job_duration_seconds_sum", type="train", state="succeeded") > 0
    assert value(after, "shipyard_job_duration_seconds_bucket", type="train", state="succeeded", le="+Inf") == value(
        after, "shipyard_job_duration_seconds_count", type="train", state="succeeded"
    )

    # The counts are the job rows, every type and state named (zeros too).
    for job_type in JobType:
        for state in JobStatus:
            assert value(after, "shipyard_jobs", type=job_type.value, state=state.value) == job_count(
                embedded, job_type.value, state.value
            ), (job_type, state)
    assert (value(after, "shipyard_jobs", type="train", state="failed") or 0) >= 1


# ---- the count collector -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fresh_sessions(backend: str, tmp_path: Path, postgres_database: Callable[[], str]) -> Iterator[SessionFactory]:
    """A migrated database of the test's own, so the counts are only its jobs."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=postgres_database() if backend == "postgres" else None,
        admin_password="admin-password-for-tests",
        log_json=False,
    )
    upgrade_to_head(settings)
    engine = create_db_engine(settings)
    try:
        yield SessionFactory(engine)
    finally:
        engine.dispose()


def add_jobs(sessions: SessionFactory, job_type: str, status: str, count: int) -> None:
    with sessions.begin() as session:
        for _ in range(count):
            repository.add_job(
                session,
                Job(
                    id=uuid.uuid4().hex,
                    type=job_type,
                    spec={},
                    status=status,
                    created_by="tests",
                    finished_at=utcnow() if status != "queued" else None,
                ),
            )


def counts(collector: JobCountCollector) -> dict[tuple[str, str], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (labels["type"], labels["state"]): sample_value
        for name, labels, sample_value in parse(generate_latest(registry).decode())
        if name == "shipyard_jobs"
    }


def test_job_counts_are_reread_only_once_the_cache_expires(fresh_sessions: SessionFactory) -> None:
    clock = Clock()
    collector = JobCountCollector(fresh_sessions, ["train", "evaluate"], cache_seconds=5, clock=clock)
    add_jobs(fresh_sessions, "train", "succeeded", 2)
    first = counts(collector)
    assert first[("train", "succeeded")] == 2
    assert first[("evaluate", "failed")] == 0
    assert set(first) == {(t, s.value) for t in ("train", "evaluate") for s in JobStatus}

    add_jobs(fresh_sessions, "train", "succeeded", 1)
    add_jobs(fresh_sessions, "rollout_analysis", "running", 1)
    clock.now += 4.9
    assert counts(collector) == first, "a scrape within the cache time reuses the last read"

    clock.now += 0.2
    second = counts(collector)
    assert second[("train", "succeeded")] == 3
    # A type it was not told about is counted too, with all its states.
    assert second[("rollout_analysis", "running")] == 1
    assert second[("rollout_analysis", "queued")] == 0


def test_job_counts_with_the_database_down_leave_the_scrape_whole(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(database_url=f"postgresql://shipyard@127.0.0.1:{port}/shipyard", log_json=False)
    engine = create_db_engine(settings)
    clock = Clock()
    registry = CollectorRegistry()
    registry.register(JobCountCollector(SessionFactory(engine), ["train"], cache_seconds=5, clock=clock))
    try:
        with caplog.at_level(logging.WARNING, logger="shipyard.jobs"):
            text = generate_latest(registry).decode()
            families = {family.name: family for family in text_string_to_metric_families(text)}
            assert families["shipyard_jobs"].type == "gauge"
            assert families["shipyard_jobs"].samples == []
            generate_latest(registry)
            assert len([r for r in caplog.records if "job counts" in r.getMessage()]) == 1, (
                "the failure is cached too: a burst of scrapes does not wait for the database each time"
            )
            clock.now += 6
            generate_latest(registry)
            assert len([r for r in caplog.records if "job counts" in r.getMessage()]) == 2
    finally:
        engine.dispose()


# ---- a worker and the Pushgateway --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "wording"),
    [
        ("ftp://gateway:9091", "http://host:port"),
        ("http://", "http://host:port"),
        ("http://user:secret@gateway:9091", "may not carry credentials"),
    ],
)
def test_a_pushgateway_url_that_is_not_plain_http_is_refused(url: str, wording: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(pushgateway_url=url)
    assert wording in str(refused.value)


@dataclass
class Pushgateway:
    url: str

    def samples(self) -> Samples:
        response = httpx.get(f"{self.url}/metrics", timeout=5, trust_env=False)
        response.raise_for_status()
        return parse(response.text)

    def wait_for(self, check: Callable[[Samples], bool], what: str) -> Samples:
        deadline = time.monotonic() + WAIT_S
        while True:
            samples = self.samples()
            if check(samples):
                return samples
            if time.monotonic() > deadline:
                shown = "\n".join(f"{n} {labels} {v}" for n, labels, v in samples if n.startswith("shipyard_"))
                pytest.fail(f"the Pushgateway did not show {what} within {WAIT_S:.0f} s:\n{shown}")
            time.sleep(0.2)


@contextmanager
def running_pushgateway(port: int, log_path: Path) -> Iterator[Pushgateway]:
    """The real Pushgateway binary on 127.0.0.1:`port`, in memory only."""
    if PUSHGATEWAY is None:
        pytest.skip("prometheus-pushgateway is not installed (Debian: apt-get install prometheus-pushgateway)")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # No persistence file (Debian's build defaults to one under /var/lib): a fresh gateway each time.
            [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    gateway = Pushgateway(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if httpx.get(f"{gateway.url}/-/ready", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Pushgateway did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def celery_platform(
    tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    """The API with Celery on Postgres, and no worker until a test starts one with its gateway."""
    data_dir = tmp_path_factory.mktemp("job-metrics-celery")
    with open_platform(
        "celery", "postgres", data_dir, postgres_database(), start_default_worker=False, metrics_cache_seconds=0
    ) as platform:
        yield platform


def pushed(samples: Samples, name: str, **labels: str) -> float | None:
    return value(samples, name, job=PUSH_JOB, **labels)


def test_a_worker_pushes_its_job_metrics_after_each_job(
    celery_platform: Platform, churn_csv: bytes, tmp_path: Path
) -> None:
    platform = celery_platform
    dataset = upload_dataset(platform, churn_csv)
    with running_pushgateway(free_port(), tmp_path / "pushgateway.log") as gateway:
        worker = platform.start_worker(pushgateway_url=gateway.url)
        try:
            platform.succeeded(platform.submit("train", train_spec(dataset))["id"])
            crashed = platform.wait(platform.submit("train", crash_spec(dataset))["id"])
            assert crashed["status"] == "failed", platform.describe(crashed)
            samples = gateway.wait_for(
                lambda s: pushed(s, "shipyard_jobs_finished_total", type="train", state="failed") == 1,
                "the failed train job",
            )
        finally:
            worker.stop()

    assert pushed(samples, "shipyard_jobs_finished_total", type="train", state="succeeded") == 1
    assert pushed(samples, "shipyard_job_duration_seconds_count", type="train", state="succeeded") == 1
    assert (pushed(samples, "shipyard_job_duration_seconds_sum", type="train", state="succeeded") or 0) > 0
    assert pushed(samples, "shipyard_jobs_finished_total", type="evaluate", state="failed") == 0
    # Grouped by the pool process that ran the jobs, on this host.
    instances = {labels["instance"] for name, labels, _ in samples if name == "shipyard_jobs_finished_total"}
    assert len(instances) == 1
    host, _, pid = instances.pop().rpartition(":")
    assert host == socket.gethostname()
    assert pid.isdigit()
    assert int(pid) != worker.process.pid

    # The server ran none of them itself; its /metrics counts them from the job rows.
    served = scrape(platform)
    assert value(served, "shipyard_jobs_finished_total", type="train", state="succeeded") == 0
    assert value(served, "shipyard_jobs", type="train", state="failed") == job_count(platform, "train", "failed")
    assert job_count(platform, "train", "failed") >= 1


def test_a_gateway_that_is_down_fails_no_job_and_is_warned_about_once(
    celery_platform: Platform, churn_csv: bytes, tmp_path: Path
) -> None:
    platform = celery_platform
    dataset = upload_dataset(platform, churn_csv)
    port = free_port()  # the gateway comes up there later
    worker = platform.start_worker(pushgateway_url=f"http://127.0.0.1:{port}")
    try:
        for _ in range(2):
            platform.succeeded(platform.submit("train", train_spec(dataset))["id"])
        assert worker.log(10**7).count("job metrics could not be pushed to the Pushgateway") == 1, worker.log()

        with running_pushgateway(port, tmp_path / "pushgateway.log") as gateway:
            platform.succeeded(platform.submit("train", train_spec(dataset))["id"])
            # Nothing was lost meanwhile: the push carries all three.
            gateway.wait_for(
                lambda s: pushed(s, "shipyard_jobs_finished_total", type="train", state="succeeded") == 3,
                "three succeeded train jobs",
            )
        assert "the Pushgateway takes job metrics again" in worker.log(10**7)
        assert worker.log(10**7).count("job metrics could not be pushed to the Pushgateway") == 1
    finally:
        worker.stop()
