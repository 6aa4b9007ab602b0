"""The canary analysis on a real Celery worker process (Redis broker), on SQLite and Postgres:
a failing canary is rolled back by the worker with no one watching, and a healthy one promoted."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deployments.conftest import deploy, new_name, register, rows
from tests.deployments.test_rollouts import drive, primary_only, settle, unknown_plan
from tests.jobs.conftest import Platform, open_platform

API = "/api/v1"


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp(f"rollouts-celery-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    with open_platform("celery", backend, data_dir, database_url) as opened:
        yield opened


def test_the_worker_rolls_a_failing_canary_back_and_promotes_a_good_one(
    platform: Platform, model_zips: dict[str, bytes]
) -> None:
    client, headers = platform.client, platform.headers
    model = new_name("model")
    register(client, headers, model, model_zips["forest"])
    register(client, headers, model, model_zips["strict"])
    register(client, headers, model, model_zips["forest"])
    name = new_name()
    deploy(client, headers, name, model, 1)
    canary = {"strategy": "canary", "steps": [50, 100], "interval_seconds": 1, "min_requests": 5}

    started = client.post(f"{API}/deployments/{name}/rollouts", json={**canary, "version": 2}, headers=headers)
    assert started.status_code == 201, started.text
    rollout, _ = drive(client, headers, name, unknown_plan, timeout=60)
    assert rollout["state"] == "rolled_back", platform.describe(platform.job(rollout["job_id"]))
    assert "error rate" in rollout["reason"]
    primary_only(client.get(f"{API}/deployments/{name}", headers=headers).json(), model, 1)
    settle(client, headers, name, 1)
    job = platform.wait(rollout["job_id"])
    assert job["status"] == "succeeded", platform.describe(job)
    # The worker process ran it, not the API's in-process runner.
    assert ":embedded" not in job["log_tail"]
    assert "Task jobs.run" in platform.workers[0].log(20000)

    started = client.post(f"{API}/deployments/{name}/rollouts", json={**canary, "version": 3}, headers=headers)
    assert started.status_code == 201, started.text
    rollout, answered = drive(client, headers, name, lambda i: rows(1), timeout=60)
    assert rollout["state"] == "promoted", platform.describe(platform.job(rollout["job_id"]))
    assert 3 in answered
    primary_only(client.get(f"{API}/deployments/{name}", headers=headers).json(), model, 3)


def test_a_killed_worker_s_analysis_resumes_on_another_from_the_rollout_row(
    platform: Platform, model_zips: dict[str, bytes]
) -> None:
    client, headers = platform.client, platform.headers
    model = new_name("model")
    register(client, headers, model, model_zips["forest"])
    register(client, headers, model, model_zips["forest"])
    name = new_name()
    deploy(client, headers, name, model, 1)
    body = {"strategy": "canary", "version": 2, "steps": [50, 100], "interval_seconds": 2, "min_requests": 3}
    started = client.post(f"{API}/deployments/{name}/rollouts", json=body, headers=headers)
    assert started.status_code == 201, started.text
    job_id = started.json()["rollout"]["job_id"]
    platform.wait(job_id, lambda job: job["status"] == "running" and "step 1" in job["message"], what="analysing")
    for worker in [w for w in platform.workers if w.alive()]:
        worker.kill()
    platform.start_worker()
    rollout, _ = drive(client, headers, name, lambda i: rows(1), timeout=90)
    assert rollout["state"] == "promoted", platform.describe(platform.job(job_id))
    job = platform.wait(job_id)
    assert job["status"] == "succeeded", platform.describe(job)
    assert job["attempts"] >= 2
    primary_only(client.get(f"{API}/deployments/{name}", headers=headers).json(), model, 2)
