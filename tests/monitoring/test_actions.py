"""What a monitor does about a drift check's report, through HTTP on SQLite and Postgres with a
real webhook receiver on 127.0.0.1: drift posts a signed drift.detected alert and submits one
retrain; a retrain is skipped, and why recorded, while a rollout is in progress; a report taken
again (a retried attempt) takes no action twice; a failing receiver is a recorded failed delivery
and the check still succeeds; decay alerts decay.detected; no drift, no action."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import shipyard
from app.auth.security import Role
from app.context import Principal
from app.jobs.context import JobContext
from app.monitoring import actions
from tests.jobs.conftest import Platform, open_platform
from tests.monitoring.conftest import flipped
from tests.monitoring.conftest import send_feedback as send_feedback_items
from tests.retraining.conftest import API, flush_log, predict, traffic, train_and_deploy, upload_churn
from tests.webhooks.receivers import Receiver, receiver, status

SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    # Drift checks are submitted by hand here (the schedule firing is the end-to-end test's).
    with open_platform(
        "embedded",
        backend,
        tmp_path_factory.mktemp(f"monitor-actions-{backend}"),
        postgres_database() if backend == "postgres" else None,
        outbound_allow_hosts=["127.0.0.1"],
        scheduler_interval_seconds=3600,
        webhook_attempts=2,
        webhook_backoff_seconds=0,
        webhook_timeout_seconds=5,
    ) as opened:
        yield opened


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def set_monitor(platform: Platform, deployment: str, url: str, **actions_fields: Any) -> dict[str, Any]:
    body = {
        "every": "1h",
        "window": {"hours": 1},
        "actions": {"alert": {"url": f"{url}/hooks/shipyard", "secret": SECRET}, **actions_fields},
    }
    response = platform.client.put(f"{API}/deployments/{deployment}/monitor", json=body, headers=platform.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def drift_check(platform: Platform, deployment: str, **fields: Any) -> dict[str, Any]:
    job = platform.submit("drift_check", {"deployment": deployment, "window": {"hours": 1}, **fields})
    return platform.succeeded(job["id"], timeout=120)


def by_action(taken: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["action"], a["event"]): a for a in taken}


def test_drift_alerts_once_signed_and_retrains_once_per_report(platform: Platform, hook: Receiver) -> None:
    deployment, model, _ = train_and_deploy(platform, upload_churn(platform))
    set_monitor(platform, deployment, hook.url, on_drift=["alert", "retrain"], retrain={"data": "newest"})
    predict(platform, deployment, traffic(300, seed=11, shifted=True)[0])
    flush_log(platform)

    job = drift_check(platform, deployment)
    result = job["result"]
    assert result["drift_detected"] is True
    taken = by_action(result["actions"])
    assert set(taken) == {("alert", "drift.detected"), ("retrain", "drift.detected")}
    alert, retrain = taken["alert", "drift.detected"], taken["retrain", "drift.detected"]
    assert (alert["status"], retrain["status"]) == ("delivered", "submitted")
    report = platform.get(f"/drift-reports/{result['report_id']}")
    assert by_action(report["actions"]) == taken

    [received] = hook.received
    assert received.headers["X-Shipyard-Event"] == "drift.detected"
    assert received.headers["X-Shipyard-Delivery"] == alert["delivery_id"]
    assert shipyard.webhooks.verify_signature(SECRET, received.body, received.headers["X-Shipyard-Signature"])
    assert not shipyard.webhooks.verify_signature(
        "another-secret-entirely", received.body, received.headers["X-Shipyard-Signature"]
    )
    data = json.loads(received.body)["data"]
    assert data["deployment"] == deployment
    assert data["report_id"] == result["report_id"]
    assert data["report_url"] == f"/api/v1/drift-reports/{result['report_id']}"
    assert data["drifted_columns"] == result["drifted_columns"]
    assert "tenure" in data["drifted_columns"]
    assert data["drifted_share"] == pytest.approx(result["drifted_share"])
    delivery = platform.get(f"/webhook-deliveries/{alert['delivery_id']}")
    assert delivery["status"] == "delivered"
    assert SECRET not in json.dumps(delivery)

    retrained = platform.succeeded(retrain["job_id"])
    assert retrained["result"]["model"] == {"name": model, "version": 2, "status": "READY"}
    assert f"drift report {result['report_id']}" in retrained["spec"]["reason"]

    # The same report taken again, as a retried attempt of its job would: nothing happens twice.
    runtime = platform.client.app.state.job_runtime  # type: ignore[attr-defined]
    again = actions.carry_out(runtime, job_context(job), result["report_id"])
    assert by_action(again) == taken
    assert len(hook.received) == 1
    retrains = platform.get("/jobs?type=retrain&max_results=1000")["jobs"]
    assert [j["id"] for j in retrains if j["spec"]["deployment"] == deployment] == [retrain["job_id"]]


def job_context(job: dict[str, Any]) -> JobContext:
    return JobContext(
        job_id=job["id"],
        job_type=job["type"],
        spec=job["spec"],
        attempt=2,
        token=0,
        actor=Principal(user_id=None, username=job["created_by"], role=Role.admin),
        _report=lambda fraction, message, log: False,
    )


def test_a_retrain_is_skipped_while_a_rollout_is_in_progress(platform: Platform, hook: Receiver) -> None:
    deployment, model, _ = train_and_deploy(platform, upload_churn(platform))
    platform.succeeded(platform.submit("retrain", {"deployment": deployment})["id"])
    started = platform.client.post(
        f"{API}/deployments/{deployment}/rollouts",
        json={"strategy": "ab", "version": 2, "weight": 10},
        headers=platform.headers,
    )
    assert started.status_code == 201, started.text
    set_monitor(platform, deployment, hook.url, on_drift=["retrain"])
    predict(platform, deployment, traffic(300, seed=12, shifted=True)[0])
    flush_log(platform)

    result = drift_check(platform, deployment)["result"]
    [skipped] = result["actions"]
    assert (skipped["action"], skipped["status"], skipped["job_id"]) == ("retrain", "skipped", None)
    assert "rollout" in skipped["detail"]
    assert "in progress" in skipped["detail"]
    assert hook.received == []  # alert is not among its actions
    aborted = platform.client.post(f"{API}/deployments/{deployment}/rollouts/abort", headers=platform.headers)
    assert aborted.status_code == 200, aborted.text
    assert [v["version"] for v in platform.get(f"/models/{model}/versions")["versions"]] == [2, 1]


def test_a_failing_receiver_is_a_recorded_failed_delivery_and_the_check_succeeds(
    platform: Platform, hook: Receiver
) -> None:
    deployment, _, _ = train_and_deploy(platform, upload_churn(platform))
    hook.otherwise = status(500, b"down for maintenance")
    set_monitor(platform, deployment, hook.url, on_drift=["alert"])
    predict(platform, deployment, traffic(300, seed=13, shifted=True)[0])
    flush_log(platform)

    result = drift_check(platform, deployment)["result"]
    [alert] = result["actions"]
    assert (alert["action"], alert["status"]) == ("alert", "failed")
    assert "500" in alert["detail"]
    assert len(hook.received) == 2  # webhook_attempts
    delivery = platform.get(f"/webhook-deliveries/{alert['delivery_id']}")
    assert (delivery["status"], delivery["attempt_count"]) == ("failed", 2)


def test_decay_alerts_decay_detected_and_no_drift_takes_no_action(platform: Platform, hook: Receiver) -> None:
    deployment, _, _ = train_and_deploy(platform, upload_churn(platform))
    body = {
        "every": "1h",
        "window": {"hours": 1},
        "performance": {"metric": "accuracy", "threshold": 0.6, "min_labelled": 20},
        "actions": {
            "alert": {"url": f"{hook.url}/hooks", "secret": SECRET},
            "on_drift": ["alert"],
            "on_decay": ["alert"],
        },
    }
    response = platform.client.put(f"{API}/deployments/{deployment}/monitor", json=body, headers=platform.headers)
    assert response.status_code == 201, response.text
    inputs, _ = traffic(200, seed=7)  # the training data's own rows: no drift
    answer = predict(platform, deployment, inputs)
    flush_log(platform)

    calm = drift_check(platform, deployment, performance=body["performance"])["result"]
    assert (calm["drift_detected"], calm["actions"]) == (False, [])
    assert hook.received == []

    answered = list(zip(answer["prediction_ids"], answer["predictions"], strict=True))
    send_feedback_items(platform, deployment, flipped(answered, share=1.0))
    decayed = drift_check(platform, deployment, performance=body["performance"])["result"]
    assert decayed["decay_detected"] is True
    assert [(a["action"], a["event"], a["status"]) for a in decayed["actions"]] == [
        ("alert", "decay.detected", "delivered")
    ]
    assert [r.headers["X-Shipyard-Event"] for r in hook.received] == ["decay.detected"]
