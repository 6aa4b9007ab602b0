"""GET /deployments/{name}/predictions: JSON pages newest first that walk every flushed row once,
column projection, the Parquet download, and bad queries answered 4xx naming the parameter."""

import io
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.deployments.conftest import new_name, rows
from tests.predictions.conftest import API, PARQUET, deploy, flush, predict


@pytest.fixture(scope="module")
def logged(log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]) -> Any:
    """A deployment with three flushed requests of five rows: (name, ids oldest request first)."""
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    answered = []
    for _ in range(3):
        answered.append(predict(log_client, log_admin, name, {"inputs": rows(5)})["prediction_ids"])
        flush(log_app)
    return name, answered


def get(client: TestClient, headers: dict[str, str], name: str, **params: Any) -> Any:
    return client.get(f"{API}/deployments/{name}/predictions", params=params, headers=headers)


def test_pages_walk_every_row_once_newest_first(
    log_client: TestClient, log_viewer: dict[str, str], logged: Any
) -> None:
    name, answered = logged
    seen: list[dict[str, Any]] = []
    token = None
    for _ in range(10):
        params = {"limit": 4, **({"page_token": token} if token else {})}
        response = get(log_client, log_viewer, name, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["predictions"]) <= 4
        seen.extend(page["predictions"])
        token = page["next_page_token"]
        if token is None:
            break
    ids = [row["prediction_id"] for row in seen]
    assert sorted(ids) == sorted(i for request in answered for i in request)
    times = [row["predicted_at"] for row in seen]
    assert times == sorted(times, reverse=True)
    assert set(ids[:5]) == set(answered[2])
    assert set(seen[0]) >= {"prediction_id", "predicted_at", "version", "input.age", "input.plan", "prediction"}


def test_columns_are_projected(log_client: TestClient, log_viewer: dict[str, str], logged: Any) -> None:
    name, _ = logged
    response = get(log_client, log_viewer, name, columns=["prediction_id", "input.age"], limit=3)
    assert response.status_code == 200, response.text
    assert [set(row) for row in response.json()["predictions"]] == [{"prediction_id", "input.age"}] * 3


def test_parquet_download_holds_the_newest_rows(
    log_client: TestClient, log_viewer: dict[str, str], logged: Any
) -> None:
    name, answered = logged
    response = get(log_client, log_viewer, name, format="parquet", limit=7, columns=["prediction_id", "prediction"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PARQUET
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == ["prediction_id", "prediction"]
    assert table.num_rows == 7
    assert set(answered[2]) <= set(table["prediction_id"].to_pylist())


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"columns": ["nope"]}, 400, "columns"),
        ({"since": "2026-01-01T00:00:00"}, 400, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 400, "since"),
        ({"limit": 0}, 422, "limit"),
        ({"format": "csv"}, 422, "format"),
        ({"page_token": "bm90LWEtdG9rZW4"}, 400, "page_token"),
        ({"since": "yesterday"}, 422, "since"),
    ],
)
def test_bad_queries_name_the_parameter(
    log_client: TestClient, log_viewer: dict[str, str], logged: Any, params: dict[str, Any], status: int, field: str
) -> None:
    name, _ = logged
    response = get(log_client, log_viewer, name, **params)
    assert response.status_code == status, response.text
    assert field in response.text


def test_a_json_page_holds_at_most_1000_rows(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    predict(log_client, log_admin, name, {"inputs": rows(1001)})
    flush(log_app)
    page = get(log_client, log_admin, name, limit=5000, columns=["prediction_id"]).json()
    assert len(page["predictions"]) == 1000
    rest = get(log_client, log_admin, name, limit=5000, page_token=page["next_page_token"]).json()
    assert len(rest["predictions"]) == 1
    assert rest["next_page_token"] is None


def test_unknown_deployment_is_404(log_client: TestClient, log_viewer: dict[str, str]) -> None:
    response = get(log_client, log_viewer, new_name("nowhere"))
    assert response.status_code == 404
    assert response.json()["code"] == "deployment_not_found"
