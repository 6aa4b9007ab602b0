"""The HTTP edge: request ids, body limits and media types, health, readiness and metrics."""

import json
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.observability import JsonFormatter
from app.settings import Settings
from tests.sdk.live_server import LiveServer, running_server


def test_request_id_is_echoed_or_minted(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    minted = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert minted != "bad id with spaces"
    assert len(minted) == 32


def test_non_json_bodies_are_415(client: TestClient, editor: dict[str, str]) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**editor, **({"Content-Type": content_type} if content_type else {})}
        response = client.post("/api/v1/experiments", content=b"name=x", headers=headers)
        assert response.status_code == 415, content_type
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unsupported_media_type"


def test_invalid_json_is_422(client: TestClient, editor: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/experiments", content=b"{not json", headers={**editor, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_nul_anywhere_in_a_json_body_is_422_naming_the_place(client: TestClient, editor: dict[str, str]) -> None:
    run = client.post("/api/v1/experiments", json={"name": f"nul-{uuid.uuid4().hex[:8]}"}, headers=editor).json()
    run = client.post(f"/api/v1/experiments/{run['id']}/runs", json={"name": "r"}, headers=editor).json()
    batch = f"/api/v1/runs/{run['id']}/log-batch"
    for body, loc in (
        ({"params": [{"key": "a", "value": "ok"}, {"key": "b", "value": "x\x00y"}]}, ["body", "params", 1, "value"]),
        ({"tags": [{"key": "t", "value": "\x00"}]}, ["body", "tags", 0, "value"]),
        ({"metrics": [], "extra\x00key": 1}, ["body", "extra\x00key"]),
    ):
        response = client.post(batch, json=body, headers=editor)
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["errors"] == [{"loc": loc, "msg": "holds a NUL character (U+0000)", "type": "nul_character"}]
        assert problem["detail"] == f"field `{'.'.join(map(str, loc[1:]))}`: holds a NUL character (U+0000)"
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()["params"] == {}
    # Nested deeper than the parser goes: refused as unparsable, with or without a NUL inside.
    for inner in ('"x"', '"' + "\\" + 'u0000"'):
        deep = "[" * 100_000 + inner + "]" * 100_000
        response = client.post(batch, content=deep, headers={**editor, "Content-Type": "application/json"})
        assert response.status_code == 400, response.text
    # The six characters \u0000 as text (an escaped backslash) are not a NUL and are stored as sent.
    literal = client.post(batch, json={"params": [{"key": "p", "value": "\\u0000"}]}, headers=editor)
    assert literal.status_code == 204
    assert client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()["params"] == {"p": "\\u0000"}


def test_a_ten_megabyte_tag_is_413_at_once(client: TestClient, editor: dict[str, str], settings: Settings) -> None:
    body = json.dumps({"name": "big", "tags": {"blob": "x" * 10 * 1024 * 1024}}).encode()
    response = client.post("/api/v1/experiments", content=body, headers={**editor, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    def chunked() -> object:
        yield b'{"name": "big", "description": "'
        for _ in range(12):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    streamed = client.post(
        "/api/v1/experiments", content=chunked(), headers={**editor, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "artifact_store": "ok"}


def test_readiness_fails_when_the_database_is_gone(tmp_path: object) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none", log_json=False)
    with TestClient(create_app(settings)) as broken:
        response = broken.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"


def test_metrics_are_labelled_by_route_template(client: TestClient, editor: dict[str, str]) -> None:
    client.get(f"/api/v1/runs/{'c' * 32}", headers=editor)
    text = client.get("/metrics").text
    assert 'route="/api/v1/runs/{run_id}"' in text
    assert "c" * 32 not in text
    assert "shipyard_http_request_duration_seconds_bucket" in text


def test_metrics_can_require_a_token(tmp_path: object, settings: Settings) -> None:
    private = settings.model_copy(update={"metrics_public": False})
    with TestClient(create_app(private)) as guarded:
        assert guarded.get("/metrics").status_code == 401


def test_unknown_routes_and_methods_are_problems(client: TestClient, editor: dict[str, str]) -> None:
    missing = client.get("/api/v1/nothing-here", headers=editor)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = client.put("/api/v1/audit", json={}, headers=editor)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


def test_access_log_is_structured_with_route_and_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shipyard.access"):
        client.get("/healthz", headers={"X-Request-ID": "log-check-1"})
    record = next(r for r in caplog.records if r.name == "shipyard.access")
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["route"], fields["status"]) == ("GET", "/healthz", 200)
    assert fields["request_id"] == "log-check-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/healthz"
    assert line["level"] == "info"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"])
def test_json_bodies_are_utf8_only(client: TestClient, editor: dict[str, str], unique: str, encoding: str) -> None:
    name = f"enc-{unique}"
    # UTF-16 spells U+0000 as two zero bytes, not the escape \u0000 the raw-bytes check looks for.
    for text in (json.dumps({"name": name}), '{"name": "' + name + '\x00"}'):
        response = client.post(
            "/api/v1/experiments", content=text.encode(encoding), headers={**editor, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "json_not_utf8"
    assert client.get("/api/v1/experiments", params={"name": name}, headers=editor).json()["experiments"] == []
    invalid = client.post(
        "/api/v1/experiments", content=b'{"name": "\xff"}', headers={**editor, "Content-Type": "application/json"}
    )
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "json_not_utf8"
    # Where no route takes the method, routing answers first.
    utf16 = {**editor, "Content-Type": "application/json"}
    assert client.post("/api/v1/nothing-here", content="{}".encode(encoding), headers=utf16).status_code == 404
    assert client.post("/api/v1/audit", content="{}".encode(encoding), headers=utf16).status_code == 405


def test_a_duplicate_key_is_422_naming_it(client: TestClient, admin: dict[str, str], unique: str) -> None:
    username = f"dup-{unique}"
    body = '{"username": "' + username + '", "role": "viewer", "role": "admin"}'
    response = client.post("/api/v1/users", content=body, headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    duplicate = {"loc": ["body", "role"], "msg": "names this key more than once", "type": "duplicate_key"}
    assert problem["errors"] == [duplicate]
    users = client.get("/api/v1/users", headers=admin).json()
    assert username not in json.dumps(users)

    experiment = client.post("/api/v1/experiments", json={"name": f"dup-{unique}"}, headers=admin).json()
    run = client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={"name": "r"}, headers=admin).json()
    batch = f"/api/v1/runs/{run['id']}/log-batch"
    nested = '{"params": [{"key": "a", "value": "1"}, {"key": "b", "value": "2", "value": "3"}]}'
    response = client.post(batch, content=nested, headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "params", 1, "value"]
    assert client.get(f"/api/v1/runs/{run['id']}", headers=admin).json()["params"] == {}
    # The same key in different objects is no duplicate.
    ok = '{"params": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}'
    response = client.post(batch, content=ok, headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 204, response.text
    assert client.get(f"/api/v1/runs/{run['id']}", headers=admin).json()["params"] == {"a": "1", "b": "2"}


def test_a_host_not_allowed_is_400(client: TestClient) -> None:
    for host in ("evil.example", "evil.example:8000", "localhost.evil.example", "localhost:abc", "[::2]:80"):
        response = client.get("/healthz", headers={"Host": host})
        assert response.status_code == 400, host
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "host_not_allowed"
    for host in ("localhost", "LOCALHOST:8000", "127.0.0.1:1234", "[::1]", "[::1]:8000", "testserver"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    twice = client.get("/healthz", headers=[("Host", "testserver"), ("Host", "evil.example")])
    assert twice.status_code == 400
    assert twice.json()["code"] == "host_not_allowed"


def test_allowed_hosts_default_to_loopback_and_star_allows_any(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.delenv("SHIPYARD_ALLOWED_HOSTS")
    assert Settings().allowed_hosts == ["localhost", "127.0.0.1", "::1"]
    monkeypatch.setenv("SHIPYARD_ALLOWED_HOSTS", '["*"]')
    anywhere = settings.model_copy(update={"allowed_hosts": Settings().allowed_hosts})
    with TestClient(create_app(anywhere)) as open_client:
        assert open_client.get("/healthz", headers={"Host": "shipyard.internal:8000"}).status_code == 200


@pytest.fixture(scope="session")
def impatient_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[LiveServer]:
    """A `shipyard server` process that waits one second for a slow client."""
    database_url = postgres_database() if backend == "postgres" else None
    data_dir = tmp_path_factory.mktemp(f"impatient-{backend}") / "data"
    with running_server(data_dir, database_url, SHIPYARD_CLIENT_TIMEOUT_SECONDS="1") as server:
        yield server


def _trickle(server: LiveServer, first_bytes: bytes, *, after: bytes = b"") -> bytes:
    """Everything the server answers to a client that sends `first_bytes` and then nothing, until it
    closes; with `after`, a complete request whose answer is read first on the same connection."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        received = b""
        if after:
            sock.sendall(after)
            while not received.endswith(b"}"):
                received += sock.recv(65536)
        sock.sendall(first_bytes)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _problem_of(answer: bytes) -> tuple[str, dict[str, str], dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, json.loads(body)


@pytest.mark.parametrize(
    "first_bytes",
    [b"", b"GET /healthz HTTP/1.1\r\n", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"],
    ids=["nothing", "request-line", "half-a-header"],
)
def test_slow_headers_are_cut_off_with_408(impatient_server: LiveServer, first_bytes: bytes) -> None:
    status_line, headers, problem = _problem_of(_trickle(impatient_server, first_bytes))
    assert status_line.startswith("HTTP/1.1 408")
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert problem["code"] == "request_timeout"


def test_slow_headers_on_a_kept_alive_connection_are_cut_off_too(impatient_server: LiveServer) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answer = _trickle(impatient_server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", after=first)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b'{"status":"ok"}HTTP/1.1 408' in answer


def test_a_slow_json_body_is_cut_off_with_408(impatient_server: LiveServer, unique: str) -> None:
    body = json.dumps({"name": f"slow-{unique}"}).encode()
    head = (
        "POST /api/v1/experiments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {impatient_server.token}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    status_line, headers, problem = _problem_of(_trickle(impatient_server, head + body[:5]))
    assert status_line.startswith("HTTP/1.1 408")
    assert headers["connection"] == "close"
    assert problem["code"] == "request_timeout"
    auth = {"Authorization": f"Bearer {impatient_server.token}"}
    listed = httpx.get(f"{impatient_server.url}/api/v1/experiments", params={"name": f"slow-{unique}"}, headers=auth)
    assert listed.json()["experiments"] == []


def test_a_slow_upload_is_cut_off_with_408_and_nothing_is_stored(impatient_server: LiveServer, unique: str) -> None:
    auth = {"Authorization": f"Bearer {impatient_server.token}"}
    with httpx.Client(base_url=f"{impatient_server.url}/api/v1", headers=auth) as api:
        experiment = api.post("/experiments", json={"name": f"slow-upload-{unique}"}).json()
        run = api.post(f"/experiments/{experiment['id']}/runs", json={"name": "r"}).json()
        head = (
            f"PUT /api/v1/runs/{run['id']}/artifacts/model.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {impatient_server.token}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 100000\r\n\r\n"
        ).encode()
        status_line, headers, problem = _problem_of(_trickle(impatient_server, head + b"x" * 1000))
        assert status_line.startswith("HTTP/1.1 408")
        assert headers["connection"] == "close"
        assert problem["code"] == "request_timeout"
        assert api.get(f"/runs/{run['id']}/artifacts/model.bin").status_code == 404
        # A client that keeps sending is not cut off, however long the whole body takes.
        assert api.put(f"/runs/{run['id']}/artifacts/model.bin", content=b"x" * 100_000).status_code == 201
