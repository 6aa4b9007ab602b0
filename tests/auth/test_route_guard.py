"""Every route denies by default: walk the app's routes and prove each non-public one answers
401 without a token and 403 for a role below the one it needs."""

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # public by default (SHIPYARD_METRICS_PUBLIC); checked below with it off
    ("POST", "/api/v1/auth/tokens"),  # login: checks the password, or an admin token when minting
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/assets/{name}"),  # the Swagger UI files /docs loads (an exact allow-list)
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
ROLE_OF_CHECKER = {"require_viewer": "viewer", "require_editor": "editor", "require_admin": "admin"}
SAMPLE_PARAMS = {"run_id": "0" * 32, "experiment_id": "1", "token_id": "1", "key": "loss", "path": "model/m.bin"}


def walk(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """FastAPI keeps included routers as nodes; descend into them to reach every endpoint."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from walk(original.routes)
        else:
            yield route


def endpoints(app: FastAPI) -> list[tuple[str, str, BaseRoute]]:
    found = []
    for route in walk(app.routes):
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                found.append((method, str(getattr(route, "path", "")), route))
    return found


def required_role(route: BaseRoute) -> str | None:
    if not isinstance(route, APIRoute):
        return None
    names = {getattr(dep.call, "__name__", "") for dep in route.dependant.dependencies}
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        names.add(getattr(dep.call, "__name__", ""))
        pending.extend(dep.dependencies)
    roles = [ROLE_OF_CHECKER[name] for name in names if name in ROLE_OF_CHECKER]
    return roles[0] if roles else None


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), path)


def test_the_walk_sees_the_api(app: FastAPI) -> None:
    seen = {(method, path) for method, path, _ in endpoints(app)}
    assert ("POST", "/api/v1/runs/{run_id}/log-batch") in seen
    assert ("GET", "/api/v1/audit") in seen
    assert len(seen) > 20


def test_every_non_public_route_needs_a_token_and_its_role(
    app: FastAPI, client: TestClient, viewer: dict[str, str], editor: dict[str, str]
) -> None:
    checked = 0
    for method, path, route in endpoints(app):
        if (method, path) in PUBLIC:
            continue
        role = required_role(route)
        assert role is not None, f"{method} {path} has no role check"
        url = concrete(path)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        anonymous = client.request(method, url, json=body)
        assert anonymous.status_code == 401, f"{method} {path} answered {anonymous.status_code} without a token"
        assert anonymous.json()["code"] == "unauthenticated"
        below = {"editor": viewer, "admin": editor}.get(role)
        if below is not None:
            denied = client.request(method, url, json=body, headers=below)
            assert denied.status_code == 403, f"{method} {path} answered {denied.status_code} to a lower role"
        checked += 1
    assert checked > 15


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_public_routes_answer_without_a_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
