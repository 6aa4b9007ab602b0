"""Runs through HTTP: lifecycle, batched logging with MLflow's limits, immutable params and
metric history."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.tables import MetricChunk
from tests.factories import log_batch, make_experiment, make_run


def test_run_records_who_where_and_what(client: TestClient, editor: dict[str, str]) -> None:
    parent = make_run(client, editor)
    child = make_run(
        client,
        editor,
        parent["experiment_id"],
        name="child",
        parent_run_id=parent["id"],
        tags={"team": "risk"},
        source={"git_commit": "a" * 40, "entry_point": "train.py"},
        environment={"python": "3.11.7", "packages": {"scikit-learn": "1.5.0"}},
    )
    got = client.get(f"/api/v1/runs/{child['id']}", headers=editor).json()
    assert got["status"] == "RUNNING"
    assert got["parent_run_id"] == parent["id"]
    assert got["user"].startswith("editor-")
    assert got["source"] == {"git_commit": "a" * 40, "entry_point": "train.py"}
    assert got["environment"]["packages"] == {"scikit-learn": "1.5.0"}
    assert got["tags"] == {"team": "risk"}
    assert got["end_time"] is None


def test_finishing_a_run_sets_its_end_time(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    done = client.patch(f"/api/v1/runs/{run['id']}", json={"status": "FINISHED"}, headers=editor).json()
    assert done["status"] == "FINISHED"
    assert done["end_time"] >= done["start_time"]
    bad = client.patch(f"/api/v1/runs/{run['id']}", json={"status": "DONE"}, headers=editor)
    assert bad.status_code == 422


def test_unknown_run_and_parent_are_404(client: TestClient, editor: dict[str, str]) -> None:
    assert client.get(f"/api/v1/runs/{'f' * 32}", headers=editor).json()["code"] == "run_not_found"
    experiment = make_experiment(client, editor)
    orphan = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs", json={"parent_run_id": "e" * 32}, headers=editor
    )
    assert orphan.status_code == 404
    batch = client.post(f"/api/v1/runs/{'f' * 32}/log-batch", json={"metrics": []}, headers=editor)
    assert batch.status_code == 404


def test_latest_metric_is_the_highest_step_not_the_last_written(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    log_batch(client, editor, run["id"], metrics=[{"key": "loss", "value": 0.2, "step": 10}])
    log_batch(client, editor, run["id"], metrics=[{"key": "loss", "value": 0.9, "step": 3}])
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()["metrics"] == {"loss": 0.2}
    history = client.get(f"/api/v1/runs/{run['id']}/metrics/loss", headers=editor).json()
    assert [p["step"] for p in history["points"]] == [3, 10]


@pytest.mark.parametrize(
    ("field", "count", "limit"), [("metrics", 1001, 1000), ("params", 101, 100), ("tags", 101, 100)]
)
def test_batches_over_the_limits_are_400_naming_the_limit(
    client: TestClient, editor: dict[str, str], field: str, count: int, limit: int
) -> None:
    run = make_run(client, editor)
    if field == "metrics":
        items = [{"key": "m", "value": 1.0, "step": i} for i in range(count)]
    else:
        items = [{"key": f"k{i}", "value": "v"} for i in range(count)]
    response = client.post(f"/api/v1/runs/{run['id']}/log-batch", json={field: items}, headers=editor)
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "limit_exceeded"
    assert f"at most {limit} {field}" in problem["detail"]
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()[field] == {}


def test_full_batch_at_the_limits_is_accepted(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    log_batch(
        client,
        editor,
        run["id"],
        metrics=[{"key": "m", "value": float(i), "step": i} for i in range(1000)],
        params=[{"key": f"p{i}", "value": str(i)} for i in range(100)],
        tags=[{"key": f"t{i}", "value": str(i)} for i in range(100)],
    )
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert len(got["params"]) == 100
    assert len(got["tags"]) == 100
    assert got["metrics"] == {"m": 999.0}


def test_params_are_immutable_and_a_conflict_writes_nothing(
    client: TestClient, editor: dict[str, str], app: FastAPI
) -> None:
    run = make_run(client, editor)
    log_batch(client, editor, run["id"], params=[{"key": "lr", "value": "0.1"}])
    log_batch(client, editor, run["id"], params=[{"key": "lr", "value": "0.1"}])  # same value again is fine
    conflict = client.post(
        f"/api/v1/runs/{run['id']}/log-batch",
        json={"params": [{"key": "lr", "value": "0.2"}], "metrics": [{"key": "acc", "value": 0.5}]},
        headers=editor,
    )
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "param_conflict"
    assert "lr" in conflict.json()["detail"]
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert got["params"] == {"lr": "0.1"}
    assert got["metrics"] == {}
    with app.state.sessions(write=False) as session:
        assert session.scalar(select(func.count()).select_from(MetricChunk).where(MetricChunk.run_id == run["id"])) == 0


def test_metric_history_is_complete_ordered_and_can_be_downsampled(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    for start in range(0, 3000, 1000):
        metrics = [
            {"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": 1_700_000_000_000 + i}
            for i in range(start, start + 1000)
        ]
        log_batch(client, editor, run["id"], metrics=metrics)
    full = client.get(f"/api/v1/runs/{run['id']}/metrics/loss", headers=editor).json()
    assert [p["step"] for p in full["points"]] == list(range(3000))
    assert full["points"][5] == {"step": 5, "value": 1 / 6, "timestamp": 1_700_000_000_005}
    assert full["downsampled"] is False
    thin = client.get(f"/api/v1/runs/{run['id']}/metrics/loss", params={"max_points": 100}, headers=editor).json()
    steps = [p["step"] for p in thin["points"]]
    assert thin["downsampled"] is True
    assert len(steps) == 100
    assert steps[0] == 0
    assert steps[-1] == 2999
    assert steps == sorted(steps)
    missing = client.get(f"/api/v1/runs/{run['id']}/metrics/nope", headers=editor)
    assert missing.status_code == 404
    assert missing.json()["code"] == "metric_not_found"


def test_metric_history_orders_points_however_they_were_batched(client: TestClient, editor: dict[str, str]) -> None:
    """By step, then timestamp; points equal in both keep the order they were logged in, across batches."""
    run = make_run(client, editor)
    ts = 1_700_000_000_000
    log_batch(
        client,
        editor,
        run["id"],
        metrics=[{"key": "m", "value": float(s), "step": s, "timestamp": ts} for s in (12, 10, 11)],
    )
    log_batch(
        client,
        editor,
        run["id"],
        metrics=[
            {"key": "m", "value": 0.5, "step": 0, "timestamp": ts},
            {"key": "m", "value": 10.5, "step": 10, "timestamp": ts},  # ties step 10 of the first batch: after it
            {"key": "m", "value": 9.0, "step": 10, "timestamp": ts - 1},  # earlier timestamp: before both
            {"key": "other", "value": 1.0, "step": 3},
        ],
    )
    log_batch(client, editor, run["id"], metrics=[{"key": "m", "value": 13.0, "step": 13, "timestamp": ts}])
    points = client.get(f"/api/v1/runs/{run['id']}/metrics/m", headers=editor).json()["points"]
    assert [(p["step"], p["value"]) for p in points] == [
        (0, 0.5),
        (10, 9.0),
        (10, 10.0),
        (10, 10.5),
        (11, 11.0),
        (12, 12.0),
        (13, 13.0),
    ]
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert got["metrics"] == {"m": 13.0, "other": 1.0}


def test_mistyped_metric_values_are_422(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    for value in ("nan", "abc", None):
        response = client.post(
            f"/api/v1/runs/{run['id']}/log-batch", json={"metrics": [{"key": "m", "value": value}]}, headers=editor
        )
        assert response.status_code == 422, value
        assert any(e["loc"][:3] == ["body", "metrics", "0"] for e in response.json()["errors"])
    bad_key = client.post(
        f"/api/v1/runs/{run['id']}/log-batch", json={"metrics": [{"key": "a\nb", "value": 1}]}, headers=editor
    )
    assert bad_key.status_code == 422
