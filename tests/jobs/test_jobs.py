"""The job system end to end, once per executor (threads in the server, and a real Celery worker
on Redis) and per database backend: the same tests pass on both paths."""

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.tables import Job
from app.training.service import job_run_id
from tests.jobs.conftest import RECONCILE_SECONDS, Platform, churn_frame, csv_bytes, search_spec, train_spec

pytestmark = pytest.mark.slow


def job_rows(platform: Platform, **where: Any) -> int:
    with platform.client.app.state.sessions(write=False) as session:
        query = select(func.count()).select_from(Job)
        for column, value in where.items():
            query = query.where(getattr(Job, column) == value)
        return int(session.scalar(query) or 0)


def running_past(fraction: float) -> Any:
    """Until the job runs past `fraction` of its progress, or finished (so a failure shows at once)."""
    return lambda job: (
        job["status"] in ("succeeded", "failed", "cancelled")
        or (job["status"] == "running" and job["progress"] > fraction)
    )


def test_train_job_records_run_model_alias_and_lineage(executor: Platform, churn: str) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    submitted = executor.submit("train", train_spec(churn, register_as=model, alias="candidate"))
    assert submitted["status"] == "queued"
    assert submitted["attempts"] == 0
    assert submitted["progress"] == 0

    job = executor.succeeded(submitted["id"])
    assert job["progress"] == 1.0
    assert job["attempts"] == 1
    assert job["error"] is None
    assert job["started_at"]
    assert job["finished_at"]
    assert job["heartbeat_at"]
    assert "saving the model" in job["log_tail"]
    result = job["result"]
    assert result["run_id"] == job_run_id(job["id"])
    assert result["model"] == {"name": model, "version": 1, "status": "READY"}
    assert {"accuracy", "f1", "roc_auc"} <= set(result["metrics"])

    run = executor.get(f"/runs/{result['run_id']}")
    assert run["status"] == "FINISHED"
    assert run["metrics"] == pytest.approx(result["metrics"])
    assert run["params"]["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert run["tags"]["shipyard.job_id"] == job["id"]

    version = executor.get(f"/models/{model}/versions/1")
    assert version["status"] == "READY"
    assert version["source_run_id"] == result["run_id"]
    assert version["aliases"] == ["candidate"]
    assert executor.get(f"/models/{model}")["aliases"] == {"candidate": 1}

    dataset = executor.get(f"/datasets/{churn.replace('@', '/versions/')}")
    lineage = executor.get(f"/models/{model}/versions/1/lineage")
    assert lineage["source_run"]["id"] == result["run_id"]
    assert lineage["datasets"] == [
        {"name": dataset["dataset"], "version": 1, "digest": dataset["sha256"], "context": "training"}
    ]

    listed = executor.client.get("/api/v1/jobs", params={"type": "train"}, headers=executor.headers).json()
    assert job["id"] in [j["id"] for j in listed["jobs"]]


def test_same_spec_data_and_seed_give_the_same_metrics(executor: Platform, churn: str) -> None:
    spec = train_spec(churn, estimator="random_forest", params={"n_estimators": 15, "max_depth": 4})
    first = executor.submit("train", spec)
    second = executor.submit("train", spec)
    assert first["id"] != second["id"]
    one = executor.succeeded(first["id"])["result"]
    two = executor.succeeded(second["id"])["result"]
    assert one["run_id"] != two["run_id"]
    assert one["metrics"] == two["metrics"]


def test_evaluate_job_judges_gates_against_a_baseline(executor: Platform, churn: str) -> None:
    model = f"eval-{uuid.uuid4().hex[:8]}"
    candidate = executor.submit("train", train_spec(churn, register_as=model, alias="candidate"))
    baseline = executor.submit(
        "train",
        train_spec(churn, estimator="decision_tree", params={"max_depth": 1}, register_as=model, alias="champion"),
    )
    executor.succeeded(candidate["id"])
    executor.succeeded(baseline["id"])
    candidate_version = executor.get(f"/models/{model}")["aliases"]["candidate"]

    failing = executor.submit(
        "evaluate",
        {
            "model": f"{model}@candidate",
            "dataset": churn,
            "gates": ["accuracy>=0.5", "f1>=0.999", "accuracy>=baseline-0.01"],
            "baseline": f"{model}@champion",
        },
    )
    passing = executor.submit(
        "evaluate", {"model": f"{model}@candidate", "dataset": churn, "gates": ["accuracy>=0.5", "log_loss<5"]}
    )
    failed_gates = executor.succeeded(failing["id"])["result"]
    assert failed_gates["passed"] is False
    gates = {g["gate"]: g for g in failed_gates["gates"]}
    assert list(gates) == ["accuracy>=0.5", "f1>=0.999", "accuracy>=baseline-0.01"]
    assert gates["accuracy>=0.5"]["passed"] is True
    assert gates["f1>=0.999"]["passed"] is False
    assert gates["f1>=0.999"]["actual"] == pytest.approx(failed_gates["metrics"]["f1"])
    assert all(g["reason"] for g in failed_gates["gates"])
    metrics, base = failed_gates["metrics"], failed_gates["baseline_metrics"]
    assert failed_gates["deltas"]["accuracy"] == pytest.approx(metrics["accuracy"] - base["accuracy"])
    assert gates["accuracy>=baseline-0.01"]["threshold"] == pytest.approx(base["accuracy"] - 0.01)
    assert gates["accuracy>=baseline-0.01"]["passed"] is (metrics["accuracy"] >= base["accuracy"] - 0.01)
    assert failed_gates["dataset"] == churn

    passed = executor.succeeded(passing["id"])["result"]
    assert passed["passed"] is True
    assert passed["deltas"] is None
    assert [g["passed"] for g in passed["gates"]] == [True, True]

    lineage = executor.get(f"/models/{model}/versions/{candidate_version}/lineage")
    evaluations = {e["job_id"]: e for e in lineage["evaluations"]}
    assert set(evaluations) == {failing["id"], passing["id"]}
    assert evaluations[failing["id"]]["passed"] is False
    assert evaluations[passing["id"]]["passed"] is True
    assert evaluations[failing["id"]]["deltas"]["accuracy"] == pytest.approx(failed_gates["deltas"]["accuracy"])
    assert evaluations[failing["id"]]["dataset"] == churn


def test_idempotency_key_gives_one_job(executor: Platform, churn: str) -> None:
    key = f"nightly-{uuid.uuid4().hex}"
    first = executor.submit("train", train_spec(churn), key=key, expect=201)
    again = executor.submit("train", train_spec(churn), key=key, expect=200)
    other_spec = executor.submit("train", train_spec(churn, estimator="knn", params={}), key=key, expect=422)
    assert other_spec["code"] == "idempotency_key_reused"
    assert first["id"] == again["id"]
    assert job_rows(executor, idempotency_key=key) == 1
    executor.succeeded(first["id"])
    assert len(executor.runs_tagged(first["id"])) == 1


def test_bad_specs_are_a_400_at_submit_and_make_no_job(executor: Platform, churn: str) -> None:
    before = job_rows(executor)

    def refused(job_type: str, spec: dict[str, Any], status: int = 400) -> dict[str, Any]:
        response = executor.client.post("/api/v1/jobs", json={"type": job_type, "spec": spec}, headers=executor.headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return dict(response.json())

    unknown = refused("train", train_spec(churn, estimator="random_forrest", params={}))
    assert unknown["field"] == "estimator"
    assert "random_forest" in unknown["allowed"]
    assert "logistic_regression" in unknown["allowed"]
    assert "random_forest" in unknown["detail"]

    bad_param = refused("train", train_spec(churn, estimator="random_forest", params={"n_estimatorz": 10}))
    assert bad_param["param"] == "n_estimatorz"
    assert "n_estimatorz" in bad_param["detail"]
    assert "n_estimators" in bad_param["allowed"]

    bad_space = refused(
        "train",
        train_spec(churn, estimator="random_forest", params={}, search={"kind": "grid", "space": {"depth": [1]}}),
    )
    assert bad_space["field"] == "search.space.depth"

    bad_value = refused("train", train_spec(churn, params={"C": -1.0}))
    assert bad_value["field"] == "params.C"

    no_target = refused("train", train_spec(churn, target="cancelled_at"))
    assert no_target["field"] == "target"
    assert "cancelled_at" in no_target["detail"]
    assert "churned" in no_target["columns"]

    refused("train", train_spec(f"missing-{uuid.uuid4().hex[:6]}@1"), status=404)
    refused("train", {"dataset": churn, "target": "churned"}, status=400)  # no estimator
    refused("evaluate", {"model": "no-such-model@candidate", "dataset": churn}, status=404)
    bad_gate = refused("evaluate", {"model": "no-such-model@candidate", "dataset": churn, "gates": ["f1>>0.8"]})
    assert "f1>>0.8" in bad_gate["detail"]

    assert job_rows(executor) == before


def test_cancel_a_queued_job_at_once_and_a_running_one_at_its_next_checkpoint(executor: Platform, churn: str) -> None:
    # One job runs at a time on this platform: the slow search holds the executor.
    slow = executor.submit("train", train_spec(churn, **search_spec(200)))
    running = executor.wait(slow["id"], running_past(0.27), what="running a search")
    assert running["status"] == "running", executor.describe(running)

    waiting = executor.submit("train", train_spec(churn))
    time.sleep(1.0)
    assert executor.job(waiting["id"])["status"] == "queued"
    cancelled = executor.cancel(waiting["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None

    requested = executor.cancel(slow["id"])
    assert requested["status"] == "running"
    assert requested["cancel_requested"] is True
    stopped = executor.wait(slow["id"], timeout=30, what="cancelled at its next checkpoint")
    assert stopped["status"] == "cancelled", executor.describe(stopped)
    assert stopped["progress"] < 0.9
    assert stopped["result"] is None

    # The executor is free again; the cancelled job's wake-up (and the reconciler's) changes nothing.
    follow_up = executor.submit("train", train_spec(churn))
    executor.succeeded(follow_up["id"])
    never_ran = executor.job(waiting["id"])
    assert never_ran["status"] == "cancelled"
    assert never_ran["attempts"] == 0
    assert never_ran["started_at"] is None
    assert executor.cancel(follow_up["id"])["status"] == "succeeded"  # finished jobs stay as they are


def test_a_job_that_crashes_fails_with_an_error_summary(executor: Platform, churn: str) -> None:
    # Passes every check at submit time, but scoring asks for more neighbours than there are rows.
    crash = executor.submit("train", train_spec(churn, estimator="knn", params={"n_neighbors": 5000}))
    job = executor.wait(crash["id"])
    assert job["status"] == "failed", executor.describe(job)
    assert job["error"].startswith("ValueError: "), job["error"]
    assert "n_neighbors" in job["error"]
    assert "Traceback" in job["log_tail"]
    assert job["attempts"] == 1
    assert job["result"] is None
    assert job["finished_at"] is not None
    assert executor.get(f"/runs/{job_run_id(crash['id'])}")["status"] == "FAILED"
    # Not retried nor revived by the reconciler: a couple of its passes later it is still failed.
    time.sleep(2 * RECONCILE_SECONDS + 0.5)
    assert executor.job(crash["id"])["status"] == "failed"
    assert executor.job(crash["id"])["attempts"] == 1


def test_a_job_whose_stored_dataset_is_corrupt_fails(executor: Platform) -> None:
    name = f"corrupt-{uuid.uuid4().hex[:8]}"
    executor.upload(name, csv_bytes(churn_frame(rows=60)), expect=201)
    stored = Path(executor.settings.resolved_artifact_uri) / "datasets" / name / "1" / "data.parquet"
    stored.write_bytes(b"PAR1 this file was damaged on disk PAR1")
    job = executor.wait(executor.submit("train", train_spec(f"{name}@1"))["id"])
    assert job["status"] == "failed", executor.describe(job)
    assert job["error"], job
    assert job["attempts"] == 1
    assert job["result"] is None
