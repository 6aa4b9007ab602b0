"""Every route denies by default: walk the app's routes, into included routers and mounted
sub-applications, and prove each non-public one answers 401 without a token, 403 to a viewer
when it writes, and 403 to any role below the one it needs."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount

from app.deps import Editor, Viewer
from app.handlers import install_handlers
from app.main import create_app
from app.settings import Settings

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v2/health/live"),  # the Open Inference Protocol's /healthz and /readyz
    ("GET", "/v2/health/ready"),
    ("GET", "/metrics"),  # public by default (SHIPYARD_METRICS_PUBLIC); checked in test_edge with it off
    ("POST", "/api/v1/auth/tokens"),  # login: checks the password, or an admin token when minting
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/assets/{name}"),  # the Swagger UI files /docs loads (an exact allow-list)
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
# POSTs that only read (a search takes its filter in the body); every other write needs an editor.
READ_ONLY_POSTS = {
    ("POST", "/api/v1/runs/search"),
    ("POST", "/api/v1/deployments/{name}/predict"),
    ("POST", "/v2/models/{name}/infer"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# require_predictor: a viewer, or a predict-only token for the deployment (test_predict_tokens);
# require_feedback_sender: an editor, or such a token.
ROLE_OF_CHECKER = {
    "require_viewer": "viewer",
    "require_editor": "editor",
    "require_admin": "admin",
    "require_predictor": "viewer",
    "require_feedback_sender": "editor",
}
# Valid-looking values, so a 401 or 403 is the guard's answer and not a path parameter's 422.
SAMPLE_PARAMS = {
    "run_id": "0" * 32,
    "job_id": "0" * 32,
    "experiment_id": "1",
    "token_id": "1",
    "key": "loss",
    "path": "model/m.bin",
    "name": "churn",
    "ref": "1",
    "version": "1",
    "alias": "champion",
    "thing_id": "1",
    "delivery_id": "0" * 32,
    "report_id": "1",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    route: Any  # an APIRoute, a Starlette Route, or FastAPI's RouteContext around one


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every endpoint: included routers expanded by FastAPI's own
    iter_route_contexts (prefixes and router dependencies applied), Mounts descended into."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            inner = route.routes
            if inner:
                yield from walk(inner, prefix + route.path)
            else:  # an opaque ASGI app (a WSGI face, static files): probe the mount itself
                yield prefix + route.path + "/{path}", route
        else:
            yield prefix + str(context.path), context


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for path, route in walk(app.routes):
        methods = getattr(route, "methods", None) or ({"GET", "POST"} if isinstance(route, Mount) else set())
        found.extend(Endpoint(method, path, route) for method in sorted(methods) if method != "HEAD")
    return found


def required_role(route: Any) -> str | None:
    dependant = getattr(route, "dependant", None)
    if not isinstance(getattr(route, "original_route", route), APIRoute) or dependant is None:
        return None
    names = set()
    pending = list(dependant.dependencies)
    while pending:
        dep = pending.pop()
        names.add(getattr(dep.call, "__name__", ""))
        pending.extend(dep.dependencies)
    roles = [ROLE_OF_CHECKER[name] for name in names if name in ROLE_OF_CHECKER]
    return roles[0] if roles else None


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "x"), path)


def check_guards(
    client: TestClient, found: list[Endpoint], viewer: dict[str, str], editor: dict[str, str]
) -> set[tuple[str, str]]:
    """Assert the guard of every non-public endpoint; return the (method, path) checked."""
    checked = set()
    for endpoint in found:
        method, path = endpoint.method, endpoint.path
        if (method, path) in PUBLIC:
            continue
        role = required_role(endpoint.route)
        opaque = isinstance(endpoint.route, Mount)
        assert opaque or role is not None, f"{method} {path} has no role check"
        url = concrete(path)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        anonymous = client.request(method, url, json=body)
        assert anonymous.status_code == 401, f"{method} {path} answered {anonymous.status_code} without a token"
        assert anonymous.json()["code"] == "unauthenticated"
        writes = method in WRITE_METHODS and (method, path) not in READ_ONLY_POSTS
        if writes and not opaque:
            assert role in ("editor", "admin"), f"{method} {path} writes but lets a {role} in"
            denied = client.request(method, url, json=body, headers=viewer)
            assert denied.status_code == 403, f"{method} {path} answered {denied.status_code} to a viewer"
            assert denied.json()["code"] == "forbidden"
        if role == "admin":
            denied = client.request(method, url, json=body, headers=editor)
            assert denied.status_code == 403, f"{method} {path} answered {denied.status_code} to an editor"
        checked.add((method, path))
    return checked


def test_the_walk_sees_the_api(app: FastAPI) -> None:
    seen = {(e.method, e.path) for e in endpoints(app)}
    assert ("POST", "/api/v1/runs/{run_id}/log-batch") in seen
    assert ("GET", "/api/v1/audit") in seen
    assert ("GET", "/healthz") in seen
    assert len(seen) > 40


def test_every_non_public_route_needs_a_token_and_its_role(
    app: FastAPI, client: TestClient, viewer: dict[str, str], editor: dict[str, str]
) -> None:
    checked = check_guards(client, endpoints(app), viewer, editor)
    assert ("DELETE", "/api/v1/models/{name}/aliases/{alias}") in checked
    assert ("POST", "/api/v1/jobs/{job_id}/cancel") in checked
    assert len(checked) > 40


def _probe_sub_app(parent: FastAPI) -> FastAPI:
    """A tiny sub-application like the dashboard or the MLflow face will be, sharing the parent's
    state (its dependencies read sessions and the token cache from the app they run in)."""
    sub = FastAPI(openapi_url=None)
    sub.state = parent.state
    install_handlers(sub)

    @sub.get("/things/{thing_id}")
    def read_thing(thing_id: int, _: Viewer) -> dict[str, int]:
        return {"id": thing_id}

    @sub.post("/things")
    def make_thing(_: Editor) -> dict[str, int]:
        return {"id": 1}

    inner = FastAPI(openapi_url=None)
    inner.state = parent.state
    install_handlers(inner)

    @inner.delete("/things/{thing_id}")
    def drop_thing(thing_id: int, _: Editor) -> None:
        return None

    sub.mount("/deeper", inner)
    return sub


def test_the_walk_descends_into_mounted_sub_applications(
    settings: Settings, admin: dict[str, str], viewer: dict[str, str], editor: dict[str, str]
) -> None:
    # A fresh app on the same database: mounting onto the shared one would leak into other tests.
    application = create_app(settings)
    application.mount("/probe", _probe_sub_app(application))
    found = [e for e in endpoints(application) if e.path.startswith("/probe")]
    assert {(e.method, e.path) for e in found} == {
        ("GET", "/probe/things/{thing_id}"),
        ("POST", "/probe/things"),
        ("DELETE", "/probe/deeper/things/{thing_id}"),
    }
    with TestClient(application) as client:  # the lifespan readies the database gate
        checked = check_guards(client, found, viewer, editor)
        assert client.post("/probe/things", headers=editor).status_code == 200
        assert client.get("/probe/things/7", headers=viewer).json() == {"id": 7}
    assert len(checked) == 3


async def _opaque_asgi_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("only walked, never called")


def test_an_opaque_mount_is_probed_at_its_path(settings: Settings) -> None:
    application = create_app(settings)
    application.mount("/face", _opaque_asgi_app)
    assert {(e.method, e.path) for e in endpoints(application) if e.path.startswith("/face")} == {
        ("GET", "/face/{path}"),
        ("POST", "/face/{path}"),
    }


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_public_routes_answer_without_a_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
