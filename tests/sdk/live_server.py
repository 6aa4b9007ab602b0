"""A real `shipyard server` process for end-to-end tests of the SDK and the CLI.

SHIPYARD_TEST_DATABASE_URL (e.g. a Postgres URL) makes it use that database instead of SQLite."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

import shipyard
from shipyard.config import read_token

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 60.0
ADMIN_PASSWORD = "admin-password-for-sdk-tests"


class LiveServer(NamedTuple):
    url: str
    token: str
    data_dir: Path
    """The server's data dir: its artifacts are under ``artifacts/`` (the embedded local store)."""
    process: "subprocess.Popen[bytes]"
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of the server process: the test's settings, none of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        SHIPYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        SHIPYARD_LOG_JSON="false",
        SHIPYARD_LOG_LEVEL="WARNING",
        # Lets an admin upload a pickle, so the SDK's allow_pickle path can be tested; a model
        # registered from a run is refused as a pickle whatever this says.
        SHIPYARD_ALLOW_PICKLE="true",
        # The first start saves its token in ~/.shipyard/credentials: never the developer's own.
        HOME=str(data_dir.parent / "home"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        **extra,
    )
    if database_url := database_url or os.environ.get("SHIPYARD_TEST_DATABASE_URL"):
        env["SHIPYARD_DATABASE_URL"] = database_url
    return env


@contextmanager
def running_server(data_dir: Path, database_url: str | None = None, **extra_env: str) -> Iterator[LiveServer]:
    """`shipyard server` in a subprocess until the block ends; its log is shown if it fails to start.
    `extra_env` adds settings (SHIPYARD_…) to its environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"server-{port}.log"
    command = [sys.executable, "-m", "shipyard.cli.main", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=server_env(data_dir, database_url, **extra_env), stdout=log, stderr=log
        )
    try:
        _wait_until_healthy(process, url, log_path)
        yield LiveServer(url, _admin_token(url, data_dir), data_dir, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _admin_token(url: str, data_dir: Path) -> str:
    token = read_token(data_dir / "credentials")
    if token is not None:
        return token
    # A database shared with earlier servers (SHIPYARD_TEST_DATABASE_URL) already has its admin,
    # so this server wrote no credentials: log in with the password every test server sets.
    with shipyard.Client(url) as anonymous:
        secret = anonymous.create_token("admin", name="tests", password=ADMIN_PASSWORD).token
    assert secret is not None
    return secret


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"shipyard server exited with {process.returncode}:\n{log_path.read_text()}", pytrace=False)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"shipyard server not healthy after {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{log_path.read_text()}")
