"""A deployment with `track_alias` follows its alias: a move rolls the new version out (by the
follower in the server process, whichever replica or job moved it), once; a rollback after it
stays; a version that fails to warm is not served, and the deployment says why."""

import time
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import serve_in_thread
from tests.deployments.conftest import new_name, register, rows

API = "/api/v1"


def wait_for(client: TestClient, headers: dict[str, str], name: str, done: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        read = client.get(f"{API}/deployments/{name}", headers=headers).json()
        if done(read) or time.monotonic() > deadline:
            return dict(read)
        time.sleep(0.2)


def move(client: TestClient, headers: dict[str, str], model: str, alias: str, version: int) -> None:
    response = client.put(f"{API}/models/{model}/aliases/{alias}", json={"version": version}, headers=headers)
    assert response.status_code == 200, response.text


def test_moving_the_alias_rolls_the_new_version_out(
    client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model, name = new_name("model"), new_name()
    for _ in range(2):
        register(client, admin, model, model_zips["forest"])
    created = client.post(
        f"{API}/deployments",
        json={"name": name, "model": model, "version": 1, "track_alias": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["track_status"] is None

    move(client, admin, model, "production", 2)
    read = wait_for(client, admin, name, lambda d: d["routes"][0]["version"] == 2)
    assert read["routes"] == [{"model": model, "version": 2, "weight": 100, "mode": "primary"}]
    assert "rolled out version 2" in read["track_status"]
    newest = client.get(f"{API}/deployments/{name}/revisions", headers=admin).json()["revisions"][0]
    assert newest["revision"] == 2
    assert newest["created_by"] == "system"
    assert "moved to version 2 by admin" in newest["reason"]
    # This process serves the new revision once its poller has it (within about a second).
    deadline = time.monotonic() + 10
    while True:
        answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows()}, headers=admin)
        if answer.json()["version"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.json()["version"] == 2

    # A rollback after the move is what an operator chose: the follower does not undo it.
    assert client.post(f"{API}/deployments/{name}/rollback", headers=admin).status_code == 201
    time.sleep(2.5)
    read = client.get(f"{API}/deployments/{name}", headers=admin).json()
    assert read["routes"][0]["version"] == 1
    assert read["revision"] == 3


def test_the_app_still_follows_after_a_live_server_of_it_stopped(
    app: FastAPI, client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    # The follower is a background thread of the shared app: a live server of that app, once
    # stopped, must leave it running.
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
    model, name = new_name("model"), new_name()
    for _ in range(2):
        register(client, admin, model, model_zips["forest"])
    created = client.post(
        f"{API}/deployments",
        json={"name": name, "model": model, "version": 1, "track_alias": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    move(client, admin, model, "production", 2)
    read = wait_for(client, admin, name, lambda d: d["routes"][0]["version"] == 2)
    assert read["routes"] == [{"model": model, "version": 2, "weight": 100, "mode": "primary"}]


def test_a_version_that_fails_to_warm_is_not_followed_and_the_deployment_says_why(
    client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model, name = new_name("model"), new_name()
    register(client, admin, model, model_zips["forest"])
    register(client, admin, model, model_zips["cold"])  # READY, but fails on its own input example
    move(client, admin, model, "production", 1)
    created = client.post(
        f"{API}/deployments",
        json={"name": name, "model": model, "alias": "production", "track_alias": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text

    move(client, admin, model, "production", 2)
    read = wait_for(client, admin, name, lambda d: d["track_status"] is not None)
    assert read["track_status"].startswith("did not roll out version 2")
    assert "input example" in read["track_status"]
    assert read["routes"][0]["version"] == 1
    assert read["revision"] == 1
    answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows()}, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["version"] == 1
    events = client.get(
        f"{API}/audit", params={"action": "deployment.follow_failed", "resource_id": name}, headers=admin
    ).json()["events"]
    assert [e["detail"]["error"] for e in events] == ["warmup_failed"]
    assert events[0]["actor"] == "system"


def test_a_deployment_that_does_not_track_ignores_alias_moves(
    client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model, name = new_name("model"), new_name()
    for _ in range(2):
        register(client, admin, model, model_zips["forest"])
    move(client, admin, model, "production", 1)
    created = client.post(
        f"{API}/deployments", json={"name": name, "model": model, "alias": "production"}, headers=admin
    )
    assert created.status_code == 201
    move(client, admin, model, "production", 2)
    time.sleep(2.5)
    read = client.get(f"{API}/deployments/{name}", headers=admin).json()
    assert read["routes"][0]["version"] == 1
    assert read["track_status"] is None
