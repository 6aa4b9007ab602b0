"""A newcomer's first hour: the server's first start, `shipyard login`, a taken port, `db upgrade`,
and the SDK and CLI finding the server from any directory."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from shipyard import config
from tests.sdk.live_server import ADMIN_PASSWORD, REPO_ROOT, LiveServer, running_server, server_env

Shipyard = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home for this test and its subprocesses, no SHIPYARD_* variables, and a working
    directory that is not the repository."""
    for name in [name for name in os.environ if name.startswith("SHIPYARD_")]:
        monkeypatch.delenv(name)
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


@pytest.fixture
def shipyard_cli(home: Path) -> Shipyard:
    """Run `shipyard ARGS…` from another directory with only this test's environment."""

    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shipyard.cli.main", *args],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_PROXY": "127.0.0.1", **env},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            # No controlling terminal: the hidden password prompt reads standard input.
            start_new_session=True,
        )

    return run


def test_first_start_saves_the_url_and_token_for_the_sdk_and_cli_anywhere(
    home: Path, tmp_path: Path, shipyard_cli: Shipyard
) -> None:
    data_dir = tmp_path / "server" / "data"
    data_dir.parent.mkdir()
    (data_dir.parent / "home").symlink_to(home)  # the server's HOME (see server_env) is the user's
    with running_server(data_dir) as server:
        saved = home / ".shipyard" / "credentials"
        assert saved.stat().st_mode & 0o777 == 0o600
        assert config.read_credentials(saved) == config.Credentials(url=server.url, token=server.token)
        assert f"also saved in {data_dir.parent / 'home' / '.shipyard' / 'credentials'}" in server.log_path.read_text()

        # Another directory, another port, nothing in the environment: both find the server.
        with shipyard.Client() as sdk:
            assert sdk.url == server.url
            assert sdk.whoami().username == "admin"
        listed = shipyard_cli("experiments", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert '"experiments"' in listed.stdout


def test_first_start_leaves_an_existing_credentials_file_alone_and_says_how_to_login(
    home: Path, tmp_path: Path
) -> None:
    saved = home / ".shipyard" / "credentials"
    saved.parent.mkdir()
    saved.write_text("[default]\nurl = https://shipyard.example.com\ntoken = shp_mine\n")
    data_dir = tmp_path / "server" / "data"
    data_dir.parent.mkdir()
    (data_dir.parent / "home").symlink_to(home)
    with running_server(data_dir) as server:
        log = server.log_path.read_text()
    assert saved.read_text() == "[default]\nurl = https://shipyard.example.com\ntoken = shp_mine\n"
    assert f"was left as it is; `shipyard login {server.url}` points the SDK and CLI at this server" in log


def test_login_with_a_password_prompt_saves_url_and_token(
    live_server: LiveServer, home: Path, shipyard_cli: Shipyard
) -> None:
    result = shipyard_cli("login", live_server.url, stdin=f"admin\n{ADMIN_PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    saved = home / ".shipyard" / "credentials"
    assert f"Logged in to {live_server.url} as admin (admin)" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    assert saved.stat().st_mode & 0o777 == 0o600
    stored = config.read_credentials(saved)
    assert stored.url == live_server.url
    with shipyard.Client() as sdk:
        assert (sdk.url, sdk.whoami().username) == (live_server.url, "admin")
    listed = shipyard_cli("experiments", "list")
    assert listed.returncode == 0, listed.stderr


def test_login_with_a_wrong_password_says_so_and_saves_nothing(
    live_server: LiveServer, home: Path, shipyard_cli: Shipyard
) -> None:
    result = shipyard_cli("login", live_server.url, "--username", "admin", "--password-stdin", stdin="wrong-one\n")
    assert result.returncode == 2
    assert result.stderr.strip() == "wrong username or password"
    assert not (home / ".shipyard" / "credentials").exists()


def test_login_with_a_token_checks_it_before_saving(
    live_server: LiveServer, home: Path, shipyard_cli: Shipyard
) -> None:
    refused = shipyard_cli("login", live_server.url, "--token", "shp_not_a_real_token")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"{live_server.url}/api/v1/auth/whoami said 401 (the token is not valid): the token given was refused"
    )
    assert not (home / ".shipyard" / "credentials").exists()

    accepted = shipyard_cli("login", live_server.url, "--token", live_server.token)
    assert accepted.returncode == 0, accepted.stderr
    assert config.read_credentials(home / ".shipyard" / "credentials") == config.Credentials(
        url=live_server.url, token=live_server.token
    )


def test_the_cli_without_a_token_says_where_it_looked(
    live_server: LiveServer, home: Path, shipyard_cli: Shipyard
) -> None:
    result = shipyard_cli("experiments", "list", SHIPYARD_URL=live_server.url)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{live_server.url}/api/v1/experiments said 401: no token found (looked in SHIPYARD_TOKEN, "
        f"{home / '.shipyard' / 'credentials'}, shipyard-data/credentials); run `shipyard login` or set SHIPYARD_TOKEN"
    )


def test_a_port_in_use_stops_the_server_before_it_creates_anything(live_server: LiveServer, tmp_path: Path) -> None:
    port = live_server.url.rsplit(":", 1)[1]
    data_dir = tmp_path / "second"
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "server", "--port", port, "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"shipyard server: port {port} on 127.0.0.1 is already in use (another server?); "
        "start on a free one with --port N or SHIPYARD_PORT=N"
    ]
    assert not data_dir.exists(), "no database, no admin and no credentials before the port is ours"
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_db_upgrade_names_the_database_and_what_it_applied(
    backend: str, tmp_path: Path, postgres_database: Callable[[], str], shipyard_cli: Shipyard
) -> None:
    env = {"SHIPYARD_DATA_DIR": str(tmp_path / "data")}
    if backend == "postgres":
        env["SHIPYARD_DATABASE_URL"] = postgres_database()
        database = env["SHIPYARD_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://")
    else:
        database = f"sqlite:///{(tmp_path / 'data' / 'shipyard.db').resolve()}"
    first = shipyard_cli("db", "upgrade", **env)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith(f"{database}: upgraded from revision base (empty) to ")
    assert lines[1] == "  0001 core platform and tracking"
    assert len(lines) == 1 + len(list((REPO_ROOT / "migrations" / "versions").glob("0*.py")))
    head = lines[0].rsplit(" ", 2)[1].rstrip(";")

    again = shipyard_cli("db", "upgrade", **env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{database}: already at revision {head}; nothing to apply."


def test_the_cli_prints_the_one_sentence_of_a_malformed_id(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = cli("runs", "show", "not-a-run")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "path parameter `run_id` must be an id of 32 lowercase hex characters, as the server gave it; got 'not-a-run'"
    )


def test_the_cli_prints_the_one_sentence_of_a_spec_typo(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("dataset: churn@latest\ntarget: churned\nestimator: random_forest\nparms: {n_estimators: 10}\n")
    result = cli("train", str(spec))
    assert result.returncode == 2
    assert result.stderr.strip() == "field `parms` is not a known field; did you mean `params`?"
