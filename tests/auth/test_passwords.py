"""The password rule: at least 12 characters and not a common password, for new users and for
the first admin from the settings (the server refuses to start, with one clear line)."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.sdk.live_server import REPO_ROOT, server_env

START_TIMEOUT_S = 60


def test_a_short_password_is_refused_and_no_user_is_made(
    client: TestClient, admin: dict[str, str], unique: str
) -> None:
    response = client.post(
        "/api/v1/users", json={"username": f"short-{unique}", "password": "eleven-char"}, headers=admin
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
    assert "12 characters" in response.json()["detail"]
    users = client.get("/api/v1/users", headers=admin).json()["users"]
    assert f"short-{unique}" not in {user["username"] for user in users}


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "1qaz2wsx3EDC"])
def test_a_common_password_is_refused_whatever_its_case(
    client: TestClient, admin: dict[str, str], unique: str, password: str
) -> None:
    response = client.post("/api/v1/users", json={"username": f"common-{unique}", "password": password}, headers=admin)
    assert response.status_code == 400
    assert response.json()["code"] == "weak_password"
    assert "common" in response.json()["detail"]


def test_a_long_uncommon_password_is_taken_and_logs_in(client: TestClient, admin: dict[str, str], unique: str) -> None:
    password = f"twelve+{unique}"
    created = client.post("/api/v1/users", json={"username": f"good-{unique}", "password": password}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["password"] is None
    login = client.post("/api/v1/auth/tokens", json={"username": f"good-{unique}", "password": password}, headers={})
    assert login.status_code == 201, login.text


def _start_server(tmp_path: Path, database_url: str | None, admin_password: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path / "data", database_url)
    env["SHIPYARD_ADMIN_PASSWORD"] = admin_password
    command = [sys.executable, "-m", "shipyard.cli.main", "server", "--port", "1", "--data-dir", str(tmp_path / "data")]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
    )


@pytest.fixture
def database_url(backend: str, postgres_database: Callable[[], str]) -> str | None:
    """None for the embedded default (SQLite); a Postgres URL for a deployment."""
    return postgres_database() if backend == "postgres" else None


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short-pass", "at least 12 characters"), ("Qwerty123456", "most common passwords")],
)
def test_the_server_refuses_a_weak_admin_password_in_one_line(
    tmp_path: Path, database_url: str | None, password: str, reason: str
) -> None:
    result = _start_server(tmp_path, database_url, password)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SHIPYARD_ADMIN_PASSWORD" in lines[0]
    assert reason in lines[0]
    assert password not in result.stdout + result.stderr
    assert not (tmp_path / "data" / "credentials").exists()
