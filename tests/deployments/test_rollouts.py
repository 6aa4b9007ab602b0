"""Canary, blue-green and A/B rollouts through HTTP on SQLite and Postgres, with their analysis
running as a job on the in-process runner: a failing canary rolls back by itself, a healthy one
is promoted, too little traffic waits and then fails, manual promote/rollback/abort mid-way, and
two concurrent rollouts of one deployment (one wins, the other is a 409)."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.rollouts import service as rollout_service
from app.settings import Settings
from tests.conftest import app_with_admin, serve_in_thread, user_headers
from tests.deployments.conftest import deploy, new_name, register, rows
from tests.registry.conftest import trained_pipeline, training_frame, write_model_folder, zip_folder

API = "/api/v1"
FINISHED = {"promoted", "rolled_back", "aborted", "failed"}


# An app and database of this module's own: analysis jobs hold a job thread for a rollout's
# length, so they must not queue behind (or ahead of) the slow jobs of other test modules.
@pytest.fixture(scope="module")
def settings(backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp(f"rollouts-{backend}"),
        database_url=postgres_database() if backend == "postgres" else None,
        admin_password="admin-password-for-tests",
        max_upload_bytes=20 * 1024 * 1024,
        log_json=False,
        job_threads=4,
        # Logged predictions reach the store quickly, for the live metric's analysis.
        prediction_log_flush_seconds=0.3,
    )


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with app_with_admin(settings) as http:
        yield http


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    return {"Authorization": client.headers["Authorization"]}


@pytest.fixture(scope="module")
def editor(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return user_headers(client, admin, "editor")


@pytest.fixture
def model(client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes]) -> str:
    """Version 1: a random forest that takes any plan; 2: the same; 3: a pipeline that raises on
    a plan it never saw."""
    name = new_name("model")
    register(client, admin, name, model_zips["forest"])
    register(client, admin, name, model_zips["forest"])
    register(client, admin, name, model_zips["strict"])
    return name


def start(client: TestClient, headers: dict[str, str], name: str, **body: Any) -> httpx.Response:
    return client.post(f"{API}/deployments/{name}/rollouts", json=body, headers=headers)


def read(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = client.get(f"{API}/deployments/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def latest_rollout(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = client.get(f"{API}/deployments/{name}/rollouts", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["rollouts"][0])


def drive(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    payload: Callable[[int], list[dict[str, Any]]],
    timeout: float = 45,
) -> tuple[dict[str, Any], list[int]]:
    """Send predict traffic until the rollout leaves `progressing`; (the rollout, versions that answered)."""
    answered: list[int] = []
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        response = client.post(f"{API}/deployments/{name}/predict", json={"inputs": payload(i)}, headers=headers)
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            answered.append(response.json()["version"])
        i += 1
        if i % 10 == 0:
            rollout = latest_rollout(client, headers, name)
            if rollout["state"] in FINISHED:
                return rollout, answered
        time.sleep(0.01)
    pytest.fail(f"rollout still in progress after {timeout} s: {latest_rollout(client, headers, name)}")


def unknown_plan(i: int) -> list[dict[str, Any]]:
    """Rows the strict version raises on (a plan it never saw), and the forest answers."""
    return [{"age": 30.0 + i % 20, "plan": "enterprise"}]


def primary_only(deployment: dict[str, Any], model: str, version: int) -> None:
    assert deployment["routes"] == [{"model": model, "version": version, "weight": 100, "mode": "primary"}]


def test_a_failing_canary_rolls_back_by_itself(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(
        client, editor, name, strategy="canary", version=3, steps=[50, 100], interval_seconds=1, min_requests=5
    )
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["state"] == "rolling_out"
    assert started["rollout"]["state"] == "progressing"
    assert (started["rollout"]["step"], started["rollout"]["weight"]) == (1, 50)
    assert started["rollout"]["job_id"]
    assert {(r["version"], r["weight"], r["mode"]) for r in started["routes"]} == {
        (1, 50, "primary"),
        (3, 50, "canary"),
    }

    rollout, _ = drive(client, editor, name, unknown_plan)
    assert rollout["state"] == "rolled_back", rollout
    assert "error rate" in rollout["reason"]
    assert rollout["analysis"]["candidate"]["errors"] >= 1
    after = read(client, editor, name)
    primary_only(after, model, 1)
    assert after["rollout"] is None
    assert after["state"] == "serving"
    # Its traffic is back with the primary: once this process's poller has the change (within
    # about a second), every answer comes from version 1.
    settle(client, editor, name, 1)
    for _ in range(10):
        answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": unknown_plan(0)}, headers=editor)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1
    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    assert revisions[0]["reason"].startswith("rollout rolled_back")
    job = client.get(f"{API}/jobs/{rollout['job_id']}", headers=editor).json()
    assert job["type"] == "rollout_analysis"
    _wait_job(client, editor, rollout["job_id"])


def settle(client: TestClient, headers: dict[str, str], name: str, version: int) -> None:
    """Wait until this process serves `version` only. Twenty answers in a row: five could all come
    from one side of a 50/50 split by chance (one time in 32) before the poller has the change."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answers = [
            client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(1)}, headers=headers)
            for _ in range(20)
        ]
        if all(a.status_code == 200 and a.json()["version"] == version for a in answers):
            return
        time.sleep(0.2)
    pytest.fail(f"deployment {name} does not answer with version {version} only")


def _wait_job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job = dict(client.get(f"{API}/jobs/{job_id}", headers=headers).json())
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not finish")


def test_a_healthy_canary_is_promoted_step_by_step(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(
        client, editor, name, strategy="canary", version=2, steps=[30, 100], interval_seconds=1, min_requests=3
    )
    assert response.status_code == 201, response.text
    rollout, answered = drive(client, editor, name, lambda i: rows(1))
    assert rollout["state"] == "promoted", rollout
    assert rollout["step"] == 2
    assert {1, 2} <= set(answered)
    primary_only(read(client, editor, name), model, 2)
    job = _wait_job(client, editor, rollout["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["state"] == "promoted"
    revisions = client.get(f"{API}/deployments/{name}/revisions", headers=editor).json()["revisions"]
    # create, step 1 (30%), step 2 (100%), promote: each a revision.
    assert [r["revision"] for r in revisions] == [4, 3, 2, 1]
    assert [r["strategy"] for r in revisions[:3]] == ["canary"] * 3
    events = client.get(f"{API}/audit-events", params={"resource_id": name}, headers=admin)
    if events.status_code == 200:
        actions = [e["action"] for e in events.json().get("events", [])]
        assert {"deployment.rollout", "deployment.rollout_step", "deployment.promote"} <= set(actions)


def test_too_few_requests_waits_then_fails(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(
        client,
        editor,
        name,
        strategy="canary",
        version=2,
        steps=[50, 100],
        interval_seconds=1,
        step_timeout_seconds=2,
        min_requests=1000,
    )
    assert response.status_code == 201, response.text
    time.sleep(1.2)
    waiting = read(client, editor, name)["rollout"]
    # Held past its interval with no traffic: still waiting, never judged healthy.
    assert waiting is not None
    assert waiting["state"] == "progressing", waiting
    rollout, _ = drive(client, editor, name, lambda i: rows(1), timeout=20)
    assert rollout["state"] == "rolled_back"
    assert "1000 needed" in rollout["reason"]
    primary_only(read(client, editor, name), model, 1)


def test_manual_promote_rollback_and_abort_mid_rollout(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    slow = {"strategy": "canary", "steps": [10, 100], "interval_seconds": 3600}
    assert start(client, editor, name, version=2, **slow).status_code == 201
    again = start(client, editor, name, version=3, **slow)
    assert again.status_code == 409
    assert again.json()["code"] == "rollout_in_progress"
    direct = start(client, editor, name, version=3)
    assert direct.status_code == 409

    back = client.post(f"{API}/deployments/{name}/rollback", json={"reason": "not now"}, headers=editor)
    assert back.status_code == 201, back.text
    primary_only(back.json(), model, 1)
    assert back.json()["rollout"] is None
    assert latest_rollout(client, editor, name)["state"] == "rolled_back"

    # A rolled-back rollout can be started again, and aborted.
    assert start(client, editor, name, version=2, **slow).status_code == 201
    aborted = client.post(f"{API}/deployments/{name}/rollouts/abort", headers=editor)
    assert aborted.status_code == 200, aborted.text
    primary_only(aborted.json(), model, 1)
    assert latest_rollout(client, editor, name)["state"] == "aborted"
    nothing = client.post(f"{API}/deployments/{name}/rollouts/abort", headers=editor)
    assert (nothing.status_code, nothing.json()["code"]) == (409, "no_rollout_in_progress")

    assert start(client, editor, name, version=2, **slow).status_code == 201
    promoted = client.post(f"{API}/deployments/{name}/promote", headers=editor)
    assert promoted.status_code == 200, promoted.text
    primary_only(promoted.json(), model, 2)
    history = client.get(f"{API}/deployments/{name}/rollouts", headers=editor).json()["rollouts"]
    assert [r["state"] for r in history] == ["promoted", "aborted", "rolled_back"]
    for rollout in history:
        assert _wait_job(client, editor, rollout["job_id"])["status"] in ("succeeded", "cancelled")

    # Rolling back after a promoted rollout returns to the routes from before it.
    undone = client.post(f"{API}/deployments/{name}/rollback", headers=editor)
    assert undone.status_code == 201, undone.text
    primary_only(undone.json(), model, 1)


def test_blue_green_switches_at_once_and_rolls_back_at_once(
    client: TestClient, editor: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(client, editor, name, strategy="blue_green", version=2, interval_seconds=1)
    assert response.status_code == 201, response.text
    warm = response.json()
    assert {(r["version"], r["weight"]) for r in warm["routes"]} == {(1, 100), (2, 0)}
    # Warm at 0%: no request reaches it before the switch (an interval of 1 s away at least).
    for _ in range(10):
        answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(1)}, headers=editor)
        assert answer.json()["version"] == 1
    rollout, _ = drive(client, editor, name, lambda i: rows(1))
    assert rollout["state"] == "promoted", rollout
    primary_only(read(client, editor, name), model, 2)
    back = client.post(f"{API}/deployments/{name}/rollback", headers=editor)
    assert back.status_code == 201
    primary_only(back.json(), model, 1)


def test_bad_rollout_bodies_are_4xx(client: TestClient, editor: dict[str, str], model: str) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    for body, field in (
        ({"strategy": "canary", "version": 2, "steps": [50, 10, 100]}, "steps"),
        ({"strategy": "canary", "version": 2, "steps": [10, 50]}, "steps"),
        (
            {"strategy": "canary", "version": 2, "interval_seconds": 10, "step_timeout_seconds": 5},
            "step_timeout_seconds",
        ),
    ):
        response = start(client, editor, name, **body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field
    for body in (
        {"strategy": "canary", "version": 2, "steps": []},
        {"strategy": "canary", "version": 2, "interval_seconds": 0},
        {"strategy": "canary", "version": 2, "max_error_rate": 2},
        {"strategy": "ab", "version": 2, "weight": 100},
    ):
        response = start(client, editor, name, **body)
        assert response.status_code == 422, (body, response.text)
    assert read(client, editor, name)["revision"] == 1
    assert client.get(f"{API}/deployments/{name}/rollouts", headers=editor).json()["rollouts"] == []


def test_two_concurrent_rollouts_one_wins(backend: str, client: TestClient, editor: dict[str, str], model: str) -> None:
    if backend != "postgres":
        pytest.skip("the race needs concurrent writers: Postgres")
    name = new_name()
    deploy(client, editor, name, model, 1)
    body = {"strategy": "canary", "steps": [10, 100], "interval_seconds": 3600}
    codes: list[int] = []
    barrier = threading.Barrier(4)
    with serve_in_thread(cast(FastAPI, client.app)) as url:

        def go(version: int) -> None:
            with httpx.Client(base_url=url, headers=editor, timeout=30) as http:
                barrier.wait()
                codes.append(
                    http.post(f"{API}/deployments/{name}/rollouts", json={**body, "version": version}).status_code
                )

        threads = [threading.Thread(target=go, args=(2 + i % 2,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(codes) == [201, 409, 409, 409], codes
    assert len([r for r in client.get(f"{API}/deployments/{name}/rollouts", headers=editor).json()["rollouts"]]) == 1
    assert client.post(f"{API}/deployments/{name}/rollouts/abort", headers=editor).status_code == 200


def test_a_replica_that_does_not_apply_the_step_fails_the_rollout(
    settings: Settings, model_zips: dict[str, bytes]
) -> None:
    with app_with_admin(settings.model_copy(update={"rollout_replica_timeout_seconds": 1.5})) as http:
        model = new_name("model")
        register(http, {}, model, model_zips["forest"])
        register(http, {}, model, model_zips["forest"])
        name = new_name()
        deploy(http, {}, name, model, 1)
        sessions = http.app.state.sessions  # type: ignore[attr-defined]
        stop = threading.Event()

        def stuck_replica() -> None:
            # Another server process that is alive (it beats) but stopped applying route changes.
            while not stop.is_set():
                with sessions.begin() as session:
                    rollout_service.record_heartbeat(session, "stuck-replica:1", 0)
                stop.wait(0.3)

        beating = threading.Thread(target=stuck_replica, daemon=True)
        beating.start()
        try:
            response = start(http, {}, name, strategy="canary", version=2, steps=[50, 100], interval_seconds=1)
            assert response.status_code == 201, response.text
            rollout, _ = drive(http, {}, name, lambda i: rows(1), timeout=20)
        finally:
            stop.set()
            beating.join(timeout=5)
        assert rollout["state"] == "failed", rollout
        assert "stuck-replica:1" in rollout["reason"]
        assert rollout["step_started_at"] is None  # its clock never started
        primary_only(read(http, {}, name), model, 1)


def test_ab_routes_by_key_stickily_with_per_variant_statistics(
    client: TestClient, editor: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(client, editor, name, strategy="ab", version=2, weight=30)
    assert response.status_code == 201, response.text
    assert {(r["version"], r["weight"]) for r in response.json()["routes"]} == {(1, 70), (2, 30)}
    assert response.json()["rollout"]["job_id"] is None  # it ends only by promote or rollback
    metrics = client.get("/metrics").text
    assert f'shipyard_route_weight{{deployment="{name}",mode="canary",version="{model}/2"}} 30.0' in metrics
    assert f'shipyard_route_weight{{deployment="{name}",mode="primary",version="{model}/1"}} 70.0' in metrics
    assert f'shipyard_rollout_state{{deployment="{name}",state="progressing"}} 1.0' in metrics
    assert f'shipyard_rollout_state{{deployment="{name}",state="promoted"}} 0.0' in metrics

    def version_for(key: str) -> int:
        answer = client.post(
            f"{API}/deployments/{name}/predict",
            json={"inputs": rows(1)},
            headers={**editor, "X-Shipyard-Route-Key": key},
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["version"])

    first = {f"user-{i}": version_for(f"user-{i}") for i in range(60)}
    assert {version_for(key) for key in first for _ in range(2)} <= {1, 2}
    assert all(version_for(key) == version for key, version in first.items())
    assert set(first.values()) == {1, 2}
    assert 5 <= list(first.values()).count(2) <= 35  # about 30% of 60 keys

    # Per-variant counts, once this process has flushed them (about every second).
    sent = 60 * 4
    deadline = time.monotonic() + 10
    while True:
        analysis = read(client, editor, name)["rollout"]["analysis"]
        total = analysis["candidate"]["requests"] + analysis["primary"]["requests"]
        if total >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert total == sent, analysis
    assert analysis["candidate"]["requests"] == 4 * list(first.values()).count(2)
    assert analysis["candidate"]["errors"] == 0
    assert analysis["candidate"]["p95_ms"] is not None
    promoted = client.post(f"{API}/deployments/{name}/promote", headers=editor)
    assert promoted.status_code == 200
    primary_only(promoted.json(), model, 2)


def wait_analysis(
    client: TestClient, headers: dict[str, str], name: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The rollout's live report once `ready` holds (counts reach the database about every second)."""
    deadline = time.monotonic() + 10
    while True:
        analysis = dict(read(client, headers, name)["rollout"]["analysis"])
        if ready(analysis) or time.monotonic() > deadline:
            return analysis
        time.sleep(0.2)


def test_shadow_gets_a_copy_of_each_request_and_reports_agreement(
    client: TestClient, editor: dict[str, str], model: str
) -> None:
    name = new_name()
    deploy(client, editor, name, model, 1)
    response = start(client, editor, name, strategy="shadow", version=2)
    assert response.status_code == 201, response.text
    routes = {(r["version"], r["weight"], r["mode"]) for r in response.json()["routes"]}
    assert routes == {(1, 100, "primary"), (2, 0, "shadow")}
    for _ in range(20):
        answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": rows(3)}, headers=editor)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1  # the answer always comes from the primary
    same = wait_analysis(client, editor, name, lambda a: a["candidate"]["shadow_compared"] >= 60)
    assert same["candidate"]["shadow_compared"] == 60, same
    assert same["candidate"]["agreement"] == 1.0  # the same forest answers alike
    assert same["candidate"]["requests"] == 20
    assert same["candidate"]["errors"] == 0
    assert same["primary"]["requests"] == 20
    assert client.post(f"{API}/deployments/{name}/rollback", headers=editor).status_code == 201

    # A shadow that raises: the client never notices, the report counts its errors.
    assert start(client, editor, name, strategy="shadow", version=3).status_code == 201
    for i in range(10):
        answer = client.post(f"{API}/deployments/{name}/predict", json={"inputs": unknown_plan(i)}, headers=editor)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 1
    failing = wait_analysis(client, editor, name, lambda a: a["candidate"]["requests"] >= 10)
    assert failing["candidate"]["errors"] == 10, failing
    assert failing["candidate"]["agreement"] == 0.0
    metrics = client.get("/metrics").text
    assert f'shipyard_shadow_comparisons_total{{deployment="{name}",outcome="error",version="3"}} 10.0' in metrics
    promoted = client.post(f"{API}/deployments/{name}/promote", headers=editor)
    assert promoted.status_code == 200, promoted.text
    primary_only(promoted.json(), model, 3)


def test_an_analysis_job_cannot_be_submitted_by_hand(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(f"{API}/jobs", json={"type": "rollout_analysis", "spec": {"rollout_id": 1}}, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_spec"
    assert "started by a rollout" in response.json()["detail"]


def inverted_pipeline() -> Any:
    """The forest's pipeline fitted on the opposite labels: as quick and error-free as the
    primary, and wrong on almost every row, which only the feedback shows."""
    frame, target = training_frame()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    return make_pipeline(pre, RandomForestClassifier(n_estimators=5, random_state=0)).fit(frame, 1 - target)


def test_a_canary_worse_on_feedback_rolls_back_on_the_live_metric(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], tmp_path: Path
) -> None:
    model, name = new_name("model"), new_name()
    register(client, admin, model, zip_folder(write_model_folder(tmp_path / "good", trained_pipeline())))
    register(client, admin, model, zip_folder(write_model_folder(tmp_path / "worse", inverted_pipeline())))
    deploy(client, editor, name, model, 1)
    response = start(
        client,
        editor,
        name,
        strategy="canary",
        version=2,
        steps=[50, 100],
        interval_seconds=30,
        min_requests=5,
        max_error_rate=0.5,
        max_live_metric_drop=0.2,
    )
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 45
    i = 0
    while time.monotonic() < deadline:
        age = 20.0 + (i * 7) % 60
        answer = client.post(
            f"{API}/deployments/{name}/predict", json={"inputs": [{"age": age, "plan": "basic"}]}, headers=editor
        )
        assert answer.status_code == 200, answer.text
        # The application learns the outcome and sends it back.
        feedback = {"feedback": [{"prediction_id": answer.json()["prediction_ids"][0], "actual": int(age > 45)}]}
        assert client.post(f"{API}/deployments/{name}/feedback", json=feedback, headers=editor).status_code == 200
        i += 1
        if i % 10 == 0 and latest_rollout(client, editor, name)["state"] in FINISHED:
            break
        time.sleep(0.02)
    rollout = latest_rollout(client, editor, name)
    assert rollout["state"] == "rolled_back", rollout
    assert "live metric" in rollout["reason"], rollout
    assert "below the primary's" in rollout["reason"]
    assert rollout["analysis"]["candidate"]["errors"] == 0  # only the feedback showed it
    primary_only(read(client, editor, name), model, 1)
