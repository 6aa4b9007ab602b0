"""`shipyard drift check --wait`, `drift reports` and `drift show` as a real subprocess against a
live server whose prediction log is flushed every fraction of a second: exit 1 when drift is
found, 0 when not, 2 when the check fails (no logged predictions)."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import shipyard
from tests.jobs.conftest import churn_frame
from tests.monitoring.conftest import FEATURES, fitted, shifted
from tests.sdk.live_server import REPO_ROOT, LiveServer, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("drift-cli") / "data"
    with running_server(data_dir, SHIPYARD_PREDICTION_LOG_FLUSH_SECONDS="0.2") as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[shipyard.Client]:
    with shipyard.Client(server.url, server.token) as client:
        yield client


@pytest.fixture(scope="module")
def model(admin: shipyard.Client) -> str:
    """A model fitted on the churn dataset, its run naming the dataset as training data."""
    name = f"drift-cli-{uuid.uuid4().hex[:8]}"
    frame = churn_frame()
    dataset = admin.log_dataset(frame, name)
    run = admin.create_run(admin.get_or_create_experiment(name).id, name="notebook")
    admin.link_dataset(run.id, dataset.reference, context="training")
    admin.log_model(
        run.id, fitted(frame[FEATURES], frame["churned"]), input_example=frame[FEATURES][:5], register_as=name
    )
    return name


def shipyard_cli(server: LiveServer, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        SHIPYARD_URL=server.url, SHIPYARD_TOKEN=server.token, HOME=str(home), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1"
    )
    return subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def deployed_with(admin: shipyard.Client, server: LiveServer, model: str, traffic: pd.DataFrame) -> str:
    """A deployment of the model that answered the traffic, once the log holds every row."""
    name = f"{model}-{uuid.uuid4().hex[:6]}"
    admin.deploy(name, model, version=1)
    for start in range(0, len(traffic), 200):
        admin.predict(name, traffic[FEATURES].iloc[start : start + 200])
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
        while True:
            logged = http.get(f"/api/v1/deployments/{name}/predictions", params={"limit": 1000}).json()
            if len(logged["predictions"]) >= len(traffic):
                return name
            assert time.monotonic() < deadline, "the rows were not flushed"
            time.sleep(0.2)


def test_check_wait_exits_1_on_drift_and_0_without(
    server: LiveServer, admin: shipyard.Client, model: str, tmp_path: Path
) -> None:
    drifting = deployed_with(admin, server, model, shifted(rows=300))
    steady = deployed_with(admin, server, model, churn_frame())

    found = shipyard_cli(server, tmp_path, "drift", "check", drifting, "--last", "300", "--wait")
    calm = shipyard_cli(server, tmp_path, "drift", "check", steady, "--hours", "1", "--wait", "--json")

    assert found.returncode == 1, f"stdout:\n{found.stdout}\nstderr:\n{found.stderr}"
    assert "tenure" in found.stdout
    assert "Drift or decay found" in found.stdout
    assert calm.returncode == 0, f"stdout:\n{calm.stdout}\nstderr:\n{calm.stderr}"
    report = json.loads(calm.stdout)
    assert report["drift_detected"] is False
    assert report["current_rows"] == 400

    listed = shipyard_cli(server, tmp_path, "drift", "reports", drifting)
    assert listed.returncode == 0, listed.stderr
    assert "tenure" in listed.stdout
    report_id = admin.list_drift_reports(drifting)[0].id
    shown = shipyard_cli(server, tmp_path, "drift", "show", str(report_id))
    assert shown.returncode == 0, shown.stderr
    assert "monthly_charges" in shown.stdout
    assert "ks" in shown.stdout
    as_json = json.loads(shipyard_cli(server, tmp_path, "drift", "show", str(report_id), "--json").stdout)
    assert as_json["id"] == report_id
    assert {c["column"] for c in as_json["body"]["columns"]} == set(FEATURES)


def test_a_check_that_fails_or_cannot_start_exits_2(
    server: LiveServer, admin: shipyard.Client, model: str, tmp_path: Path
) -> None:
    quiet = f"{model}-quiet"
    admin.deploy(quiet, model, version=1)

    failed = shipyard_cli(server, tmp_path, "drift", "check", quiet, "--wait")
    unknown = shipyard_cli(server, tmp_path, "drift", "check", "no-such-deployment", "--wait")
    both = shipyard_cli(server, tmp_path, "drift", "check", quiet, "--hours", "1", "--last", "5")

    assert failed.returncode == 2, failed
    assert "no logged predictions" in failed.stderr
    assert unknown.returncode == 2, unknown
    assert "no deployment named" in unknown.stderr
    assert both.returncode == 2
    assert "at most one" in both.stderr
