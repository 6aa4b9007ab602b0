"""NaN and ±Infinity metric values: logged, stored, read back and searched on both databases;
params and tags stay strings."""

import json

from fastapi.testclient import TestClient

from tests.factories import log_batch, make_experiment, make_run


def _post_raw(client: TestClient, headers: dict[str, str], run_id: str, body: str) -> int:
    response = client.post(
        f"/api/v1/runs/{run_id}/log-batch",
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    return response.status_code


def test_non_finite_values_round_trip_as_mlflow_spells_them(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    log_batch(
        client,
        editor,
        run["id"],
        metrics=[
            {"key": "loss", "value": 0.5, "step": 0},
            {"key": "loss", "value": "Infinity", "step": 1},
            {"key": "loss", "value": "NaN", "step": 2},
            {"key": "floor", "value": "-Infinity", "step": 0},
        ],
    )
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor)
    assert got.status_code == 200
    assert got.json()["metrics"] == {"loss": "NaN", "floor": "-Infinity"}
    history = client.get(f"/api/v1/runs/{run['id']}/metrics/loss", headers=editor)
    assert history.status_code == 200
    assert [(p["step"], p["value"]) for p in history.json()["points"]] == [(0, 0.5), (1, "Infinity"), (2, "NaN")]
    thinned = client.get(f"/api/v1/runs/{run['id']}/metrics/loss", params={"max_points": 2}, headers=editor)
    assert [p["value"] for p in thinned.json()["points"]] == [0.5, "NaN"]


def test_bare_nan_and_infinity_tokens_are_accepted(client: TestClient, editor: dict[str, str]) -> None:
    # What Python's json.dumps writes for float("nan") by default; the edge must let it through.
    run = make_run(client, editor)
    body = json.dumps({"metrics": [{"key": "a", "value": float("nan")}, {"key": "b", "value": float("-inf")}]})
    assert "NaN" in body
    assert _post_raw(client, editor, run["id"], body) == 204
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()["metrics"] == {"a": "NaN", "b": "-Infinity"}


def test_a_later_finite_value_replaces_a_nan_latest_value(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    log_batch(client, editor, run["id"], metrics=[{"key": "loss", "value": "NaN", "step": 1}])
    log_batch(client, editor, run["id"], metrics=[{"key": "loss", "value": 0.25, "step": 2}])
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()["metrics"] == {"loss": 0.25}


def test_search_compares_nan_false_and_infinity_as_infinity(client: TestClient, editor: dict[str, str]) -> None:
    experiment = make_experiment(client, editor)
    runs = {}
    for name, value in (("nan", "NaN"), ("inf", "Infinity"), ("low", 0.1), ("high", 0.9), ("ninf", "-Infinity")):
        run = make_run(client, editor, experiment["id"], name=name)
        log_batch(client, editor, run["id"], metrics=[{"key": "loss", "value": value}])
        runs[name] = run["id"]
    make_run(client, editor, experiment["id"], name="none")

    def names(filter_: str, order_by: list[str] | None = None) -> list[str]:
        body = {"experiment_ids": [experiment["id"]], "filter": filter_, "order_by": order_by or []}
        response = client.post("/api/v1/runs/search", json=body, headers=editor)
        assert response.status_code == 200, response.text
        return [run["name"] for run in response.json()["runs"]]

    assert sorted(names("metrics.loss > 0.5")) == ["high", "inf"]
    assert sorted(names("metrics.loss <= 0.5")) == ["low", "ninf"]
    assert sorted(names("metrics.loss = 0.1")) == ["low"]
    # As in IEEE 754, NaN differs from every number.
    assert sorted(names("metrics.loss != 0.1")) == ["high", "inf", "nan", "ninf"]
    # NaN after every number, then the run without the metric, in either direction.
    assert names("", ["metrics.loss ASC"]) == ["ninf", "low", "high", "inf", "nan", "none"]
    assert names("", ["metrics.loss DESC"]) == ["inf", "high", "low", "ninf", "nan", "none"]
    found = client.post(
        "/api/v1/runs/search",
        json={"experiment_ids": [experiment["id"]], "filter": "attributes.name = 'nan'"},
        headers=editor,
    )
    assert found.json()["runs"][0]["metrics"] == {"loss": "NaN"}


def test_other_strings_and_params_tags_stay_strict(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    for value in ("nan", "inf", "1.5", "Infinity "):
        response = client.post(
            f"/api/v1/runs/{run['id']}/log-batch", json={"metrics": [{"key": "m", "value": value}]}, headers=editor
        )
        assert response.status_code == 422, value
        assert response.json()["errors"][0]["loc"][:4] == ["body", "metrics", "0", "value"]
    for field in ("params", "tags"):
        body = json.dumps({field: [{"key": "k", "value": float("nan")}]})
        assert _post_raw(client, editor, run["id"], body) == 422, field
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert (got["metrics"], got["params"], got["tags"]) == ({}, {}, {})
