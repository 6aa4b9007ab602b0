"""Starting a run with its first params, tags and metric points in the one create request:
what comes back, what is stored, and that a refused value leaves no run behind."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.tables import AuditEvent, Run
from tests.factories import make_experiment, make_run


def _runs_in(app: FastAPI, experiment_id: int) -> int:
    with app.state.sessions(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Run).where(Run.experiment_id == experiment_id)) or 0)


def test_a_run_created_with_its_data_has_it_at_once(client: TestClient, editor: dict[str, str], app: FastAPI) -> None:
    experiment = make_experiment(client, editor)
    created = make_run(
        client,
        editor,
        experiment["id"],
        name="with-data",
        params={"model": "rf", "n_estimators": "200"},
        tags={"team": "risk"},
        metrics=[
            {"key": "loss", "value": 0.2, "step": 5, "timestamp": 2000},
            {"key": "loss", "value": 0.9, "step": 1, "timestamp": 1000},
            {"key": "grad", "value": "NaN"},
        ],
    )
    # The response already holds the data, the latest value being the highest step's.
    assert created["params"] == {"model": "rf", "n_estimators": "200"}
    assert created["tags"] == {"team": "risk"}
    assert created["metrics"] == {"loss": 0.2, "grad": "NaN"}
    stored = client.get(f"/api/v1/runs/{created['id']}", headers=editor).json()
    assert {key: stored[key] for key in ("params", "tags", "metrics")} == {
        key: created[key] for key in ("params", "tags", "metrics")
    }
    history = client.get(f"/api/v1/runs/{created['id']}/metrics/loss", headers=editor).json()
    assert [(p["step"], p["value"]) for p in history["points"]] == [(1, 0.9), (5, 0.2)]
    found = client.post(
        "/api/v1/runs/search",
        json={"experiment_ids": [experiment["id"]], "filter": "params.model = 'rf' and metrics.loss < 0.5"},
        headers=editor,
    ).json()
    assert [run["id"] for run in found["runs"]] == [created["id"]]
    with app.state.sessions(write=False) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "run.create", AuditEvent.resource_id == created["id"])
        ).one()
    assert event.detail == {"experiment_id": experiment["id"], "params": 2, "metrics": 3, "tags": 1}


def test_later_log_batch_adds_to_what_the_run_was_created_with(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor, params={"lr": "0.1"}, metrics=[{"key": "acc", "value": 0.5, "step": 0}])
    same = client.post(
        f"/api/v1/runs/{run['id']}/log-batch",
        json={"params": [{"key": "lr", "value": "0.1"}], "metrics": [{"key": "acc", "value": 0.7, "step": 1}]},
        headers=editor,
    )
    assert same.status_code == 204
    changed = client.post(
        f"/api/v1/runs/{run['id']}/log-batch", json={"params": [{"key": "lr", "value": "0.2"}]}, headers=editor
    )
    assert changed.status_code == 409
    assert changed.json()["code"] == "param_conflict"
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert got["params"] == {"lr": "0.1"}
    assert got["metrics"] == {"acc": 0.7}


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"metrics": [{"key": "ok", "value": 1.0}, {"key": "bad", "value": "abc"}]}, ["body", "metrics", "1"]),
        ({"metrics": [{"key": "a\nb", "value": 1.0}]}, ["body", "metrics", "0"]),
        ({"metrics": [{"key": "m", "value": 1.0, "step": 2**60}]}, ["body", "metrics", "0"]),
        ({"params": {"a\nb": "1"}}, ["body", "params"]),
        ({"params": {"model": "x" * 6001}}, ["body", "params"]),
        ({"params": {"model": 1}}, ["body", "params"]),
        ({"params": {f"p{i}": "v" for i in range(101)}}, ["body", "params"]),
        ({"params": [{"key": "model", "value": "rf"}]}, ["body", "params"]),
    ],
    ids=[
        "bad-value",
        "bad-key",
        "step-too-large",
        "bad-param-key",
        "long-param",
        "non-string-param",
        "101-params",
        "list",
    ],
)
def test_a_refused_value_is_422_naming_it_and_creates_no_run(
    client: TestClient, editor: dict[str, str], app: FastAPI, fields: dict[str, Any], loc: list[str]
) -> None:
    experiment = make_experiment(client, editor)
    response = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs",
        json={"name": "bad", "params": {"model": "rf"}, "tags": {"team": "risk"}, **fields},
        headers=editor,
    )
    assert response.status_code == 422, response.text
    assert any(error["loc"][: len(loc)] == loc for error in response.json()["errors"]), response.json()
    assert _runs_in(app, experiment["id"]) == 0


def test_too_many_metrics_are_400_naming_the_limit_and_create_no_run(
    client: TestClient, editor: dict[str, str], app: FastAPI
) -> None:
    experiment = make_experiment(client, editor)
    response = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs",
        json={"params": {"model": "rf"}, "metrics": [{"key": "m", "value": 1.0, "step": i} for i in range(1001)]},
        headers=editor,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "limit_exceeded"
    assert "at most 1000 metrics" in response.json()["detail"]
    assert _runs_in(app, experiment["id"]) == 0
    at_limit = make_run(
        client, editor, experiment["id"], metrics=[{"key": "m", "value": float(i), "step": i} for i in range(1000)]
    )
    assert at_limit["metrics"] == {"m": 999.0}


def test_an_archived_experiment_refuses_a_run_with_data(
    client: TestClient, editor: dict[str, str], app: FastAPI
) -> None:
    experiment = make_experiment(client, editor)
    assert client.delete(f"/api/v1/experiments/{experiment['id']}", headers=editor).status_code == 204
    response = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs",
        json={"params": {"model": "rf"}, "metrics": [{"key": "acc", "value": 0.5}]},
        headers=editor,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert _runs_in(app, experiment["id"]) == 0


def test_a_param_key_twice_in_the_body_is_refused(client: TestClient, editor: dict[str, str], app: FastAPI) -> None:
    experiment = make_experiment(client, editor)
    response = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs",
        content=b'{"params": {"lr": "0.1", "lr": "0.2"}}',
        headers={**editor, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "params" in response.text
    assert _runs_in(app, experiment["id"]) == 0


def test_a_viewer_cannot_create_a_run_with_data(
    client: TestClient, viewer: dict[str, str], editor: dict[str, str], app: FastAPI
) -> None:
    experiment = make_experiment(client, editor)
    response = client.post(
        f"/api/v1/experiments/{experiment['id']}/runs", json={"params": {"model": "rf"}}, headers=viewer
    )
    assert response.status_code == 403
    assert _runs_in(app, experiment["id"]) == 0


def test_the_create_response_is_what_a_later_read_returns(client: TestClient, editor: dict[str, str]) -> None:
    experiment = make_experiment(client, editor)
    parent = make_run(client, editor, experiment["id"])
    created = make_run(
        client,
        editor,
        experiment["id"],
        name="every-field",
        parent_run_id=parent["id"],
        start_time=1_700_000_000_000,
        tags={"team": "risk", "stage": "dev"},
        source={"git_commit": "a" * 40, "entry_point": "train.py"},
        environment={"python": "3.11", "packages": {"numpy": "2.0"}},
        params={"lr": "0.1"},
        metrics=[{"key": "loss", "value": "Infinity", "step": 0, "timestamp": 5}, {"key": "acc", "value": 0.7}],
    )
    assert created["status"] == "RUNNING"
    assert created["end_time"] is None
    assert created["parent_run_id"] == parent["id"]
    assert created["start_time"] == 1_700_000_000_000
    assert client.get(f"/api/v1/runs/{created['id']}", headers=editor).json() == created


def test_an_unknown_experiment_is_404_and_records_nothing(
    client: TestClient, editor: dict[str, str], app: FastAPI
) -> None:
    missing = 2_000_000_000
    response = client.post(
        f"/api/v1/experiments/{missing}/runs", json={"params": {"model": "rf"}, "tags": {"t": "v"}}, headers=editor
    )
    assert response.status_code == 404
    assert response.json()["code"] == "experiment_not_found"
    assert _runs_in(app, missing) == 0
    with app.state.sessions(write=False) as session:
        events = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "run.create")).all()
    assert not [detail for detail in events if detail and detail.get("experiment_id") == missing]
