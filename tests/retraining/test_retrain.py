"""The retrain job through HTTP on SQLite and Postgres (jobs on the in-process runner): the
serving version's own training spec on the newest data or on reference plus labelled production
rows, a new version of the same model with its lineage, gates judged against the serving version,
a failed gate that stops the rollout, a passing one whose canary promotes the new version, and
bad specs refused at submit."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.deployments.conftest import register
from tests.deployments.test_rollouts import drive
from tests.jobs.conftest import Platform, churn_frame, csv_bytes, open_platform
from tests.registry.conftest import trained_pipeline, write_model_folder, zip_folder
from tests.retraining.conftest import (
    API,
    dataset_frame,
    flush_log,
    new_name,
    predict,
    send_feedback,
    traffic,
    train_and_deploy,
    upload_churn,
)


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    # A platform of this module's own: a canary's analysis holds the one job thread while it runs.
    data_dir = tmp_path_factory.mktemp(f"retrain-{backend}")
    with open_platform("embedded", backend, data_dir, postgres_database() if backend == "postgres" else None) as opened:
        yield opened


def retrain(platform: Platform, spec: dict[str, Any]) -> dict[str, Any]:
    return platform.succeeded(platform.submit("retrain", spec)["id"])


def serving(platform: Platform, deployment: str) -> list[tuple[int, int, str]]:
    routes = platform.get(f"/deployments/{deployment}")["routes"]
    return [(r["version"], r["weight"], r["mode"]) for r in routes]


def test_retrain_on_the_newest_data_registers_a_new_version_of_the_same_model(platform: Platform) -> None:
    dataset = upload_churn(platform)
    deployment, model, train_job = train_and_deploy(
        platform, dataset, estimator="random_forest", params={"n_estimators": 20, "max_depth": 4}
    )
    platform.upload(dataset, csv_bytes(churn_frame(500, seed=8)), expect=201)

    job = retrain(platform, {"deployment": deployment, "data": "newest"})
    result = job["result"]
    assert result["model"] == {"name": model, "version": 2, "status": "READY"}
    assert result["dataset"] == f"{dataset}@2"
    assert result["baseline"] == {"model": model, "version": 1}
    assert (result["gate"], result["promoted"], result["rollout_id"]) == (None, False, None)
    # The serving version's own spec, on the newest data: the same estimator and parameters.
    assert result["train_spec"]["estimator"] == "random_forest"
    assert result["train_spec"]["params"] == train_job["spec"]["params"]
    assert result["train_spec"]["dataset"] == f"{dataset}@2"

    version = platform.get(f"/models/{model}/versions/2")
    assert version["tags"]["shipyard.job_id"] == job["id"]
    lineage = platform.get(f"/models/{model}/versions/2/lineage")
    assert [(d["name"], d["version"], d["context"]) for d in lineage["datasets"]] == [(dataset, 2, "training")]
    assert lineage["source_run"]["id"] == result["run_id"]
    assert lineage["source_run"]["status"] == "FINISHED"
    assert "training the model" in job["log_tail"] or "saving the model" in job["log_tail"]
    # Registered, not deployed: with no rollout the deployment still serves version 1.
    assert serving(platform, deployment) == [(1, 100, "primary")]


def test_a_failed_gate_registers_the_version_and_rolls_nothing_out(platform: Platform) -> None:
    deployment, model, _ = train_and_deploy(platform, upload_churn(platform))
    canary = {"strategy": "canary", "steps": [50, 100], "interval_seconds": 1, "min_requests": 5}

    job = retrain(platform, {"deployment": deployment, "gates": ["accuracy>=baseline+0.5"], "rollout": canary})
    result = job["result"]
    assert result["promoted"] is False
    assert result["rollout_id"] is None
    assert result["gate"]["passed"] is False
    [gate] = result["gate"]["gates"]
    assert gate["gate"] == "accuracy>=baseline+0.5"
    assert gate["threshold"] == pytest.approx(result["gate"]["baseline_metrics"]["accuracy"] + 0.5)
    assert "gate failed" in result["rollout_skipped"]
    assert serving(platform, deployment) == [(1, 100, "primary")]
    assert platform.get(f"/deployments/{deployment}/rollouts")["rollouts"] == []
    evaluations = platform.get(f"/models/{model}/versions/2/lineage")["evaluations"]
    assert [(e["job_id"], e["passed"]) for e in evaluations] == [(job["id"], False)]
    assert evaluations[0]["baseline"]["model"] == f"{model}/1"


def test_a_passing_gate_starts_the_canary_which_promotes_the_new_version(platform: Platform) -> None:
    dataset = upload_churn(platform)
    deployment, model, _ = train_and_deploy(platform, dataset)
    holdout = upload_churn(platform, rows=200, seed=21)
    canary = {"strategy": "canary", "steps": [50, 100], "interval_seconds": 1, "min_requests": 5}

    job = retrain(
        platform,
        {
            "deployment": deployment,
            "gates": ["accuracy>=baseline-0.2", "f1>=0"],
            "holdout": f"{holdout}@1",
            "rollout": canary,
            "reason": "the data moved",
        },
    )
    result = job["result"]
    assert result["gate"]["passed"] is True
    assert result["gate"]["dataset"] == f"{holdout}@1"
    assert result["promoted"] is None  # the rollout's analysis decides
    assert result["rollout_job_id"]
    rollout = platform.get(f"/deployments/{deployment}")["rollout"]
    assert (rollout["id"], rollout["candidate_version"], rollout["primary_version"]) == (result["rollout_id"], 2, 1)
    assert "the data moved" in rollout["reason"] or job["id"] in rollout["reason"]

    inputs, _ = traffic(40, seed=3)
    finished, answered = drive(platform.client, platform.headers, deployment, lambda i: inputs[i % 40 : i % 40 + 1])
    assert finished["state"] == "promoted", platform.describe(platform.job(result["rollout_job_id"]))
    assert 2 in answered
    assert serving(platform, deployment) == [(2, 100, "primary")]

    # A version made by a retrain is retrained with the spec that retrain used.
    again = retrain(platform, {"deployment": deployment})["result"]
    assert again["baseline"] == {"model": model, "version": 2}
    assert again["model"]["version"] == 3
    assert again["train_spec"] == {**result["train_spec"], "dataset": f"{dataset}@1"}


def test_reference_plus_feedback_trains_on_a_new_version_of_reference_and_labelled_rows(platform: Platform) -> None:
    dataset = upload_churn(platform)
    deployment, model, _ = train_and_deploy(platform, dataset)
    inputs, labels = traffic(60, seed=5, shifted=True)
    answer = predict(platform, deployment, inputs)
    flush_log(platform)
    labelled = 40
    sent = send_feedback(platform, deployment, answer["prediction_ids"][:labelled], labels[:labelled])
    assert sent["matched"] == labelled

    job = retrain(platform, {"deployment": deployment, "data": "reference_plus_feedback"})
    result = job["result"]
    assert result["dataset"] == f"{dataset}@2"
    assert result["model"]["version"] == 2
    frame = dataset_frame(platform, f"{dataset}@2")
    reference = dataset_frame(platform, f"{dataset}@1")
    assert len(frame) == len(reference) + labelled
    added = frame.iloc[len(reference) :]
    assert added["churned"].tolist() == labels[:labelled]
    assert added["tenure"].tolist() == [row["tenure"] for row in inputs[:labelled]]
    assert set(added["plan"]) == {"basic"}
    lineage = platform.get(f"/models/{model}/versions/2/lineage")
    assert [(d["name"], d["version"]) for d in lineage["datasets"]] == [(dataset, 2)]

    # The same reference and feedback again: the same rows, so the same dataset version.
    again = retrain(platform, {"deployment": deployment, "data": "reference_plus_feedback"})["result"]
    assert again["dataset"] == f"{dataset}@2"
    assert again["model"]["version"] == 3
    assert sorted(v["version"] for v in platform.get(f"/datasets/{dataset}/versions")["versions"]) == [1, 2]


def test_reference_plus_feedback_with_no_feedback_fails_and_leaves_nothing(platform: Platform) -> None:
    dataset = upload_churn(platform)
    deployment, model, _ = train_and_deploy(platform, dataset)
    predict(platform, deployment, traffic(5, seed=1)[0])
    flush_log(platform)

    submitted = platform.submit("retrain", {"deployment": deployment, "data": "reference_plus_feedback"})
    job = platform.wait(submitted["id"])
    assert job["status"] == "failed", platform.describe(job)
    assert "has feedback yet" in job["error"]
    assert [v["version"] for v in platform.get(f"/models/{model}/versions")["versions"]] == [1]
    assert [v["version"] for v in platform.get(f"/datasets/{dataset}/versions")["versions"]] == [1]


def test_bad_retrain_specs_are_a_400_at_submit_and_make_no_job(platform: Platform) -> None:
    deployment, _, _ = train_and_deploy(platform, upload_churn(platform))
    by_hand = new_name("uploaded")
    register(
        platform.client,
        platform.headers,
        by_hand,
        zip_folder(write_model_folder(platform.log_dir / by_hand, trained_pipeline())),
    )
    hand_deployment = new_name("by-hand")
    response = platform.client.post(
        f"{API}/deployments", json={"name": hand_deployment, "model": by_hand, "version": 1}, headers=platform.headers
    )
    assert response.status_code == 201, response.text

    def refused(spec: dict[str, Any], status: int = 400) -> dict[str, Any]:
        response = platform.client.post(f"{API}/jobs", json={"type": "retrain", "spec": spec}, headers=platform.headers)
        assert response.status_code == status, response.text
        return dict(response.json())

    before = len(platform.get("/jobs?type=retrain&max_results=1000")["jobs"])
    problem = refused({"deployment": hand_deployment})
    assert "not registered by a train job" in problem["detail"]
    assert problem["field"] == "deployment"
    assert refused({"deployment": new_name("missing")}, 404)["code"] == "deployment_not_found"
    assert refused({"deployment": deployment, "data": "oldest"})["field"] == "data"
    assert refused({"deployment": deployment, "gates": ["f1>>0.8"]})["field"] == "gates"
    wrong_task = refused({"deployment": deployment, "gates": ["rmse<1"]})
    assert "rmse" in wrong_task["detail"]
    steps = refused({"deployment": deployment, "rollout": {"strategy": "canary", "steps": [50, 10]}})
    assert steps["field"] == "rollout.steps"
    assert refused({"deployment": deployment, "rollout": {"strategy": "big_bang"}})["field"] == "rollout.strategy"
    holdout = refused({"deployment": deployment, "holdout": f"{new_name('nowhere')}@1"})
    assert holdout["field"] == "holdout"
    typo = refused({"deployment": deployment, "gate": ["f1>=0.8"]})
    assert "gates" in typo["detail"]
    assert len(platform.get("/jobs?type=retrain&max_results=1000")["jobs"]) == before
