"""The API reference: /docs works offline (every file it loads comes from this server), and every
operation in the OpenAPI document has a summary written for people."""

import re
from urllib.parse import urljoin

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.auth.test_route_guard import walk

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def test_docs_load_only_same_origin_files_that_exist(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "//" not in re.sub(r"<!--.*?-->", "", html).replace("://testserver", ""), "no absolute or CDN URL"
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert len(referenced) == 4  # stylesheet, icon, script, schema
    for reference in referenced:
        assert reference.startswith("/"), reference
        assert not reference.startswith("//"), reference
        loaded = client.get(urljoin("http://testserver/docs", reference))
        assert loaded.status_code == 200, reference
        assert loaded.content
    assert '"validatorUrl": null' in html, "the schema is not sent to an outside validator"


def test_docs_assets_are_an_exact_list(client: TestClient) -> None:
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    for name in ("index.html", "swagger-ui.js.map", "..%2F__init__.py", "%2E%2E"):
        refused = client.get(f"/docs/assets/{name}")
        assert refused.status_code == 404, name
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.get("/redoc").status_code == 404


def test_every_operation_has_a_written_summary(app: FastAPI, client: TestClient) -> None:
    derived = {route.name.replace("_", " ").title() for route in walk(app.routes) if isinstance(route, APIRoute)}
    schema = client.get("/openapi.json").json()
    operations = [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(operations) > 40
    for method, path, operation in operations:
        summary = operation.get("summary", "").strip()
        assert summary, f"{method} {path} has no summary"
        assert summary not in derived, f"{method} {path}: {summary!r} is FastAPI's name for the function"
