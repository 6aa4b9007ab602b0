"""Deployments through HTTP on SQLite and Postgres: create with revision 1, list and read,
direct rollouts, rollback as a new revision, promote, the READY and warm-up rules, audit,
concurrent creates and rollouts, and a served version the registry will not delete."""

import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import serve_in_thread
from tests.deployments.conftest import deploy, new_name, register, rows

API = "/api/v1"


@pytest.fixture
def model(client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]) -> str:
    """A model with two READY versions (1 and 2) of the random forest."""
    name = new_name("model")
    register(client, admin, name, model_zips["forest"])
    register(client, admin, name, model_zips["forest"])
    return name


def predict(client: TestClient, headers: dict[str, str], name: str) -> httpx.Response:
    return client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows()}, headers=headers)


def test_create_serves_revision_one_with_all_traffic(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    created = deploy(client, editor, name, model, 1)
    assert created["revision"] == 1
    assert created["routes"] == [{"model": model, "version": 1, "weight": 100, "mode": "primary"}]
    assert created["state"] == "serving"
    read = client.get(f"{API}/deployments/{name}", headers=editor).json()
    assert read["routes"] == created["routes"]
    assert read["revision"] == 1
    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    assert [r["revision"] for r in revisions] == [1]
    assert revisions[0]["created_by"].startswith("editor-")
    answer = predict(client, editor, name)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 1


def test_create_by_alias_and_track_alias(client: TestClient, admin: dict[str, str], model: str) -> None:
    assert client.put(f"{API}/models/{model}/aliases/champion", json={"version": 2}, headers=admin).status_code == 200
    name = new_name()
    response = client.post(
        f"{API}/deployments",
        json={"name": name, "model": model, "alias": "champion", "track_alias": "champion"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert response.json()["routes"][0]["version"] == 2
    assert response.json()["track_alias"] == "champion"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},  # neither version nor alias
        {"model": "m", "version": 1, "alias": "champion"},  # both
        {"model": "m", "version": 0},
        {"model": "../etc", "version": 1},
    ],
)
def test_create_refuses_malformed_bodies(client: TestClient, editor: dict[str, str], body: dict[str, Any]) -> None:
    response = client.post(f"{API}/deployments", json={"name": new_name(), **body}, headers=editor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_unknown_model_and_version_are_404(client: TestClient, editor: dict[str, str], model: str) -> None:
    missing_model = client.post(
        f"{API}/deployments", json={"name": new_name(), "model": "nope-x1", "version": 1}, headers=editor
    )
    assert missing_model.status_code == 404
    assert missing_model.json()["code"] == "model_not_found"
    missing_version = client.post(
        f"{API}/deployments", json={"name": new_name(), "model": model, "version": 9}, headers=editor
    )
    assert missing_version.status_code == 404
    assert missing_version.json()["code"] == "model_version_not_found"
    assert client.get(f"{API}/deployments/{new_name()}", headers=editor).json()["code"] == "deployment_not_found"


def test_a_name_is_taken_as_people_read_it(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    again = client.post(f"{API}/deployments", json={"name": name.upper(), "model": model, "version": 1}, headers=editor)
    assert again.status_code == 409
    assert again.json()["code"] == "deployment_conflict"


def test_list_is_paginated(client: TestClient, editor: dict[str, str], model: str) -> None:
    names = [new_name() for _ in range(3)]
    for name in names:
        deploy(client, editor, name, model, 1)
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"max_results": 2}
        if token:
            params["page_token"] = token
        page = client.get(f"{API}/deployments", params=params, headers=editor).json()
        assert len(page["deployments"]) <= 2
        seen += [d["name"] for d in page["deployments"]]
        token = page["next_page_token"]
        if not token:
            break
    assert set(names) <= set(seen)
    assert len(seen) == len(set(seen))
    bad = client.get(f"{API}/deployments", params={"page_token": "garbage!"}, headers=editor)
    assert bad.status_code == 400


def test_rollout_rollback_and_promote(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    rolled = client.post(
        f"{API}/deployments/{name}/rollouts",
        json={"strategy": "direct", "version": 2, "reason": "better f1"},
        headers=editor,
    )
    assert rolled.status_code == 201, rolled.text
    assert rolled.json()["revision"] == 2
    assert rolled.json()["routes"][0]["version"] == 2
    assert predict(client, editor, name).json()["version"] == 2
    same = client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=editor)
    assert same.status_code == 409
    assert same.json()["code"] == "deployment_conflict"

    back = client.post(f"{API}/deployments/{name}/rollback", headers=editor)
    assert back.status_code == 201, back.text
    assert back.json()["revision"] == 3
    assert back.json()["routes"][0]["version"] == 1
    assert predict(client, editor, name).json()["version"] == 1
    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    assert [(r["revision"], r["routes"][0]["version"]) for r in revisions] == [(3, 1), (2, 2), (1, 1)]
    assert revisions[1]["reason"] == "better f1"
    assert revisions[0]["reason"] == "rollback to revision 1"

    promote = client.post(f"{API}/deployments/{name}/promote", headers=editor)
    assert promote.status_code == 409
    assert promote.json()["code"] == "nothing_to_promote"

    actions = [
        e["action"]
        for e in client.get(
            f"{API}/audit", params={"resource_type": "deployment", "resource_id": name}, headers=admin
        ).json()["events"]
    ]
    assert sorted(actions) == ["deployment.create", "deployment.rollback", "deployment.rollout"]


def test_rollback_needs_an_earlier_revision(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = client.post(f"{API}/deployments/{name}/rollback", json={"reason": "oops"}, headers=editor)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_an_unknown_strategy_is_422(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = client.post(
        f"{API}/deployments/{name}/rollouts", json={"strategy": "big_bang", "version": 2}, headers=editor
    )
    assert response.status_code == 422
    assert "strategy" in response.text
    assert client.get(f"{API}/deployments/{name}", headers=editor).json()["revision"] == 1


def test_only_ready_versions_deploy(
    client: TestClient, app: FastAPI, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model = new_name("model")
    register(client, admin, model, model_zips["forest"])
    failed = client.post(
        f"{API}/models/{model}/versions",
        content=model_zips["broken"],
        headers={**admin, "Content-Type": "application/zip"},
    )
    assert failed.status_code == 201, failed.text
    assert failed.json()["status"] == "FAILED"
    response = client.post(f"{API}/deployments", json={"name": new_name(), "model": model, "version": 2}, headers=admin)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_a_version_that_fails_to_warm_gets_no_traffic(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model = new_name("model")
    register(client, admin, model, model_zips["forest"])
    register(client, admin, model, model_zips["cold"])
    cold = new_name()
    refused = client.post(f"{API}/deployments", json={"name": cold, "model": model, "version": 2}, headers=editor)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "warmup_failed"
    assert "input example" in refused.json()["detail"]
    assert client.get(f"{API}/deployments/{cold}", headers=editor).status_code == 404
    name = new_name()
    deploy(client, editor, name, model, 1)
    rolled = client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=editor)
    assert rolled.status_code == 422
    assert rolled.json()["code"] == "warmup_failed"
    assert client.get(f"{API}/deployments/{name}", headers=editor).json()["revision"] == 1
    assert predict(client, editor, name).json()["version"] == 1


def test_a_served_version_cannot_be_deleted(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    refused = client.delete(f"{API}/models/{model}/versions/1", headers=editor)
    assert refused.status_code == 409
    assert refused.json()["code"] == "version_deployed"
    assert name in refused.json()["detail"]
    assert refused.json()["deployments"] == [name]
    assert client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=editor).status_code == 201
    assert client.delete(f"{API}/models/{model}/versions/1", headers=editor).status_code == 204


def test_viewer_reads_and_predicts_but_does_not_deploy(
    client: TestClient, editor: dict[str, str], viewer: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    assert client.get(f"{API}/deployments/{name}", headers=viewer).status_code == 200
    assert predict(client, viewer, name).status_code == 200
    assert client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=viewer).status_code == 403
    assert predict(client, {}, name).status_code == 401


def _concurrently(count: int, send: Any) -> list[int]:
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def run() -> None:
        barrier.wait()
        statuses.append(send().status_code)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_concurrent_creates_of_one_name(app: FastAPI, editor: dict[str, str], client: TestClient, model: str) -> None:
    name = new_name()
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=editor, timeout=60) as http:
        statuses = _concurrently(
            4, lambda: http.post(f"{API}/deployments", json={"name": name, "model": model, "version": 1})
        )
    assert statuses == [201, 409, 409, 409]
    assert client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"][0]["revision"] == 1


def test_concurrent_rollouts_on_one_deployment(
    app: FastAPI, editor: dict[str, str], client: TestClient, model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=editor, timeout=60) as http:
        statuses = _concurrently(2, lambda: http.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}))
    assert statuses == [201, 409]
    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    assert [r["revision"] for r in revisions] == [2, 1]


def test_rollback_to_a_deleted_version_is_refused(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    assert client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=editor).status_code == 201
    assert client.delete(f"{API}/models/{model}/versions/1", headers=editor).status_code == 204
    refused = client.post(f"{API}/deployments/{name}/rollback", headers=editor)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "invalid_state"
    assert "no longer exists" in refused.json()["detail"]
    assert predict(client, editor, name).json()["version"] == 2
