"""A retrain job on real Celery worker processes (Redis, Postgres): the worker running it is
SIGKILLed in the middle of training, another finishes it, and the job leaves one new dataset
version, one run and one model version."""

from collections.abc import Callable, Iterator

import pytest

from tests.jobs.conftest import Platform, open_platform, search_spec
from tests.retraining.conftest import flush_log, predict, send_feedback, traffic, train_and_deploy, upload_churn

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]) -> Iterator[Platform]:
    # On Postgres only, as deployed: the test waits on a process dying and its lease running out.
    data_dir = tmp_path_factory.mktemp("retrain-celery")
    with open_platform("celery", "postgres", data_dir, postgres_database(), start_default_worker=False) as opened:
        yield opened


def running_past(fraction: float) -> Callable[[dict[str, object]], bool]:
    return lambda job: (
        job["status"] != "queued" and (job["status"] != "running" or float(str(job["progress"])) > fraction)
    )


def test_a_retrain_whose_worker_is_killed_mid_training_is_finished_once_by_another(platform: Platform) -> None:
    first = platform.start_worker()
    dataset = upload_churn(platform)
    # A grid search of many candidates: slow enough to be caught training, checkpointed after each.
    deployment, model, _ = train_and_deploy(platform, dataset, **search_spec(60))
    inputs, labels = traffic(30, seed=9, shifted=True)
    answer = predict(platform, deployment, inputs)
    flush_log(platform)
    send_feedback(platform, deployment, answer["prediction_ids"], labels)

    job_id = platform.submit("retrain", {"deployment": deployment, "data": "reference_plus_feedback"})["id"]
    caught = platform.wait(job_id, running_past(0.3), timeout=120, what="training")
    assert caught["status"] == "running", platform.describe(caught)
    first.kill()
    platform.start_worker()

    job = platform.wait(job_id, timeout=180)
    assert job["status"] == "succeeded", platform.describe(job)
    assert job["attempts"] >= 2
    assert job["result"]["model"] == {"name": model, "version": 2, "status": "READY"}
    assert job["result"]["dataset"] == f"{dataset}@2"
    versions = platform.get(f"/models/{model}/versions")["versions"]
    assert sorted(v["version"] for v in versions) == [1, 2]
    assert sorted(v["version"] for v in platform.get(f"/datasets/{dataset}/versions")["versions"]) == [1, 2]
    runs = platform.runs_tagged(job_id)
    assert [run["id"] for run in runs] == [job["result"]["run_id"]]
    assert runs[0]["status"] == "FINISHED"
