"""SDK end-to-end fixtures: the module-level API on the live server (tests/conftest.py), fresh names."""

import uuid
from collections.abc import Iterator

import pytest

import shipyard
from tests.sdk.live_server import LiveServer


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
