"""CLI fixtures: a `shipyard server` process, and a runner of the real `shipyard` command against it."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shipyard
from tests.sdk.live_server import REPO_ROOT, LiveServer, running_server

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """(url, admin token) of a server process shared by the CLI tests."""
    with running_server(tmp_path_factory.mktemp("cli-server") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def admin_client(live_server: LiveServer) -> Iterator[shipyard.Client]:
    """An admin SDK client, to set up data and to check what the CLI did."""
    with shipyard.Client(live_server.url, live_server.token) as client:
        yield client


@pytest.fixture
def cli(live_server: LiveServer, tmp_path: Path) -> RunCli:
    """Run `shipyard ARGS…` as a subprocess with SHIPYARD_URL/SHIPYARD_TOKEN set (token=… overrides)."""

    def run(*args: str, token: str | None = None, url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update(
            SHIPYARD_URL=url or live_server.url,
            SHIPYARD_TOKEN=token or live_server.token,
            HOME=str(tmp_path),  # no developer's ~/.shipyard/credentials
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        return subprocess.run(
            [sys.executable, "-m", "shipyard.cli.main", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def unique_name() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"
