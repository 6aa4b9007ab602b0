"""CLI fixtures: a runner of the real `shipyard` command against the live server (tests/conftest.py)."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sdk.live_server import REPO_ROOT, LiveServer

RunCli = Callable[..., subprocess.CompletedProcess[str]]


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
