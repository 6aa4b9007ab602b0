"""The `shipyard` command run as a real subprocess against a live server."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from shipyard import errors
from tests.sdk.live_server import REPO_ROOT, LiveServer

MISSING_RUN = "0" * 32
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_users_and_tokens_lifecycle(cli: RunCli, live_server: LiveServer, unique_name: str) -> None:
    created = ok(cli("users", "create", unique_name, "--role", "editor"))
    assert unique_name in created
    password = created.strip().splitlines()[-1]
    assert len(password) >= 8
    with shipyard.Client(live_server.url, anonymous=True) as anonymous:
        login = anonymous.create_token(unique_name, name="login", password=password)
    assert login.token is not None

    mint = ["--user", unique_name, "--name", "ci", "--expires-days", "7", "--json"]
    minted = json.loads(ok(cli("tokens", "create", *mint)))
    assert minted["username"] == unique_name
    assert minted["name"] == "ci"
    assert minted["expires_at"] is not None
    with shipyard.Client(live_server.url, minted["token"]) as as_user:
        me = as_user.whoami()
    assert (me.username, me.role) == (unique_name, "editor")

    table = ok(cli("tokens", "list", "--user", unique_name))
    assert "ci" in table
    assert minted["prefix"] in table
    listed = json.loads(ok(cli("tokens", "list", "--user", unique_name, "--json")))["tokens"]
    assert {token["name"] for token in listed} == {"login", "ci"}
    assert all("token" not in token for token in listed), "secrets are never listed"

    ok(cli("tokens", "revoke", str(minted["id"])))
    with shipyard.Client(live_server.url, minted["token"]) as as_user, pytest.raises(errors.Unauthenticated):
        as_user.whoami()
    revoked = json.loads(ok(cli("tokens", "list", "--user", unique_name, "--json")))["tokens"]
    assert next(t for t in revoked if t["id"] == minted["id"])["revoked_at"] is not None


def test_plain_token_create_prints_the_secret_last(cli: RunCli, live_server: LiveServer, unique_name: str) -> None:
    ok(cli("users", "create", unique_name, "--role", "viewer", "--password", "a-long-password"))
    secret = ok(cli("tokens", "create", "--user", unique_name)).strip().splitlines()[-1]
    with shipyard.Client(live_server.url, secret) as as_user:
        assert as_user.whoami().role == "viewer"


def test_experiments_list(cli: RunCli, admin_client: shipyard.Client, unique_name: str) -> None:
    experiment = admin_client.create_experiment(unique_name, description="from the CLI tests")

    assert unique_name in ok(cli("experiments", "list"))
    listed = json.loads(ok(cli("experiments", "list", "--json")))["experiments"]
    found = next(e for e in listed if e["name"] == unique_name)
    assert found["id"] == experiment.id
    assert found["description"] == "from the CLI tests"
    assert found["lifecycle_stage"] == "active"

    admin_client.archive_experiment(experiment.id)
    assert unique_name not in ok(cli("experiments", "list"))
    assert unique_name in ok(cli("experiments", "list", "--all"))


@pytest.fixture
def logged_runs(admin_client: shipyard.Client, unique_name: str) -> list[shipyard.Run]:
    experiment = admin_client.create_experiment(unique_name)
    runs = []
    for name, acc in [("low", 0.61), ("high", 0.93), ("mid", 0.78)]:
        run = admin_client.create_run(experiment.id, name=f"{unique_name}-{name}", tags={"team": "risk"})
        admin_client.log_batch(
            run.id, metrics=[shipyard.Metric("acc", acc, step=1)], params={"model": "rf", "depth": 4}
        )
        runs.append(admin_client.update_run(run.id, status="FINISHED"))
    return runs


def test_runs_list(cli: RunCli, logged_runs: list[shipyard.Run], unique_name: str) -> None:
    table = ok(cli("runs", "list", "--experiment", unique_name))
    for run in logged_runs:
        assert run.id in table
        assert run.name in table
    assert unique_name in table
    assert "FINISHED" in table

    search = ["-e", unique_name, "--filter", "metrics.acc > 0.7", "--order-by", "metrics.acc DESC"]
    ordered = json.loads(ok(cli("runs", "list", *search, "--json")))
    assert [run["name"] for run in ordered["runs"]] == [f"{unique_name}-high", f"{unique_name}-mid"]
    first = ordered["runs"][0]
    assert {"id", "experiment_id", "status", "start_time", "end_time", "params", "metrics", "tags"} <= first.keys()
    assert first["metrics"] == {"acc": 0.93}
    assert first["params"] == {"model": "rf", "depth": "4"}
    assert ordered["next_page_token"] is None

    limited = json.loads(ok(cli("runs", "list", "-e", unique_name, "--max-results", "2", "--json")))
    assert len(limited["runs"]) == 2
    assert limited["next_page_token"] is not None


def test_runs_show(cli: RunCli, logged_runs: list[shipyard.Run], unique_name: str) -> None:
    run = logged_runs[1]
    shown = ok(cli("runs", "show", run.id))
    for text in (run.id, run.name, unique_name, "FINISHED", "model", "rf", "depth", "acc", "0.93", "team", "risk"):
        assert text in shown

    data = json.loads(ok(cli("runs", "show", run.id, "--json")))
    assert data["id"] == run.id
    assert data["status"] == "FINISHED"
    assert data["params"] == {"model": "rf", "depth": "4"}
    assert data["metrics"] == {"acc": 0.93}
    assert data["tags"] == {"team": "risk"}


def test_unknown_run_exits_2_with_the_detail(cli: RunCli, admin_client: shipyard.Client) -> None:
    with pytest.raises(errors.RunNotFound) as missing:
        admin_client.get_run(MISSING_RUN)

    result = cli("runs", "show", MISSING_RUN)
    assert result.returncode == 2
    assert missing.value.detail in result.stderr
    assert result.stdout == ""


def test_unknown_experiment_exits_2(cli: RunCli, unique_name: str) -> None:
    result = cli("runs", "list", "--experiment", f"{unique_name}-missing")
    assert result.returncode == 2
    assert f"{unique_name}-missing" in result.stderr


def test_bad_filter_exits_2_with_the_position(cli: RunCli) -> None:
    result = cli("runs", "list", "--filter", "metrics.acc >> 1")
    assert result.returncode == 2
    assert "position" in result.stderr


def test_global_options_override_the_environment(cli: RunCli, live_server: LiveServer) -> None:
    refused = cli("experiments", "list", token="shp_not-a-real-token")
    assert refused.returncode == 2
    assert refused.stderr.strip()

    accepted = cli("--token", live_server.token, "experiments", "list", token="shp_not-a-real-token")
    ok(accepted)
    ok(cli("--url", live_server.url, "experiments", "list", url="http://127.0.0.1:9"))


def test_unreachable_server_exits_2(cli: RunCli) -> None:
    result = cli("experiments", "list", url="http://127.0.0.1:9")
    assert result.returncode == 2
    assert "cannot reach" in result.stderr


def test_client_commands_do_not_import_the_server() -> None:
    # The launcher (and with it app and workers) loads only for server, db and worker.
    code = "import sys, shipyard.cli.main; print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'workers'}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_DATA_DIR=str(data_dir), SHIPYARD_LOG_JSON="false", SHIPYARD_LOG_LEVEL="WARNING")
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "db", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (data_dir / "shipyard.db").is_file()


def test_launcher_help_is_the_real_commands(cli: RunCli) -> None:
    top = ok(cli("--help"))
    for command in ("server", "db", "worker", "users", "tokens", "experiments", "runs"):
        assert command in top
    assert "--data-dir" in ok(cli("server", "--help"))
