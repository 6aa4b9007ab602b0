"""The prediction log on each database and artifact store: what predict answered is what the
log holds after a flush (ids, inputs, outputs, version), one segment per deployment and version
per flush with its index row, sampling per deployment, and reading by time window and last N
with only the columns asked for."""

import io
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.predictions import ids
from app.predictions.log import PredictionLog
from app.predictions.service import read_predictions
from app.serving.payload import Batch
from tests.deployments.conftest import rows
from tests.predictions.conftest import API, deploy, deployment_row_id, flush, predict, segments_of


def read(app: FastAPI, name: str, **kwargs: Any) -> Any:
    with app.state.sessions(write=False) as session:
        return read_predictions(session, app.state.store, name, **kwargs)


def test_logged_rows_are_what_predict_answered(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    first = predict(log_client, log_admin, name, {"inputs": rows(3), "return_proba": True})
    second = predict(log_client, log_admin, name, {"inputs": rows(2)})
    assert segments_of(log_app, name) == []

    assert flush(log_app) >= 5

    found = segments_of(log_app, name)
    assert len(found) == 1, "one segment per deployment and version per flush"
    segment = found[0]
    assert segment.row_count == 5
    assert segment.version == 1
    assert segment.revision == 1
    assert segment.first_at <= segment.last_at
    assert re.fullmatch(
        rf"deployments/{deployment_row_id(log_app, name)}/predictions/\d{{4}}-\d\d-\d\d/[0-9a-f]{{32}}\.parquet",
        segment.key,
    )
    stored = b"".join(log_app.state.store.open_stream(segment.key))
    assert len(stored) == segment.bytes
    assert pq.read_table(io.BytesIO(stored)).num_rows == 5

    table = read(log_app, name)
    logged = {row["prediction_id"]: row for row in table.to_pylist()}
    sent = rows(3) + rows(2)
    answered = first["prediction_ids"] + second["prediction_ids"]
    predictions = first["predictions"] + second["predictions"]
    assert set(logged) == set(answered)
    for prediction_id, inputs, prediction in zip(answered, sent, predictions, strict=True):
        row = logged[prediction_id]
        assert row["input.age"] == inputs["age"]
        assert row["input.plan"] == inputs["plan"]
        assert row["prediction"] == prediction
        assert row["version"] == 1
        assert row["revision"] == 1
        assert row["latency_ms"] > 0
    assert [logged[i]["probabilities"] for i in first["prediction_ids"]] == first["probabilities"]
    assert all(logged[i]["probabilities"] is None for i in second["prediction_ids"])


def test_each_flush_writes_a_new_segment_and_nothing_when_empty(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    for _ in range(2):
        predict(log_client, log_admin, name, {"inputs": rows(4)})
        flush(log_app)
    flush(log_app)
    assert [s.row_count for s in segments_of(log_app, name)] == [4, 4]
    assert read(log_app, name).num_rows == 8


@pytest.mark.parametrize(("rate", "low", "high"), [(0.0, 0, 0), (0.5, 120, 280), (1.0, 400, 400)])
def test_sampling_rate_of_a_deployment(
    log_app: FastAPI,
    log_client: TestClient,
    log_admin: dict[str, str],
    registered: dict[str, str],
    rate: float,
    low: int,
    high: int,
) -> None:
    created = deploy(log_client, log_admin, registered["classifier"], log_sample_rate=rate)
    assert created["log_sample_rate"] == rate
    name = created["name"]
    answered: set[str] = set()
    for _ in range(4):
        answered.update(predict(log_client, log_admin, name, {"inputs": rows(100)})["prediction_ids"])
    flush(log_app)
    logged = read(log_app, name, columns=["prediction_id"])["prediction_id"].to_pylist()
    # 400 rows at 0.5: 200 expected, standard deviation 10.
    assert low <= len(logged) <= high
    assert set(logged) <= answered
    assert len(set(logged)) == len(logged)


def test_patching_the_sample_rate_stops_and_resumes_logging(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    patched = log_client.patch(f"{API}/deployments/{name}", json={"log_sample_rate": 0}, headers=log_admin)
    assert patched.status_code == 200, patched.text
    assert patched.json()["log_sample_rate"] == 0
    predict(log_client, log_admin, name, {"inputs": rows(5)})
    back = log_client.patch(f"{API}/deployments/{name}", json={"log_sample_rate": None}, headers=log_admin)
    assert back.json()["log_sample_rate"] is None
    kept = predict(log_client, log_admin, name, {"inputs": rows(2)})
    flush(log_app)
    assert read(log_app, name, columns=["prediction_id"])["prediction_id"].to_pylist() == sorted(kept["prediction_ids"])
    bad = log_client.patch(f"{API}/deployments/{name}", json={"log_sample_rate": 1.5}, headers=log_admin)
    assert bad.status_code == 422
    assert "log_sample_rate" in bad.text


def test_read_by_time_window_and_last_n_with_column_projection(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    batches = []
    marks = []
    for _ in range(3):
        marks.append(datetime.now(UTC))
        batches.append(predict(log_client, log_admin, name, {"inputs": rows(10)})["prediction_ids"])
        flush(log_app)
        time.sleep(0.01)
    assert len(segments_of(log_app, name)) == 3

    later = read(log_app, name, since=marks[1])
    assert set(later["prediction_id"].to_pylist()) == set(batches[1] + batches[2])
    middle = read(log_app, name, since=marks[1], until=marks[2])
    assert set(middle["prediction_id"].to_pylist()) == set(batches[1])
    assert read(log_app, name, since=datetime.now(UTC) + timedelta(hours=1)).num_rows == 0

    newest = read(log_app, name, last=15, columns=["input.age", "prediction"])
    assert newest.column_names == ["input.age", "prediction"]
    assert newest.num_rows == 15
    # One request's rows share a time; among them the order is the request's.
    with_ids = read(log_app, name, last=15, columns=["prediction_id"])
    assert with_ids["prediction_id"].to_pylist() == batches[1][5:] + batches[2]
    assert read(log_app, name, last=1000).num_rows == 30
    assert read(log_app, name, version=2).num_rows == 0


def test_last_n_across_segments_that_overlap_in_time(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    """Two versions answering at once (as a canary will) flush into two segments covering the
    same span: the newest N rows are found in both, in time order."""
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    table = log_app.state.serving.table(name.casefold())
    primary = table.routes[0]
    canary = replace(primary, version=primary.version + 1, version_id=primary.version_id + 10**6)
    log: PredictionLog = log_app.state.prediction_log
    recorded = []
    for n in range(20):
        route = primary if n % 2 else canary
        base = ids.new_base()
        batch = Batch({"age": np.array([float(n)]), "plan": np.array(["basic"], dtype=object)}, 1, False)
        log.record(table, route, batch, base, [n % 2], None, 0.001)
        recorded.append((f"{base}-0", route.version))
        time.sleep(0.002)
    flush(log_app)
    found = segments_of(log_app, name)
    assert sorted(s.version for s in found) == [primary.version, primary.version + 1]
    assert found[0].first_at < found[1].last_at
    assert found[1].first_at < found[0].last_at

    newest = read(log_app, name, last=7, columns=["prediction_id", "version", "input.age"])
    assert newest["prediction_id"].to_pylist() == [i for i, _ in recorded[-7:]]
    assert newest["version"].to_pylist() == [v for _, v in recorded[-7:]]
    assert newest["input.age"].to_pylist() == [float(n) for n in range(13, 20)]
    assert read(log_app, name, last=7, version=primary.version).num_rows == 7
