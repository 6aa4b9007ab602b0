"""Feedback through HTTP on each database and store: bulk, matched vs not (yet) logged ids, a
resend replaces, one audit event per call, bad bodies named, concurrent resends on one id, and
the live metric (accuracy for labels, RMSE for numbers) computed from log and feedback."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.tables import PredictionFeedback
from app.predictions import ids
from app.predictions.service import live_metric
from tests.conftest import app_with_admin, serve_in_thread
from tests.deployments.conftest import new_name, register, rows
from tests.predictions.conftest import API, deploy, deployment_row_id, flush, log_settings, predict


def send(client: TestClient, headers: dict[str, str], name: str, items: list[dict[str, Any]]) -> Any:
    return client.post(f"{API}/deployments/{name}/feedback", json={"feedback": items}, headers=headers)


def stored(app: FastAPI, name: str) -> dict[str, Any]:
    deployment_id = deployment_row_id(app, name)
    with app.state.sessions(write=False) as session:
        found = session.execute(
            select(PredictionFeedback.prediction_id, PredictionFeedback.actual).where(
                PredictionFeedback.deployment_id == deployment_id
            )
        )
        return dict(found.tuples().all())


def metric(app: FastAPI, name: str, since: datetime, model_version_id: int | None = None) -> Any:
    deployment_id = deployment_row_id(app, name)
    with app.state.sessions(write=False) as session:
        if model_version_id is None:
            model_version_id = app.state.serving.table(name.casefold()).routes[0].version_id
        return live_metric(session, app.state.store, deployment_id, model_version_id, since)


def test_feedback_says_how_many_ids_were_found_in_the_log(
    log_app: FastAPI,
    log_client: TestClient,
    log_admin: dict[str, str],
    log_editor: dict[str, str],
    registered: dict[str, str],
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    flushed = predict(log_client, log_admin, name, {"inputs": rows(4)})
    flush(log_app)
    buffered = predict(log_client, log_admin, name, {"inputs": rows(2)})
    never = f"{ids.new_base()}-0"
    items = [{"prediction_id": i, "actual": 1} for i in flushed["prediction_ids"] + buffered["prediction_ids"]]
    response = send(log_client, log_editor, name, [*items, {"prediction_id": never, "actual": "yes"}])
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 7, "matched": 4, "unmatched": 3}
    assert stored(log_app, name) == {**{i["prediction_id"]: 1 for i in items}, never: "yes"}

    events = log_client.get(
        f"{API}/audit", params={"resource_type": "deployment", "resource_id": name}, headers=log_admin
    ).json()["events"]
    feedback_events = [e for e in events if e["action"] == "deployment.feedback"]
    assert len(feedback_events) == 1
    assert feedback_events[0]["detail"]["received"] == 7
    assert feedback_events[0]["actor"].startswith("editor-")


def test_sending_feedback_again_replaces_it(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    [prediction_id] = predict(log_client, log_admin, name, {"inputs": rows(1)})["prediction_ids"]
    for actual in (0, 1):
        response = send(log_client, log_admin, name, [{"prediction_id": prediction_id, "actual": actual}])
        assert response.status_code == 200, response.text
    assert stored(log_app, name) == {prediction_id: 1}


def test_an_id_given_twice_in_one_call_keeps_its_last_item(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    prediction_id = f"{ids.new_base()}-0"
    items = [{"prediction_id": prediction_id, "actual": n} for n in range(3)]
    response = send(log_client, log_admin, name, items)
    assert response.status_code == 200, response.text
    assert response.json()["received"] == 1
    assert stored(log_app, name) == {prediction_id: 2}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "feedback"),
        ({"feedback": []}, "feedback"),
        ({"feedback": [{"prediction_id": "a" * 32 + "-0"}]}, "actual"),
        ({"feedback": [{"prediction_id": "not-an-id", "actual": 1}]}, "prediction_id"),
        ({"feedback": [{"prediction_id": "a" * 32 + "-0", "actual": {"nested": 1}}]}, "actual"),
        ({"feedback": [{"prediction_id": "a" * 32 + "-0", "actual": None}]}, "actual"),
        ({"feedback": [{"prediction_id": "a" * 32 + "-0", "actual": 1, "extra": 2}]}, "extra"),
        ({"feedback": [{"prediction_id": f"{'a' * 32}-{i}", "actual": 1} for i in range(10_001)]}, "feedback"),
    ],
)
def test_bad_feedback_bodies_are_refused_naming_the_field(
    log_app: FastAPI,
    log_client: TestClient,
    log_admin: dict[str, str],
    registered: dict[str, str],
    body: dict[str, Any],
    named: str,
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    response = log_client.post(f"{API}/deployments/{name}/feedback", json=body, headers=log_admin)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert named in response.text
    assert stored(log_app, name) == {}


def test_feedback_needs_an_editor_and_a_deployment(
    log_client: TestClient, log_admin: dict[str, str], log_viewer: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    item = [{"prediction_id": f"{ids.new_base()}-0", "actual": 1}]
    assert send(log_client, log_viewer, name, item).status_code == 403
    missing = send(log_client, log_admin, new_name("nowhere"), item)
    assert missing.status_code == 404
    assert missing.json()["code"] == "deployment_not_found"


def test_live_metric_is_accuracy_for_labels(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    since = datetime.now(UTC)
    assert metric(log_app, name, since) is None
    answer = predict(log_client, log_admin, name, {"inputs": rows(10)})
    flush(log_app)
    assert metric(log_app, name, since) is None, "no feedback yet"
    items = [
        {"prediction_id": i, "actual": p if n < 7 else 1 - p}
        for n, (i, p) in enumerate(zip(answer["prediction_ids"], answer["predictions"], strict=True))
    ]
    # Feedback on an id never logged counts for nothing.
    items.append({"prediction_id": f"{ids.new_base()}-0", "actual": 0})
    assert send(log_client, log_admin, name, items).status_code == 200
    assert metric(log_app, name, since) == (0.7, 10)
    assert metric(log_app, name, datetime.now(UTC) + timedelta(hours=1)) is None
    assert metric(log_app, name, since, model_version_id=10**6) is None


def test_live_metric_is_rmse_for_numbers(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["regressor"])["name"]
    since = datetime.now(UTC)
    answer = predict(log_client, log_admin, name, {"inputs": rows(6)})
    assert all(isinstance(p, float) for p in answer["predictions"])
    flush(log_app)
    offsets = [1.0, -1.0, 2.0, -2.0, 0.0, 0.0]  # squares sum to 10 over 6 rows
    items = [
        {"prediction_id": i, "actual": p + d}
        for i, p, d in zip(answer["prediction_ids"], answer["predictions"], offsets, strict=True)
    ]
    assert send(log_client, log_admin, name, items).status_code == 200
    value, count = metric(log_app, name, since)
    assert count == 6
    assert value == pytest.approx((10 / 6) ** 0.5)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_concurrent_feedback_on_the_same_ids_keeps_one_row_each(
    database: str, tmp_path: Path, postgres_database: Callable[[], str], model_bodies: dict[str, bytes]
) -> None:
    settings = log_settings(tmp_path, postgres_database() if database == "postgres" else None)
    with app_with_admin(settings) as owner:
        app = cast(FastAPI, owner.app)
        admin = {"Authorization": owner.headers["Authorization"]}
        with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=admin, timeout=60) as http:
            model = new_name("raced")
            register(http, admin, model, model_bodies["classifier"])
            name = deploy(http, admin, model)["name"]
            answered = predict(http, admin, name, {"inputs": rows(50)})["prediction_ids"]
            barrier = threading.Barrier(8)
            statuses: list[int] = []

            def post(value: int) -> None:
                items = [{"prediction_id": i, "actual": value} for i in answered]
                barrier.wait()
                statuses.append(http.post(f"{API}/deployments/{name}/feedback", json={"feedback": items}).status_code)

            threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert statuses == [200] * 8
            rows_stored = stored(app, name)
            assert set(rows_stored) == set(answered)
            assert set(rows_stored.values()) <= set(range(8))
