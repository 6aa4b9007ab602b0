"""Shared fixtures: the app on SQLite and on a throwaway Postgres database, clients and users.

Every API test runs once per backend. Postgres and Redis are real servers on 127.0.0.1; under
CI=true a missing one fails the run, elsewhere its tests skip with the reason."""

import atexit
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

import shipyard
from app.bootstrap import ensure_admin
from app.db.migrate import upgrade_to_head
from app.main import create_app
from app.settings import Settings
from tests.sdk.live_server import LiveServer, running_server

POSTGRES_ADMIN_URL = os.environ.get("SHIPYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
S3_REGION = "us-east-1"
# A home of the run's own: the SDK and a first server start read and write ~/.shipyard, and no
# test may see the credentials of whoever runs the suite (nor leave its own there).
_TEST_HOME = tempfile.mkdtemp(prefix="shipyard-test-home-")
atexit.register(shutil.rmtree, _TEST_HOME, ignore_errors=True)
os.environ["HOME"] = _TEST_HOME
# TestClient's requests name the host `testserver`: every Settings a test builds serves it too.
os.environ["SHIPYARD_ALLOWED_HOSTS"] = json.dumps(["testserver", "localhost", "127.0.0.1", "::1"])


def service_missing(name: str, reason: str) -> None:
    """Fail loudly in CI, skip elsewhere."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of throwaway Postgres databases, all dropped at the end of the run."""
    created: list[str] = []

    def make() -> str:
        problem = _postgres_reachable()
        if problem:
            service_missing("PostgreSQL on 127.0.0.1:5432", problem)
        name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in created:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def settings(backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]) -> Settings:
    data_dir = tmp_path_factory.mktemp(f"data-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_password="admin-password-for-tests",
        max_upload_bytes=20 * 1024 * 1024,
        max_json_body_bytes=2 * 1024 * 1024,
        log_json=False,
    )


def migrated_app(settings: Settings) -> FastAPI:
    """An app on `settings`, its database migrated and its first admin made (not started yet)."""
    upgrade_to_head(settings)
    application = create_app(settings)
    ensure_admin(application.state.sessions, settings)
    return application


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return migrated_app(settings)


@pytest.fixture(scope="session")
def admin_token(app: FastAPI, settings: Settings) -> str:
    return read_credentials(settings.credentials_path)["token"]


@contextmanager
def app_with_admin(settings: Settings) -> Iterator[TestClient]:
    """A migrated app of its own on `settings`, started by a client of it that sends the first
    admin's token (a request's own Authorization header replaces it; `http.app` is the app)."""
    application = migrated_app(settings)
    token = read_credentials(settings.credentials_path)["token"]
    with TestClient(application, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def read_credentials(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def admin(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


def user_headers(client: TestClient, admin: dict[str, str], role: str) -> dict[str, str]:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    response = client.post("/api/v1/users", json={"username": username, "role": role}, headers=admin)
    assert response.status_code == 201, response.text
    token = client.post("/api/v1/auth/tokens", json={"username": username, "name": "tests"}, headers=admin).json()[
        "token"
    ]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def editor(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return user_headers(client, admin, "editor")


@pytest.fixture(scope="session")
def viewer(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return user_headers(client, admin, "viewer")


@pytest.fixture
def unique() -> str:
    """A fresh suffix: tests share one database per backend and must not collide."""
    return uuid.uuid4().hex[:10]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """The app, started by its owner (a TestClient such as the session `client` or `app_with_admin`),
    also served by uvicorn on 127.0.0.1 in this process, for real concurrent HTTP. Without a lifespan
    of its own: its shutdown would stop the background threads (pollers, follower, flushers, job
    executor) of an app its owner still uses."""
    if not app.state.startup.ready:
        raise RuntimeError("serve_in_thread runs no lifespan: start the app first, with a TestClient of it")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(app: FastAPI, client: TestClient) -> Iterator[str]:
    with serve_in_thread(app) as url:  # started by the session client
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto) over HTTP, with fake credentials in boto3's default chain."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "SHIPYARDFAKEKEYID")
        env.setenv("AWS_SECRET_ACCESS_KEY", "shipyard-fake-secret-key")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        # A developer's own AWS config or a proxy must not leak into these requests.
        env.setenv("AWS_CONFIG_FILE", os.devnull)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name=S3_REGION)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """(url, admin token) of a `shipyard server` process shared by the SDK and CLI tests."""
    # Webhooks may reach receivers on 127.0.0.1, as the CLI's webhook tests need (the default refuses it).
    data_dir = tmp_path_factory.mktemp("live-server") / "data"
    with running_server(data_dir, SHIPYARD_OUTBOUND_ALLOW_HOSTS='["127.0.0.1"]') as server:
        yield server


@pytest.fixture(scope="session")
def admin_client(live_server: LiveServer) -> Iterator[shipyard.Client]:
    """An admin SDK client over real HTTP, to set up data and to check what a test did."""
    with shipyard.Client(live_server.url, live_server.token) as client:
        yield client
