"""Faults of the Celery path with real worker processes on a real Redis: a worker SIGKILLed in
the middle of training, a delivery that outlives Redis's visibility timeout, a flushed broker,
and a worker that dies for good. The job row in the database stays the truth in each."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.training.service import job_run_id
from tests.jobs.conftest import (
    LEASE_SECONDS,
    Platform,
    churn_frame,
    csv_bytes,
    open_platform,
    redis_client,
    search_spec,
    train_spec,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]) -> Iterator[Platform]:
    """A Celery platform with no worker running: each test starts (and kills) its own. On
    Postgres, as deployed (the job tests run the Celery path on SQLite too); once, to keep the
    suite short: these tests wait on real processes dying and leases running out."""
    data_dir = tmp_path_factory.mktemp("faults")
    database_url = postgres_database()
    with open_platform("celery", "postgres", data_dir, database_url, start_default_worker=False) as platform:
        yield platform


@pytest.fixture
def platform(faults: Platform) -> Iterator[Platform]:
    yield faults
    for worker in faults.workers:
        worker.stop()
    faults.workers.clear()


@pytest.fixture(scope="module")
def dataset(faults: Platform) -> str:
    faults.upload("churn", csv_bytes(churn_frame()), expect=201)
    return "churn@1"


def running_past(fraction: float) -> Any:
    return lambda job: (
        job["status"] in ("succeeded", "failed", "cancelled")
        or (job["status"] == "running" and job["progress"] > fraction)
    )


def assert_one_run_and_one_version(platform: Platform, job: dict[str, Any], model: str, candidates: int) -> None:
    """The job's effects exist once: one run tagged with the job id (its search candidates are its
    children, untagged), nothing else in its experiment, and one model version."""
    run_id = job["result"]["run_id"]
    assert [run["id"] for run in platform.runs_tagged(job["id"])] == [run_id]
    run = platform.get(f"/runs/{run_id}")
    assert run["status"] == "FINISHED"
    response = platform.client.post(
        "/api/v1/runs/search",
        json={"experiment_ids": [run["experiment_id"]], "max_results": 1000},
        headers=platform.headers,
    )
    assert response.status_code == 200, response.text
    in_experiment = response.json()["runs"]
    children = [r for r in in_experiment if r["parent_run_id"] == run_id]
    assert len(children) == candidates
    assert len(in_experiment) == candidates + 1, [r["name"] for r in in_experiment]
    versions = platform.get(f"/models/{model}/versions")["versions"]
    assert [(v["version"], v["status"], v["source_run_id"]) for v in versions] == [(1, "READY", run_id)]
    assert versions[0]["tags"]["shipyard.job_id"] == job["id"]


def test_worker_sigkilled_mid_training_is_redelivered_and_finished_once(platform: Platform, dataset: str) -> None:
    candidates = 50
    model, experiment = f"killed-{uuid.uuid4().hex[:8]}", f"killed-{uuid.uuid4().hex[:8]}"
    first = platform.start_worker()
    job_id = platform.submit(
        "train", train_spec(dataset, register_as=model, experiment=experiment, **search_spec(candidates))
    )["id"]
    running = platform.wait(job_id, running_past(0.35), timeout=120, what="running its search")
    assert running["status"] == "running", platform.describe(running)
    assert running["attempts"] == 1

    first.kill()
    assert not first.alive()
    orphaned = platform.job(job_id)
    assert orphaned["status"] == "running"  # nobody will say otherwise but the lease running out
    platform.start_worker()

    job = platform.wait(job_id, timeout=180)
    assert job["status"] == "succeeded", platform.describe(job)
    assert job["attempts"] >= 2
    assert "attempt 2" in job["log_tail"] or job["attempts"] > 2
    assert job["result"]["model"] == {"name": model, "version": 1, "status": "READY"}
    assert_one_run_and_one_version(platform, job, model, candidates)


def test_delivery_past_the_visibility_timeout_runs_once(platform: Platform, dataset: str) -> None:
    candidates = 40
    model, experiment = f"redelivered-{uuid.uuid4().hex[:8]}", f"redelivered-{uuid.uuid4().hex[:8]}"
    # Two pool processes, so Redis's second delivery runs while the first is still training.
    worker = platform.start_worker(concurrency=2, broker_visibility_timeout_seconds=2)
    job_id = platform.submit(
        "train", train_spec(dataset, register_as=model, experiment=experiment, **search_spec(candidates))
    )["id"]
    job = platform.wait(job_id, timeout=180)
    assert job["status"] == "succeeded", platform.describe(job)
    log = worker.log(last=200_000)
    # Redis handed the task out again while it ran; the second delivery found the lease held.
    assert log.count(f"job {job_id} not claimed") >= 1, platform.describe(job)
    assert job["attempts"] == 1
    assert_one_run_and_one_version(platform, job, model, candidates)


def test_flushed_broker_jobs_are_resent_by_the_reconciler(platform: Platform, dataset: str) -> None:
    assert platform.redis_db is not None
    broker = redis_client(platform.redis_db)
    try:
        job_ids = [platform.submit("train", train_spec(dataset, params={"C": c}))["id"] for c in (0.5, 2.0)]
        assert broker.llen("celery") >= 2  # sent, and no worker is there to take them
        lock = broker.get("shipyard-tests:owner")
        broker.flushdb()
        if lock is not None:
            broker.set("shipyard-tests:owner", lock, ex=900)
        assert broker.llen("celery") == 0
        assert all(platform.job(job_id)["status"] == "queued" for job_id in job_ids)

        # Nothing but the server's reconciler can put them back on the broker.
        deadline = time.monotonic() + 30
        while broker.llen("celery") < len(job_ids):
            assert time.monotonic() < deadline, "the reconciler did not re-send the queued jobs within 30 s"
            time.sleep(0.2)
    finally:
        broker.close()

    platform.start_worker()
    for job_id in job_ids:
        job = platform.succeeded(job_id, timeout=90)
        assert job["attempts"] == 1


def test_worker_dead_for_good_fails_the_job_after_its_last_attempt(platform: Platform, dataset: str) -> None:
    worker = platform.start_worker()
    job_id = platform.submit("train", train_spec(dataset, **search_spec(200)), max_attempts=1)["id"]
    running = platform.wait(job_id, running_past(0.3), timeout=120, what="running its search")
    assert running["status"] == "running", platform.describe(running)
    worker.kill()

    started = time.monotonic()
    job = platform.wait(job_id, timeout=LEASE_SECONDS + 20, what="failed by the reconciler")
    assert job["status"] == "failed", platform.describe(job)
    assert "stale heartbeat" in job["error"]
    assert job["attempts"] == 1
    assert job["result"] is None
    assert time.monotonic() - started < LEASE_SECONDS + 20
    # Its run does not stay RUNNING for ever: the reconciler ends it with the job.
    assert platform.get(f"/runs/{job_run_id(job_id)}")["status"] == "FAILED"
