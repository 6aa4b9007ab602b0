"""PUT/GET/DELETE /deployments/{name}/monitor through HTTP on SQLite and Postgres: the monitor and
its managed schedule, the webhook secret kept but never shown nor logged, every kind of bad input
a 400 (or 422) naming the field with nothing changed, and concurrent PUTs leaving one monitor."""

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.db.tables import Monitor
from tests.conftest import serve_in_thread, user_headers
from tests.deployments.conftest import register
from tests.jobs.conftest import Platform, csv_bytes, open_platform
from tests.registry.conftest import trained_pipeline, training_frame, write_model_folder, zip_folder
from tests.retraining.conftest import API, new_name, train_and_deploy, upload_churn

SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    # The scheduler passes once at the start and then sleeps: no monitor's check fires during these tests.
    with open_platform(
        "embedded",
        backend,
        tmp_path_factory.mktemp(f"monitors-{backend}"),
        postgres_database() if backend == "postgres" else None,
        outbound_allow_hosts=["127.0.0.1"],
        scheduler_interval_seconds=3600,
    ) as opened:
        yield opened


@pytest.fixture(scope="module")
def deployment(platform: Platform) -> str:
    """A deployment of a version a train job made (shared: each test removes the monitor it sets)."""
    return train_and_deploy(platform, upload_churn(platform))[0]


@pytest.fixture
def fresh_deployment(platform: Platform) -> str:
    return train_and_deploy(platform, upload_churn(platform))[0]


def monitor_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "every": "1h",
        "window": {"hours": 24},
        "actions": {
            "alert": {"url": "http://127.0.0.1:9/hooks/shipyard", "secret": SECRET},
            "on_drift": ["alert", "retrain"],
            "retrain": {
                "data": "newest",
                "gates": ["f1>=baseline-0.05"],
                "rollout": {"strategy": "canary", "steps": [50, 100], "interval_seconds": 60},
            },
        },
    }
    body.update(changes)
    return body


def put(platform: Platform, name: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return platform.client.put(f"{API}/deployments/{name}/monitor", json=body, headers=headers or platform.headers)


def stored_secret(platform: Platform, name: str) -> str | None:
    with platform.client.app.state.sessions(write=False) as session:  # type: ignore[attr-defined]
        monitor = session.scalars(select(Monitor).where(Monitor.schedule_name.endswith(name.casefold()))).one()
        return monitor.alert_secret


def test_put_read_replace_and_delete_a_monitor_with_its_schedule(platform: Platform, fresh_deployment: str) -> None:
    name = fresh_deployment
    editor = user_headers(platform.client, platform.headers, "editor")
    viewer = user_headers(platform.client, platform.headers, "viewer")
    created = put(platform, name, monitor_body(), editor)
    assert created.status_code == 201, created.text
    monitor = created.json()
    assert (monitor["deployment"], monitor["every_seconds"], monitor["cron"]) == (name, 3600, None)
    assert monitor["window"] == {"hours": 24}
    assert monitor["actions"]["alert"] == {"url": "http://127.0.0.1:9/hooks/shipyard", "secret": "********"}
    assert monitor["actions"]["on_drift"] == ["alert", "retrain"]
    assert monitor["actions"]["retrain"]["gates"] == ["f1>=baseline-0.05"]
    schedule = monitor["schedule"]
    assert schedule["enabled"] is True
    assert schedule["next_run_at"] is not None
    assert monitor["last_report"] is None

    read = platform.client.get(f"{API}/deployments/{name}/monitor", headers=viewer)
    assert read.status_code == 200, read.text
    assert read.json() == monitor
    # The schedule is the platform's: it shows, it runs drift checks of the deployment, and it
    # holds no secret; /schedules refuses to change it.
    shown = platform.get(f"/schedules/{schedule['name']}")
    assert shown["managed_by"] == f"deployment-monitor:{name}"
    assert shown["job_type"] == "drift_check"
    assert shown["spec"] == {"deployment": name, "window": {"hours": 24}}
    refused = platform.client.patch(f"{API}/schedules/{schedule['name']}", json={"enabled": False}, headers=editor)
    assert (refused.status_code, refused.json()["code"]) == (409, "schedule_managed")

    # A PUT replaces it; the secret left out is the one set before.
    replaced = put(platform, name, monitor_body(every="2h", window={"predictions": 500}, enabled=False))
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["every_seconds"], body["window"], body["enabled"]) == (7200, {"predictions": 500}, False)
    assert body["schedule"]["enabled"] is False
    assert body["schedule"]["next_run_at"] is None
    without_secret = monitor_body()
    del without_secret["actions"]["alert"]["secret"]
    assert put(platform, name, without_secret).status_code == 200
    assert stored_secret(platform, name) == SECRET

    events = platform.get(f"/audit?resource_type=deployment&resource_id={name}&max_results=1000")["events"]
    actions = [e["action"] for e in events if e["action"].startswith("monitor.")]
    assert sorted(actions) == ["monitor.create", "monitor.update", "monitor.update"]
    for text in (json.dumps(events), read.text, json.dumps(shown), replaced.text):
        assert SECRET not in text

    deleted = platform.client.delete(f"{API}/deployments/{name}/monitor", headers=editor)
    assert deleted.status_code == 204, deleted.text
    gone = platform.client.get(f"{API}/deployments/{name}/monitor", headers=viewer)
    assert (gone.status_code, gone.json()["code"]) == (404, "monitor_not_found")
    assert platform.client.get(f"{API}/schedules/{schedule['name']}", headers=viewer).status_code == 404
    again = platform.client.delete(f"{API}/deployments/{name}/monitor", headers=editor)
    assert (again.status_code, again.json()["code"]) == (404, "monitor_not_found")


def test_bad_monitors_are_refused_naming_the_field_and_change_nothing(platform: Platform, deployment: str) -> None:
    by_hand = new_name("uploaded")
    folder = write_model_folder(platform.log_dir / by_hand, trained_pipeline())
    register(platform.client, platform.headers, by_hand, zip_folder(folder))
    hand_deployment = new_name("by-hand")
    made = platform.client.post(
        f"{API}/deployments", json={"name": hand_deployment, "model": by_hand, "version": 1}, headers=platform.headers
    )
    assert made.status_code == 201, made.text

    def refused(body: dict[str, Any], field: str | None, status: int = 400, name: str = deployment) -> dict[str, Any]:
        response = put(platform, name, body)
        assert response.status_code == status, response.text
        problem = dict(response.json())
        if field is not None:
            assert problem.get("field") == field, problem
        return problem

    def with_actions(**actions: Any) -> dict[str, Any]:
        return monitor_body(actions={**monitor_body()["actions"], **actions})

    private = refused(with_actions(alert={"url": "http://10.1.2.3/hook", "secret": SECRET}), "actions.alert.url")
    assert private["code"] == "url_refused"
    metadata = with_actions(alert={"url": "http://169.254.169.254/latest", "secret": SECRET})
    assert refused(metadata, "actions.alert.url")["code"] == "url_refused"
    # Its data, so the drift check itself has a reference (the version has no lineage).
    hand_data = new_name("by-hand-data")
    platform.upload(hand_data, csv_bytes(training_frame()[0]), expect=201)
    no_spec = refused(monitor_body(reference=f"{hand_data}@1"), "actions.retrain", name=hand_deployment)
    assert "not registered by a train job" in no_spec["detail"]
    refused(with_actions(retrain={"gates": ["f1>>0.8"]}), "actions.retrain.gates")
    refused(
        with_actions(retrain={"rollout": {"strategy": "canary", "steps": [50, 10]}}), "actions.retrain.rollout.steps"
    )
    refused(with_actions(retrain={"holdout": f"{new_name('nowhere')}@1"}), "actions.retrain.holdout")
    assert "shorter" in refused(monitor_body(every="5s"), "every")["detail"]
    refused(monitor_body(every=None), "every")
    refused(monitor_body(cron="0 * * * *"), "every")
    refused(monitor_body(every=None, cron="every tuesday"), "cron")
    refused(monitor_body(reference=f"{new_name('nowhere')}@1"), "reference")
    refused(with_actions(alert=None), "actions.alert")
    refused(with_actions(on_decay=["alert"]), "actions.on_decay")
    refused(with_actions(alert={"url": "http://127.0.0.1:9/hook"}), "actions.alert.secret")
    refused(with_actions(alert={"url": "http://127.0.0.1:9/hook", "secret": "short"}), None, 422)
    refused(with_actions(on_drift=["page_someone"]), None, 422)
    refused(monitor_body(window={}), None, 422)
    assert refused(monitor_body(), None, 404, name=new_name("missing"))["code"] == "deployment_not_found"

    assert platform.client.get(f"{API}/deployments/{deployment}/monitor", headers=platform.headers).status_code == 404
    managed = [s for s in platform.get("/schedules?max_results=1000")["schedules"] if s["managed_by"]]
    assert not [s for s in managed if s["managed_by"].endswith(f":{deployment}")]
    # A refused PUT leaves the monitor set before as it was.
    assert put(platform, deployment, monitor_body()).status_code == 201
    refused(
        monitor_body(
            every="1h", window={"hours": 2}, actions={**monitor_body()["actions"], "retrain": {"gates": ["x"]}}
        ),
        "actions.retrain.gates",
    )
    kept = platform.get(f"/deployments/{deployment}/monitor")
    assert kept["window"] == {"hours": 24}
    assert (
        platform.client.delete(f"{API}/deployments/{deployment}/monitor", headers=platform.headers).status_code == 204
    )


def test_concurrent_puts_of_one_deployment_leave_one_monitor_and_one_schedule(
    platform: Platform, fresh_deployment: str
) -> None:
    name = fresh_deployment
    bodies = [monitor_body(window={"hours": hours}) for hours in range(1, 9)]
    with serve_in_thread(platform.client.app) as url, httpx.Client(base_url=url, headers=platform.headers) as http:  # type: ignore[arg-type]

        def send(body: dict[str, Any]) -> httpx.Response:
            return http.put(f"{API}/deployments/{name}/monitor", json=body, timeout=60)

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            answers = list(pool.map(send, bodies))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * (len(bodies) - 1) + [201], [a.text for a in answers]
    final = platform.get(f"/deployments/{name}/monitor")
    assert final["window"] in [body["window"] for body in bodies]
    with platform.client.app.state.sessions(write=False) as session:  # type: ignore[attr-defined]
        assert (
            session.scalar(
                select(func.count()).select_from(Monitor).where(Monitor.schedule_name.endswith(name.casefold()))
            )
            == 1
        )
    managed = [
        s
        for s in platform.get("/schedules?max_results=1000")["schedules"]
        if s["managed_by"] == f"deployment-monitor:{name}"
    ]
    assert len(managed) == 1
    assert managed[0]["spec"]["window"] == final["window"]
