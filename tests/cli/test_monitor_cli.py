"""`shipyard retrain` and `shipyard monitor set|show|delete` as real subprocesses against a live
server: retrain --wait exits 0 once the new version is registered (and its direct rollout serves
it), 1 when a gate failed, 2 on an error; a monitor set, shown and deleted, a refused one exit 2
with the server's reason."""

import json

import pytest

import shipyard
from tests.cli.test_deploy_cli import RunCli, ok
from tests.sdk.churn import churn_frame


@pytest.fixture
def deployment(admin_client: shipyard.Client, unique_name: str) -> str:
    """A deployment of version 1 of a model that a train job trained on dataset `unique_name`@1."""
    features, label = churn_frame(rows=120, seed=4)
    admin_client.log_dataset(features.assign(churned=label), unique_name)
    spec = {"dataset": f"{unique_name}@1", "target": "churned", "estimator": "logistic_regression"}
    job = admin_client.submit_job("train", {**spec, "register_as": unique_name})
    assert admin_client.wait_for_job(job.id, timeout=60).status == "succeeded"
    admin_client.deploy(unique_name, unique_name, version=1)
    return unique_name


def test_retrain_wait_exits_0_when_registered_and_1_when_a_gate_failed(
    cli: RunCli, admin_client: shipyard.Client, deployment: str
) -> None:
    shown = ok(cli("retrain", deployment, "--strategy", "direct", "--gate", "accuracy>=baseline-0.5", "--wait"))
    assert "version 2" in shown
    assert "serves all the traffic" in shown
    assert admin_client.get_deployment(deployment).routes[0].version == 2

    failed = cli("retrain", deployment, "--gate", "accuracy>=baseline+0.5", "--canary-steps", "50,100", "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "A gate failed" in failed.stdout
    assert "Not rolled out" in failed.stdout
    assert admin_client.get_deployment(deployment).routes[0].version == 2

    submitted = json.loads(ok(cli("retrain", deployment, "--json")))
    assert submitted["type"] == "retrain"
    assert submitted["spec"]["data"] == "newest"


def test_bad_retrain_options_exit_2_with_the_reason(cli: RunCli, deployment: str) -> None:
    mixed = cli("retrain", deployment, "--strategy", "blue_green", "--canary-steps", "50,100")
    assert mixed.returncode == 2
    assert "--canary-steps is for a canary" in mixed.stderr
    lonely = cli("retrain", deployment, "--interval", "1m")
    assert lonely.returncode == 2
    assert "need --strategy" in lonely.stderr
    bad_gate = cli("retrain", deployment, "--gate", "f1>>0.8")
    assert bad_gate.returncode == 2
    assert "gate" in bad_gate.stderr
    missing = cli("retrain", f"{deployment}-nope")
    assert missing.returncode == 2
    assert "no deployment" in missing.stderr


def test_monitor_set_show_and_delete(cli: RunCli, admin_client: shipyard.Client, deployment: str) -> None:
    shown = ok(
        cli(
            "monitor",
            "set",
            deployment,
            "--every",
            "1h",
            "--window",
            "24h",
            "--on-drift",
            "retrain",
            "--gate",
            "f1>=baseline-0.05",
            "--canary-steps",
            "10,50,100",
            "--interval",
            "5m",
        )
    )
    assert f"Monitor of {deployment}" in shown
    assert "every 3600 s" in shown
    assert "on drift: retrain" in shown
    assert "canary rollout" in shown
    monitor = admin_client.get_monitor(deployment)
    assert monitor.window == {"hours": 24}
    assert monitor.retrain is not None
    assert monitor.retrain["rollout"] == {"strategy": "canary", "steps": [10, 50, 100], "interval_seconds": 300}
    assert monitor.retrain["gates"] == ["f1>=baseline-0.05"]

    by_count = json.loads(ok(cli("monitor", "set", deployment, "--cron", "0 6 * * *", "--window", "5000", "--json")))
    assert (by_count["cron"], by_count["window"], by_count["on_drift"]) == ("0 6 * * *", {"predictions": 5000}, [])
    assert "no drift report yet" in ok(cli("monitor", "show", deployment))

    # A private address (this server allows 127.0.0.1 only) is refused, naming why.
    refused = cli(
        "monitor",
        "set",
        deployment,
        "--on-drift",
        "alert",
        "--webhook",
        "http://10.20.30.40/hook",
        "--secret",
        "a-secret-of-enough-length",
    )
    assert refused.returncode == 2
    assert "10.20.30.40" in refused.stderr
    assert "private" in refused.stderr
    lonely_gate = cli("monitor", "set", deployment, "--gate", "f1>=0.8")
    assert lonely_gate.returncode == 2
    assert "--on-drift retrain" in lonely_gate.stderr
    assert admin_client.get_monitor(deployment).cron == "0 6 * * *"  # the refused ones changed nothing

    assert "Deleted" in ok(cli("monitor", "delete", deployment))
    missing = cli("monitor", "show", deployment)
    assert missing.returncode == 2
    assert "no monitor" in missing.stderr
