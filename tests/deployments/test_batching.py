"""Adaptive micro-batching on SQLite and Postgres: set at create and by PATCH (audited, no new
revision, reaching another app through its poller), the same answers with and without it, batches
formed under concurrency (the batch-rows histogram), a request's rows never split, the culprit of a
model error isolated, and a lone request never waiting."""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.errors import ModelError
from app.main import create_app
from app.names import fold_name
from app.serving.batching import BatchingConfig, MicroBatcher, run_batch
from app.serving.loading import LoadedModel
from app.serving.payload import parse_request
from app.settings import Settings
from tests.deployments.conftest import new_name, register, rows

API = "/api/v1"
ON = {"max_batch_size": 64, "max_wait_ms": 5}


@pytest.fixture(scope="module")
def models(client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]) -> dict[str, str]:
    names = {}
    for kind in ("forest", "strict"):
        names[kind] = new_name(f"b-{kind}")
        register(client, admin, names[kind], model_zips[kind])
    return names


def create(client: TestClient, headers: dict[str, str], model: str, batching: Any = None) -> str:
    name = new_name("batch")
    body: dict[str, Any] = {"name": name, "model": model, "version": 1}
    if batching is not None:
        body["batching"] = batching
    response = client.post(f"{API}/deployments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["batching"] == batching
    return name


def predict(client: TestClient, headers: dict[str, str], name: str, body: Any) -> Any:
    return client.post(f"{API}/deployments/{name}/predict", json=body, headers=headers)


def batch_stats(client: TestClient, name: str) -> dict[str, float]:
    """The batch-rows histogram of a deployment's version 1: count, sum and each bucket."""
    metrics = client.get("/metrics").text
    stats = {}
    for suffix, key in (("_count", "count"), ("_sum", "sum")):
        found = re.search(
            rf'shipyard_prediction_batch_rows{suffix}\{{deployment="{name}",version="1"\}} (\S+)', metrics
        )
        stats[key] = float(found.group(1)) if found else 0.0
    for le, value in re.findall(
        rf'shipyard_prediction_batch_rows_bucket\{{deployment="{name}",le="([^"]+)",version="1"\}} (\S+)', metrics
    ):
        stats[f"le{le}"] = float(value)
    return stats


def test_patch_turns_it_on_and_off_without_a_revision(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], models: dict[str, str]
) -> None:
    name = create(client, editor, models["forest"])
    on = client.patch(f"{API}/deployments/{name}", json={"batching": ON}, headers=editor)
    assert on.status_code == 200, on.text
    assert on.json()["batching"] == ON
    assert client.get(f"{API}/deployments/{name}", headers=editor).json()["batching"] == ON
    assert predict(client, editor, name, {"inputs": rows(3)}).status_code == 200
    assert batch_stats(client, name)["sum"] == 3

    described = client.patch(f"{API}/deployments/{name}", json={"description": "churn v2"}, headers=editor).json()
    assert (described["description"], described["batching"]) == ("churn v2", ON)
    off = client.patch(f"{API}/deployments/{name}", json={"batching": None}, headers=editor)
    assert off.json()["batching"] is None
    assert predict(client, editor, name, {"inputs": rows(3)}).status_code == 200
    assert batch_stats(client, name)["sum"] == 3, "with batching off, no batch is formed"

    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    assert [r["revision"] for r in revisions] == [1]
    events = client.get(
        f"{API}/audit", params={"action": "deployment.update", "resource_id": name}, headers=admin
    ).json()["events"]
    assert [e["detail"].get("batching", "-") for e in reversed(events)] == [ON, "-", None]


@pytest.mark.parametrize(
    "body",
    [
        {"batching": {"max_batch_size": 0, "max_wait_ms": 5}},
        {"batching": {"max_batch_size": 8, "max_wait_ms": -1}},
        {"batching": {"max_batch_size": 8}},
        {"batching": {"max_batch_size": "8", "max_wait_ms": 5}},
        {"batching": {"max_batch_size": 8, "max_wait_ms": 5, "adaptive": True}},
        {"routes": []},
    ],
)
def test_bad_patches_are_422(client: TestClient, editor: dict[str, str], models: dict[str, str], body: Any) -> None:
    name = create(client, editor, models["forest"])
    answer = client.patch(f"{API}/deployments/{name}", json=body, headers=editor)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    assert client.get(f"{API}/deployments/{name}", headers=editor).json()["batching"] is None


def test_patch_of_an_unknown_deployment_is_404(client: TestClient, editor: dict[str, str]) -> None:
    answer = client.patch(f"{API}/deployments/{new_name()}", json={"batching": ON}, headers=editor)
    assert answer.status_code == 404
    assert answer.json()["code"] == "deployment_not_found"


def test_same_answers_and_batches_form_under_concurrency(
    client: TestClient, viewer: dict[str, str], editor: dict[str, str], models: dict[str, str]
) -> None:
    batched = create(client, editor, models["forest"], ON)
    plain = create(client, editor, models["forest"])
    bodies = [{"inputs": rows(20 + i % 7), "return_proba": i % 2 == 0} for i in range(96)]

    def both(body: Any) -> tuple[Any, Any]:
        a, b = predict(client, viewer, batched, body), predict(client, viewer, plain, body)
        assert a.status_code == b.status_code == 200, (a.text, b.text)
        return a.json(), b.json()

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(both, bodies))
    for body, (a, b) in zip(bodies, answers, strict=True):
        assert a["predictions"] == b["predictions"]
        assert a.get("probabilities") == b.get("probabilities")
        assert len(a["prediction_ids"]) == len(body["inputs"])
    stats = batch_stats(client, batched)
    assert stats["sum"] == sum(len(body["inputs"]) for body in bodies)
    assert stats["count"] < len(bodies), "no two concurrent requests were predicted together"
    assert batch_stats(client, plain)["count"] == 0


def test_a_requests_rows_are_never_split(
    client: TestClient, viewer: dict[str, str], editor: dict[str, str], models: dict[str, str]
) -> None:
    name = create(client, editor, models["forest"], {"max_batch_size": 8, "max_wait_ms": 5})
    sizes = [3, 5, 2, 8, 1, 4] * 8 + [20]  # the 20-row request is larger than a batch: it runs alone
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: predict(client, viewer, name, {"inputs": rows(n)}), sizes))
    assert [len(a.json()["predictions"]) for a in answers] == sizes
    stats = batch_stats(client, name)
    assert stats["sum"] == sum(sizes)
    # Every batch but the lone 20-row one holds at most 8 rows.
    assert stats["le8.0"] == stats["count"] - 1
    assert stats["le16.0"] == stats["count"] - 1


def loaded_model(app: FastAPI, name: str) -> LoadedModel:
    table = app.state.serving.table(fold_name(name))
    return app.state.serving.model(table.routes[0])  # type: ignore[no-any-return]


def test_the_culprit_of_a_model_error_is_isolated(
    app: FastAPI, client: TestClient, viewer: dict[str, str], editor: dict[str, str], models: dict[str, str]
) -> None:
    name = create(client, editor, models["strict"], ON)
    loaded = loaded_model(app, name)
    good = [{"age": 30.0 + i, "plan": "pro"} for i in range(3)]
    bad = [{"age": 40.0, "plan": "gold"}]  # a plan the strict encoder never saw
    batches = [parse_request({"inputs": body}, loaded.signature, 100) for body in (good, bad, good[:1])]
    answers = run_batch(loaded, batches)
    assert answers[0] == loaded.predict(batches[0])
    assert isinstance(answers[1], ModelError)
    assert answers[2] == loaded.predict(batches[2])

    # And through HTTP, concurrently: the bad requests fail alone, the others answer as unbatched.
    bodies = [{"inputs": bad if i % 5 == 0 else good} for i in range(60)]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda body: predict(client, viewer, name, body), bodies))
    expected = loaded.predict(batches[0])[0]
    for body, answer in zip(bodies, results, strict=True):
        if body["inputs"] is bad:
            assert answer.status_code == 422
            assert answer.json()["code"] == "model_error"
        else:
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == expected


def test_a_lone_request_never_waits(
    client: TestClient, viewer: dict[str, str], editor: dict[str, str], models: dict[str, str]
) -> None:
    name = create(client, editor, models["forest"], {"max_batch_size": 1000, "max_wait_ms": 3000})
    assert predict(client, viewer, name, {"inputs": rows(2)}).status_code == 200  # warm the lane
    started = time.monotonic()
    for _ in range(5):
        assert predict(client, viewer, name, {"inputs": rows(2)}).status_code == 200
    assert time.monotonic() - started < 3.0, "a request alone waited for company"


def test_the_wait_bounds_how_long_a_batch_forms(
    app: FastAPI, client: TestClient, editor: dict[str, str], models: dict[str, str]
) -> None:
    """Requests queued faster than the model answers: with max_wait_ms 0 a batch stops forming at
    once (one request each), with room to wait the queued ones are taken together."""
    name = create(client, editor, models["forest"])
    loaded = loaded_model(app, name)
    batch = parse_request({"inputs": rows(1)}, loaded.signature, 10)
    expected = loaded.predict(batch)
    for wait_ms, together in ((0, False), (1000, True)):
        formed: list[int] = []
        batcher = MicroBatcher(lambda _d, _v, n, formed=formed: formed.append(n))
        config = BatchingConfig(max_batch_size=1000, max_wait_ms=wait_ms)
        try:
            futures = [batcher.submit(name, loaded, batch, config) for _ in range(50)]
            assert all(f.result(timeout=10) == expected for f in futures)
        finally:
            batcher.close()
        assert sum(formed) == 50
        assert (max(formed) > 1) is together, formed


def test_another_app_takes_a_batching_change(
    client: TestClient, settings: Settings, editor: dict[str, str], models: dict[str, str]
) -> None:
    name = create(client, editor, models["forest"])
    with TestClient(create_app(settings)) as other:
        assert client.patch(f"{API}/deployments/{name}", json={"batching": ON}, headers=editor).status_code == 200
        deadline = time.monotonic() + 10
        table = None
        while time.monotonic() < deadline:
            table = other.app.state.serving.table(fold_name(name))  # type: ignore[attr-defined]
            if table is not None and table.batching is not None:
                break
            time.sleep(0.05)
        assert table is not None
        assert table.batching == BatchingConfig(64, 5)
        assert predict(other, editor, name, {"inputs": rows(2)}).status_code == 200
        assert batch_stats(other, name)["sum"] == 2
