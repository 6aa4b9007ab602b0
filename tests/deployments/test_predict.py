"""Predict through HTTP on SQLite and Postgres: the three payload shapes, probabilities, the
signature checks (missing column, wrong type, null/NaN, row limit), a model that raises, unknown
deployments, the metrics, and a route change made through another app."""

import math
import re
import threading
from threading import Event
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.main import create_app
from app.settings import Settings
from tests.deployments.conftest import deploy, new_name, register, rows

API = "/api/v1"


@pytest.fixture(scope="module")
def served(client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]) -> dict[str, str]:
    """A forest deployment and a strict logistic regression's deployment."""
    names = {}
    for kind in ("forest", "strict"):
        model = new_name(kind)
        register(client, admin, model, model_zips[kind])
        names[kind] = new_name(f"dep-{kind}")
        deploy(client, admin, names[kind], model, 1)
    return names


def predict(client: TestClient, headers: dict[str, str], name: str, body: Any) -> Any:
    return client.post(f"{API}/deployments/{name}/predict", json=body, headers=headers)


def test_three_payload_shapes_answer_the_same(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    records = rows(5)
    columns = {"age": [r["age"] for r in records], "plan": [r["plan"] for r in records]}
    split = {"columns": ["plan", "age"], "data": [[r["plan"], r["age"]] for r in records]}
    answers = [
        predict(client, viewer, served["forest"], body)
        for body in ({"inputs": records}, {"inputs": columns}, {"dataframe_split": split})
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    bodies = [a.json() for a in answers]
    assert bodies[0]["predictions"] == bodies[1]["predictions"] == bodies[2]["predictions"]
    assert len(bodies[0]["predictions"]) == 5
    assert bodies[0]["deployment"] == served["forest"]
    assert bodies[0]["version"] == 1
    assert bodies[0]["model"].startswith("forest-")
    assert len(set(bodies[0]["prediction_ids"])) == 5
    assert "probabilities" not in bodies[0]


def test_probabilities_when_asked(client: TestClient, viewer: dict[str, str], served: dict[str, str]) -> None:
    answer = predict(client, viewer, served["strict"], {"inputs": rows(3), "return_proba": True})
    assert answer.status_code == 200, answer.text
    probabilities = answer.json()["probabilities"]
    assert len(probabilities) == 3
    assert all(math.isclose(sum(p), 1.0) for p in probabilities)


@pytest.mark.parametrize(
    ("body", "column"),
    [
        ({"inputs": [{"age": 30.0}]}, "plan"),
        ({"inputs": [{"age": "thirty", "plan": "pro"}]}, "age"),
        ({"inputs": {"age": [30.0], "plan": [7]}}, "plan"),
        ({"inputs": [{"age": None, "plan": "pro"}]}, "age"),
        ({"inputs": [{"age": True, "plan": "pro"}]}, "age"),
        ({"inputs": [{"age": 10**400, "plan": "pro"}]}, "age"),
        ({"inputs": [{"age": 3.0, "plan": "pro", "zip": "1000"}]}, "zip"),
        ({"dataframe_split": {"columns": ["age"], "data": [[1.0]]}}, "plan"),
    ],
)
def test_signature_checks_name_the_column(
    client: TestClient, viewer: dict[str, str], served: dict[str, str], body: dict[str, Any], column: str
) -> None:
    answer = predict(client, viewer, served["forest"], body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_prediction_input"
    assert answer.json()["column"] == column
    assert repr(column) in answer.json()["detail"]


def test_nan_is_refused(client: TestClient, viewer: dict[str, str], served: dict[str, str]) -> None:
    body = b'{"inputs": [{"age": NaN, "plan": "pro"}]}'
    answer = client.post(
        f"{API}/deployments/{served['forest']}/predict",
        content=body,
        headers={**viewer, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_prediction_input"
    assert answer.json()["column"] == "age"
    assert "NaN" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"inputs": 5},
        {"inputs": [], "return_proba": False},
        {"inputs": rows(), "dataframe_split": {"columns": [], "data": []}},
        {"dataframe_split": {"columns": ["age", "plan"], "data": [[1.0]]}},
        {"dataframe_split": {"columns": ["age", "age"], "data": [[1.0, 2.0]]}},
        {"inputs": {"age": [1.0, 2.0], "plan": ["pro"]}},
        {"inputs": rows(), "return_proba": "yes"},
        {"inputs": rows(), "extra": 1},
        {"inputs": [[1.0, "pro"]]},
    ],
)
def test_malformed_payloads_are_4xx(
    client: TestClient, viewer: dict[str, str], served: dict[str, str], body: Any
) -> None:
    answer = predict(client, viewer, served["forest"], body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_not_json_and_deeply_nested_bodies_are_4xx(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    for body in (b"not json", b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        answer = client.post(
            f"{API}/deployments/{served['forest']}/predict",
            content=body,
            headers={**viewer, "Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, answer.text


def test_row_limit(client: TestClient, viewer: dict[str, str], served: dict[str, str], settings: Settings) -> None:
    answer = predict(client, viewer, served["forest"], {"inputs": rows(settings.serving_max_rows + 1)})
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "payload_too_large"
    assert str(settings.serving_max_rows) in answer.json()["detail"]


def test_a_model_that_raises_is_a_model_error_and_counted(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    name = served["strict"]
    answer = predict(client, viewer, name, {"inputs": [{"age": 40.0, "plan": "gold"}]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "model_error"
    assert predict(client, viewer, name, {"inputs": rows()}).status_code == 200
    metrics = client.get("/metrics").text
    assert re.search(
        rf'shipyard_predictions_total\{{deployment="{name}",outcome="model_error",version="1"\}} 1\.0', metrics
    )
    assert re.search(rf'shipyard_predictions_total\{{deployment="{name}",outcome="ok",version="1"\}} [1-9]', metrics)
    assert f'shipyard_prediction_latency_seconds_count{{deployment="{name}",version="1"}}' in metrics


def test_unknown_deployment_is_404(client: TestClient, viewer: dict[str, str]) -> None:
    answer = predict(client, viewer, new_name(), {"inputs": rows()})
    assert answer.status_code == 404
    assert answer.json()["code"] == "deployment_not_found"


def test_another_app_sees_a_route_change(
    client: TestClient, app: FastAPI, settings: Settings, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    """A second app on the same database (its own route tables, cache and poller; two server
    processes are in test_replicas): started after the deployment, it serves it; a rollout made
    through the first reaches it through its poller."""
    model = new_name("model")
    register(client, admin, model, model_zips["forest"])
    register(client, admin, model, model_zips["forest"])
    name = new_name()
    deploy(client, admin, name, model, 1)
    with TestClient(create_app(settings)) as other:
        first = _wait_for_version(other, admin, name, 1)
        assert first == 1
        assert client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=admin).status_code == 201
        assert _wait_for_version(other, admin, name, 2) == 2


def _wait_for_version(client: TestClient, headers: dict[str, str], name: str, version: int) -> int | None:
    """The version answering on `client` once it is `version`; gives up after 200 polls of the
    route table (its poller applies a change within about a second)."""
    pause = Event()
    found = None
    for _ in range(200):
        answer = predict(client, headers, name, {"inputs": rows()})
        if answer.status_code == 200:
            found = answer.json()["version"]
            if found == version:
                return found
        pause.wait(0.05)
    return found


def test_predict_sends_no_database_query(
    client: TestClient, app: FastAPI, viewer: dict[str, str], served: dict[str, str]
) -> None:
    """Statements sent while predicting, from any thread but the background ones (the route
    poller, the job reconciler, the flushers): none, once the token is in the token cache."""
    background = {
        "shipyard-route-poller",
        "shipyard-reconciler",
        "shipyard-startup",
        "shipyard-alias-follower",
        "shipyard-stats-flusher",
        "shipyard-prediction-log",
    }
    sent: list[str] = []

    def record(*_: Any) -> None:
        if threading.current_thread().name not in background:
            sent.append(threading.current_thread().name)

    engine = app.state.sessions.engine
    assert predict(client, viewer, served["forest"], {"inputs": rows()}).status_code == 200
    event.listen(engine, "before_cursor_execute", record)
    try:
        for body in ({"inputs": rows(3)}, {"inputs": {"age": [1.0], "plan": ["pro"]}}, {"inputs": [{"age": 1}]}):
            assert predict(client, viewer, served["forest"], body).status_code in (200, 422)
        predicted = list(sent)
        # The listener does see a request's statements: reading the deployment sends some.
        assert client.get(f"{API}/deployments/{served['forest']}", headers=viewer).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert predicted == []
    assert sent
