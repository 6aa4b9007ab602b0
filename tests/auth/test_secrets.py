"""The admin password setting is a secret: never in a repr or a log line; a deployment refuses a
known default password; the first-start banner goes to the terminal, never into the logs."""

import io
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import read_credentials
from tests.sdk.live_server import REPO_ROOT, server_env

SECRET = "a-secret-nobody-guesses"
START_TIMEOUT_S = 60


def test_the_admin_password_is_in_no_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_ADMIN_PASSWORD", SECRET)
    settings = Settings()
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == SECRET
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert SECRET not in text


@pytest.mark.parametrize(
    "deployment",
    [
        {"SHIPYARD_DATABASE_URL": "postgresql://shipyard@127.0.0.1:1/shipyard"},
        {"SHIPYARD_ARTIFACT_URI": "s3://bucket/artifacts"},
        {"SHIPYARD_BROKER_URL": "redis://127.0.0.1:1/0"},
    ],
    ids=["postgres", "s3", "broker"],
)
@pytest.mark.parametrize("password", ["change-me", "Change-Me"])
def test_a_deployment_refuses_a_known_default_admin_password(
    tmp_path: Path, deployment: dict[str, str], password: str
) -> None:
    env = {**server_env(tmp_path / "data"), **deployment, "SHIPYARD_ADMIN_PASSWORD": password}
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "server", "--port", "1", "--data-dir", str(tmp_path / "data")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "shipyard server: SHIPYARD_ADMIN_PASSWORD is a known default password; a server on Postgres, S3 or a "
        "broker needs one of your own"
    ]


@pytest.fixture
def fresh_settings(backend: str, tmp_path: Path, postgres_database: Callable[[], str]) -> Settings:
    """A server's settings on a database with no users yet."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_database() if backend == "postgres" else None,
        admin_password=SECRET,
        log_json=False,
    )


class _Terminal(io.StringIO):
    """Stands in for the terminal the server was started from."""

    def isatty(self) -> bool:
        return True


def test_the_first_start_logs_neither_the_password_nor_the_token(
    fresh_settings: Settings, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG), TestClient(create_app(fresh_settings)) as client:
        assert client.get("/readyz").status_code == 200
    token = read_credentials(fresh_settings.credentials_path)["token"]
    printed = capsys.readouterr()
    for text in (caplog.text, printed.out, printed.err):
        assert SECRET not in text
        assert token not in text
    assert str(fresh_settings.credentials_path) in caplog.text, "the log says where the credentials are"


def test_the_first_start_banner_goes_to_the_terminal(
    fresh_settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with caplog.at_level(logging.DEBUG), TestClient(create_app(fresh_settings)) as client:
        assert client.get("/readyz").status_code == 200
    token = read_credentials(fresh_settings.credentials_path)["token"]
    banner = terminal.getvalue()
    assert "username: admin" in banner
    assert token in banner
    assert SECRET not in banner, "a password from the settings is not echoed back"
    assert token not in caplog.text
