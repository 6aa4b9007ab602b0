"""The "resolve when" path against a live `shipyard server` process: `shipyard deploy --strategy
canary --wait` exits 1 when a failing canary rolls back by itself, 0 when a good one is promoted,
while predict traffic flows over real HTTP."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from tests.cli.test_deploy_cli import RunCli, ok
from tests.conftest import LiveServer
from tests.sdk.churn import churn_frame, fitted_pipeline

CANARY = ["--strategy", "canary", "--steps", "50,100", "--interval", "1s", "--min-requests", "5"]


@pytest.fixture
def model(admin_client: shipyard.Client, unique_name: str) -> str:
    """Version 1 and 3: pipelines that take any plan; 2: one that raises on a plan it never saw."""
    features, label = churn_frame(rows=60, seed=5)
    strict = ColumnTransformer(
        [("num", StandardScaler(), ["tenure", "monthly"]), ("cat", OneHotEncoder(handle_unknown="error"), ["plan"])]
    )
    run = admin_client.create_run(admin_client.get_or_create_experiment(unique_name).id, name="notebook")
    for estimator in (
        fitted_pipeline(features, label),
        Pipeline([("prep", strict), ("model", LogisticRegression(max_iter=500))]).fit(features, label),
        fitted_pipeline(features, label),
    ):
        admin_client.log_model(run.id, estimator, input_example=features[:5], register_as=unique_name)
    return unique_name


@contextmanager
def traffic(server: LiveServer, name: str) -> Iterator[list[int]]:
    """Predict requests in a loop (with a plan the strict version never saw) until the block ends."""
    stop = threading.Event()
    answered: list[int] = []
    row = {"tenure": 12, "monthly": 49.5, "plan": "weekly"}

    def send() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
            while not stop.is_set():
                response = http.post(f"/api/v1/deployments/{name}/predict", json={"inputs": [row]})
                assert response.status_code in (200, 422), response.text
                if response.status_code == 200:
                    answered.append(response.json()["version"])
                stop.wait(0.02)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield answered
    finally:
        stop.set()
        thread.join(timeout=10)


def test_deploy_wait_exits_1_for_a_failing_canary_and_0_for_a_good_one(
    cli: RunCli, live_server: LiveServer, admin_client: shipyard.Client, model: str
) -> None:
    assert "revision 1" in ok(cli("deploy", model, "--version", "1"))
    with traffic(live_server, model) as answered:
        bad = cli("deploy", model, "--version", "2", *CANARY, "--max-error-rate", "0.1", "--wait", "--timeout", "60s")
        assert bad.returncode == 1, f"stdout:\n{bad.stdout}\nstderr:\n{bad.stderr}"
        assert "rolled_back" in bad.stdout
        assert "error rate" in bad.stdout
        assert admin_client.get_deployment(model).routes[0].version == 1
        assert 2 not in answered  # the strict canary answered no request for a plan it never saw

        good = cli("deploy", model, "--version", "3", *CANARY, "--wait", "--timeout", "60s", "--json")
        assert good.returncode == 0, f"stdout:\n{good.stdout}\nstderr:\n{good.stderr}"
        assert 3 in answered
    finished = json.loads(good.stdout)
    assert finished["state"] == "promoted"
    assert finished["analysis"]["candidate"]["requests"] >= 5
    deployment = admin_client.get_deployment(model)
    assert [(r.version, r.weight, r.mode) for r in deployment.routes] == [(3, 100, "primary")]
    status = ok(cli("deployments", "status", model))
    assert "revision" in status
    history = ok(cli("deployments", "rollouts", model))
    assert "promoted" in history
    assert "rolled_back" in history


def test_intervals_and_steps_are_checked(cli: RunCli, model: str) -> None:
    ok(cli("deploy", model, "--version", "1"))
    for flags in (["--interval", "5 minutes"], ["--steps", "ten"], ["--interval", "0s"]):
        result = cli("deploy", model, "--version", "3", "--strategy", "canary", *flags)
        assert result.returncode == 2, result
    steps = cli("deploy", model, "--version", "3", "--strategy", "canary", "--steps", "50,10")
    assert steps.returncode == 2
    assert "steps" in steps.stderr
