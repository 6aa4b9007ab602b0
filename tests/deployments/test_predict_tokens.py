"""Predict-only tokens on SQLite and Postgres: an admin mints one for named deployments; it
predicts (REST and V2) there, gets 403 naming any other deployment, and 403 on every other route."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.auth.test_route_guard import PUBLIC, concrete, endpoints
from tests.conftest import user_headers
from tests.deployments.conftest import deploy, new_name, register, rows

API = "/api/v1"
# The routes a predict-only token is for; the route walk proves it is refused everywhere else.
PREDICT_ROUTES = {
    ("POST", "/api/v1/deployments/{name}/predict"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
    ("POST", "/api/v1/deployments/{name}/feedback"),
}
V2_BODY = {
    "inputs": [
        {"name": "age", "shape": [1], "datatype": "FP64", "data": [42.0]},
        {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["pro"]},
    ]
}


@pytest.fixture(scope="module")
def two_deployments(client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]) -> tuple[str, str]:
    model = new_name("tok")
    register(client, admin, model, model_zips["forest"])
    first, second = new_name("Tok-A"), new_name("tok-b")
    deploy(client, admin, first, model, 1)
    deploy(client, admin, second, model, 1)
    return first, second


def mint(client: TestClient, admin: dict[str, str], username: str, deployments: list[str]) -> Any:
    return client.post(
        f"{API}/auth/tokens",
        json={"username": username, "name": "app", "scope": "predict", "deployments": deployments},
        headers=admin,
    )


@pytest.fixture(scope="module")
def predictor(client: TestClient, admin: dict[str, str], two_deployments: tuple[str, str]) -> dict[str, str]:
    """A predict-only token of an admin user: its scope, not its user's role, decides."""
    username = new_name("app")
    assert client.post(f"{API}/users", json={"username": username, "role": "admin"}, headers=admin).status_code == 201
    # The name in another case: deployments are matched as people read their names.
    minted = mint(client, admin, username, [two_deployments[0].upper()])
    assert minted.status_code == 201, minted.text
    assert minted.json()["scope"] == "predict"
    assert minted.json()["deployments"] == [two_deployments[0].casefold()]
    return {"Authorization": f"Bearer {minted.json()['token']}"}


def test_predicts_on_its_deployment_rest_and_v2(
    client: TestClient, predictor: dict[str, str], two_deployments: tuple[str, str]
) -> None:
    name = two_deployments[0]
    answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(2)}, headers=predictor)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
    assert client.post(f"/v2/models/{name}/infer", json=V2_BODY, headers=predictor).status_code == 200
    assert client.post(f"/v2/models/{name}/versions/1/infer", json=V2_BODY, headers=predictor).status_code == 200
    assert client.get(f"/v2/models/{name}", headers=predictor).json()["name"] == name
    assert client.get(f"/v2/models/{name}/ready", headers=predictor).json() == {"name": name, "ready": True}
    assert client.get("/v2", headers=predictor).status_code == 200
    # The application that predicts sends the outcomes back on the same token.
    feedback = {"feedback": [{"prediction_id": answer.json()["prediction_ids"][0], "actual": 1}]}
    sent = client.post(f"{API}/deployments/{name}/feedback", json=feedback, headers=predictor)
    assert sent.status_code == 200, sent.text
    assert sent.json()["received"] == 1


def test_another_deployment_is_a_403_naming_it(
    client: TestClient, predictor: dict[str, str], two_deployments: tuple[str, str]
) -> None:
    other = two_deployments[1]
    for method, url, body in [
        ("POST", f"{API}/deployments/{other}/predict", {"inputs": rows(1)}),
        (
            "POST",
            f"{API}/deployments/{other}/feedback",
            {"feedback": [{"prediction_id": "0" * 32 + "-0", "actual": 1}]},
        ),
        ("POST", f"/v2/models/{other}/infer", V2_BODY),
        ("GET", f"/v2/models/{other}", None),
        ("GET", f"/v2/models/{other}/ready", None),
    ]:
        refused = client.request(method, url, json=body, headers=predictor)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.json()["code"] == "forbidden"
        assert other in refused.json()["detail"]
    # Unknown deployments too: a predict-only token learns nothing about what else exists.
    assert client.get("/v2/models/nowhere", headers=predictor).status_code == 403


def test_every_other_route_is_a_403(app: FastAPI, client: TestClient, predictor: dict[str, str]) -> None:
    checked = set()
    for endpoint in endpoints(app):
        key = (endpoint.method, endpoint.path)
        if key in PUBLIC or key == ("GET", "/v2"):
            continue
        # `churn` (the walk's sample name) is not among the token's deployments, so even the
        # predict routes refuse it there.
        url = concrete(endpoint.path)
        body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
        answer = client.request(endpoint.method, url, json=body, headers=predictor)
        assert answer.status_code == 403, f"{endpoint.method} {endpoint.path} answered {answer.status_code}"
        checked.add(key)
    assert checked >= PREDICT_ROUTES
    assert ("GET", "/api/v1/auth/whoami") in checked
    assert ("POST", "/api/v1/users") in checked
    assert len(checked) > 40


def test_it_cannot_mint_tokens_nor_read_private_metrics(
    client: TestClient, predictor: dict[str, str], two_deployments: tuple[str, str]
) -> None:
    minted = client.post(f"{API}/auth/tokens", json={"username": "admin", "name": "escalate"}, headers=predictor)
    assert minted.status_code == 403
    assert minted.json()["code"] == "forbidden"
    assert mint(client, predictor, "admin", [two_deployments[1]]).status_code == 403


def test_minting_rules(client: TestClient, admin: dict[str, str], two_deployments: tuple[str, str]) -> None:
    viewer_name = new_name("v")
    assert client.post(f"{API}/users", json={"username": viewer_name}, headers=admin).status_code == 201
    bodies = [
        {"username": viewer_name, "scope": "predict"},  # no deployments
        {"username": viewer_name, "deployments": [two_deployments[0]]},  # deployments without the scope
        {"username": viewer_name, "scope": "predict", "deployments": []},
        {"username": viewer_name, "scope": "predict", "deployments": ["../x"]},
        {"username": viewer_name, "scope": "everything", "deployments": [two_deployments[0]]},
    ]
    for body in bodies:
        answer = client.post(f"{API}/auth/tokens", json=body, headers=admin)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["code"] == "validation_error"
    # A user cannot log in to a predict-only token: the admin mints it for the application.
    login = client.post(
        f"{API}/auth/tokens",
        json={"username": "admin", "password": "admin-password-for-tests", "scope": "predict", "deployments": ["x"]},
    )
    assert login.status_code == 400
    assert login.json()["code"] == "invalid_input"
    # An editor cannot mint one.
    editor = user_headers(client, admin, "editor")
    assert mint(client, editor, viewer_name, [two_deployments[0]]).status_code == 403


def test_listed_with_its_scope_audited_and_revocable(
    client: TestClient, admin: dict[str, str], two_deployments: tuple[str, str]
) -> None:
    username = new_name("svc")
    assert client.post(f"{API}/users", json={"username": username}, headers=admin).status_code == 201
    minted = mint(client, admin, username, [two_deployments[0], two_deployments[1]]).json()
    listed = client.get(f"{API}/auth/tokens", params={"username": username}, headers=admin).json()["tokens"]
    assert [(t["scope"], t["deployments"]) for t in listed] == [
        ("predict", sorted(d.casefold() for d in two_deployments))
    ]
    audit = client.get(f"{API}/audit", params={"action": "token.create"}, headers=admin).json()
    events = [e for e in audit["events"] if e["resource_id"] == str(minted["id"])]
    assert events
    assert events[0]["detail"]["scope"] == "predict"
    headers = {"Authorization": f"Bearer {minted['token']}"}
    name = two_deployments[1]
    assert (
        client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(1)}, headers=headers).status_code == 200
    )
    assert client.delete(f"{API}/auth/tokens/{minted['id']}", headers=admin).status_code == 204
    refused = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(1)}, headers=headers)
    assert refused.status_code == 401
