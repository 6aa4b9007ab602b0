"""SDK end-to-end fixtures: a `shipyard server` process shared by the session, clients, fresh names."""

import uuid
from collections.abc import Iterator

import pytest

import shipyard
from tests.sdk.live_server import LiveServer, running_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """(url, admin token) of a server process shared by the SDK tests."""
    with running_server(tmp_path_factory.mktemp("sdk-server") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def admin_client(live_server: LiveServer) -> Iterator[shipyard.Client]:
    """An admin client over real HTTP."""
    with shipyard.Client(live_server.url, live_server.token) as client:
        yield client


@pytest.fixture
def fluent(live_server: LiveServer) -> Iterator[shipyard.Client]:
    """The module-level API pointed at the live server; runs a test leaves open are ended after it."""
    default = shipyard.set_tracking(live_server.url, live_server.token)
    yield default
    while (run := shipyard.active_run()) is not None:
        run.end("KILLED")


@pytest.fixture
def experiment_name() -> str:
    """A fresh experiment name: the tests share one server (and maybe a Postgres database)."""
    return f"sdk-{uuid.uuid4().hex[:12]}"
