"""The whole loop with no one calling anything after the monitor is set: a model trained by a train
job is deployed and gets shifted traffic with feedback; its monitor's schedule fires a drift
check, whose report finds the drift; the alert reaches a webhook receiver on 127.0.0.1 (its
signature checked with the SDK); the retrain job registers a new version on the reference rows
plus the labelled production rows, passes its gate against the serving version, and starts a
canary, whose analysis promotes it. Once in the embedded mode (SQLite, jobs and the scheduler in
the server), once in production (Postgres, a real Celery worker and a real `shipyard beat`)."""

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

import shipyard
from tests.conftest import serve_in_thread
from tests.jobs.conftest import ROOT, Platform, Worker, open_platform, worker_env
from tests.retraining.conftest import API, traffic, train_and_deploy, upload_churn
from tests.webhooks.receivers import receiver

pytestmark = [pytest.mark.slow]
SECRET = "the-loop-webhook-secret"
# Short enough that the loop closes within a minute: the shortest schedule interval, quick
# flushes of the prediction log, a canary of two one-second steps.
FAST: dict[str, Any] = {
    "outbound_allow_hosts": ["127.0.0.1"],
    "scheduler_interval_seconds": 0.5,
    "prediction_log_flush_seconds": 0.5,
    "serving_poll_seconds": 0.5,
    "webhook_backoff_seconds": 0,
}
# The same for a worker or beat process, as environment variables.
FAST_ENV = {**FAST, "outbound_allow_hosts": json.dumps(FAST["outbound_allow_hosts"])}
LOOP_TIMEOUT = 120


def wait_for(check: Callable[[], Any], what: str, describe: Callable[[], str], timeout: float = LOOP_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s:\n{describe()}", pytrace=False)
        time.sleep(0.3)
    return found


@contextmanager
def customers(platform: Platform, deployment: str) -> Iterator[list[int]]:
    """Shifted customers predicted over real HTTP, a few at a time until the block ends, each
    followed by its true outcome as feedback; the versions that answered."""
    stop = threading.Event()
    answered: list[int] = []
    inputs, labels = traffic(400, seed=31, shifted=True)

    def send(url: str) -> None:
        with httpx.Client(base_url=url, headers=platform.headers, timeout=30) as http:
            position = 0
            while not stop.is_set():
                rows = slice(position % 400, position % 400 + 4)
                position += 4
                response = http.post(f"{API}/deployments/{deployment}/predict", json={"inputs": inputs[rows]})
                if response.status_code != 200:
                    continue  # a route change in flight; the next request goes on
                answer = response.json()
                answered.append(answer["version"])
                feedback = [
                    {"prediction_id": pid, "actual": label}
                    for pid, label in zip(answer["prediction_ids"], labels[rows], strict=True)
                ]
                http.post(f"{API}/deployments/{deployment}/feedback", json={"feedback": feedback})
                stop.wait(0.05)

    with serve_in_thread(platform.client.app) as url:  # type: ignore[arg-type]
        thread = threading.Thread(target=send, args=(url,), daemon=True)
        thread.start()
        try:
            yield answered
        finally:
            stop.set()
            thread.join(timeout=30)


def close_the_loop(platform: Platform, describe: Callable[[], str]) -> None:
    deployment, model, _ = train_and_deploy(platform, upload_churn(platform))
    with receiver() as hook, customers(platform, deployment) as answered:
        wait_for(lambda: len(answered) >= 40, "no traffic answered", describe, timeout=60)
        monitor = {
            "every": "10s",
            "window": {"hours": 1},
            "actions": {
                "alert": {"url": f"{hook.url}/shipyard", "secret": SECRET},
                "on_drift": ["alert", "retrain"],
                "retrain": {
                    "data": "reference_plus_feedback",
                    "gates": ["accuracy>=baseline-0.1"],
                    "rollout": {"strategy": "canary", "steps": [50, 100], "interval_seconds": 1, "min_requests": 5},
                },
            },
        }
        response = platform.client.put(
            f"{API}/deployments/{deployment}/monitor", json=monitor, headers=platform.headers
        )
        assert response.status_code == 201, response.text

        # From here on, only reads: the schedule, the check, the alert, the retrain and its canary run by themselves.
        def first_report() -> dict[str, Any] | None:
            """The oldest report whose actions are all taken (the alert sent, the retrain decided)."""
            reports = platform.get(f"/deployments/{deployment}/drift-reports?max_results=1000")["reports"]
            acted = [
                r
                for r in reports
                if {a["action"] for a in r["actions"]} == {"alert", "retrain"}
                and all(a["status"] != "sending" for a in r["actions"])
            ]
            return acted[-1] if acted else None

        report = wait_for(first_report, "no drift report acted on", describe)
        assert report["drift_detected"] is True
        assert "tenure" in report["drifted_columns"]
        actions = {a["action"]: a for a in report["actions"]}
        assert actions["alert"]["status"] == "delivered", report
        assert actions["retrain"]["status"] == "submitted", report
        check_job = platform.job(report["job_id"])
        assert check_job["created_by"] == "admin"
        assert check_job["spec"]["window"] == {"hours": 1}

        alert = next(r for r in hook.received if r.headers["X-Shipyard-Delivery"] == actions["alert"]["delivery_id"])
        assert alert.headers["X-Shipyard-Event"] == "drift.detected"
        assert shipyard.webhooks.verify_signature(SECRET, alert.body, alert.headers["X-Shipyard-Signature"])
        data = json.loads(alert.body)["data"]
        assert (data["deployment"], data["report_id"]) == (deployment, report["id"])
        assert data["report_url"].endswith(f"/drift-reports/{report['id']}")

        retrain = platform.wait(actions["retrain"]["job_id"], timeout=LOOP_TIMEOUT)
        assert retrain["status"] == "succeeded", describe()
        result = retrain["result"]
        assert result["model"] == {"name": model, "version": 2, "status": "READY"}
        assert result["gate"]["passed"] is True, result["gate"]
        assert result["data"] == "reference_plus_feedback"
        lineage = platform.get(f"/models/{model}/versions/2/lineage")
        [trained_on] = lineage["datasets"]
        assert trained_on["version"] == 2  # the reference plus the labelled production rows
        assert result["rollout_id"] is not None, result

        def finished_rollout() -> dict[str, Any] | None:
            rollouts = platform.get(f"/deployments/{deployment}/rollouts")["rollouts"]
            found = next(r for r in rollouts if r["id"] == result["rollout_id"])
            return found if found["state"] != "progressing" else None

        rollout = wait_for(finished_rollout, "the canary did not finish", describe)
        assert rollout["state"] == "promoted", rollout
        assert rollout["candidate_version"] == 2
        routes = platform.get(f"/deployments/{deployment}")["routes"]
        assert [(r["version"], r["weight"]) for r in routes] == [(2, 100)]
        wait_for(lambda: answered[-1] == 2, "version 2 did not answer", describe, timeout=30)
        shown = platform.get(f"/deployments/{deployment}/monitor")
        assert shown["schedule"]["last_run_at"] is not None
        assert SECRET not in json.dumps(shown)
    deleted = platform.client.delete(f"{API}/deployments/{deployment}/monitor", headers=platform.headers)
    assert deleted.status_code == 204, deleted.text


def test_the_loop_closes_by_itself_in_the_embedded_mode(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("loop-embedded")
    with open_platform("embedded", "sqlite", data_dir, None, **FAST) as platform:
        assert platform.client.app.state.scheduler is not None  # type: ignore[attr-defined]
        close_the_loop(platform, lambda: describe(platform))


def start_beat(platform: Platform) -> Worker:
    """A real `shipyard beat`, stopped with the platform."""
    log_path = platform.log_dir / f"beat-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.cli.main", "beat"],
            cwd=ROOT,
            env=worker_env(platform.settings, **FAST_ENV),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    beat = Worker(name=log_path.stem, process=process, log_path=log_path)
    platform.workers.append(beat)
    return beat


@pytest.mark.redis
@pytest.mark.postgres
def test_the_loop_closes_by_itself_with_a_celery_worker_and_beat(
    tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> None:
    data_dir = tmp_path_factory.mktemp("loop-production")
    with open_platform(
        "celery", "postgres", data_dir, postgres_database(), start_default_worker=False, **FAST
    ) as platform:
        assert platform.client.app.state.scheduler is None  # type: ignore[attr-defined]
        # Two pool processes: the canary's analysis holds one while drift checks go on in the other.
        platform.start_worker(concurrency=2, **FAST_ENV)
        beat = start_beat(platform)
        close_the_loop(platform, lambda: describe(platform))
        assert "Sending due task fire-schedules" in beat.log(200_000)
        assert "Task jobs.run" in platform.workers[0].log(200_000)


def describe(platform: Platform) -> str:
    jobs = platform.get("/jobs?max_results=50")["jobs"]
    lines = [f"{j['type']} {j['id']} {j['status']}: {j['error'] or j['message']}" for j in jobs]
    for process in platform.workers:
        lines.append(f"--- {process.name} (alive={process.alive()}) ---\n{process.log(3000)}")
    return "\n".join(lines)
