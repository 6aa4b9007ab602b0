"""Drift reports after a check, on SQLite and Postgres: the routes (viewer, newest first, cursor
pages, 404s), one report per job even when two attempts store it at once, and the drift gauges
on /metrics, read from the stored reports (so a restarted server shows them) and never failing
a scrape when the database does not answer."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app.db.session import SessionFactory, create_db_engine
from app.db.tables import Deployment, DriftReport
from app.main import create_app
from app.monitoring import service
from app.monitoring.metrics import DriftCollector
from app.settings import Settings
from tests.conftest import user_headers
from tests.jobs.conftest import Platform, churn_frame, open_platform
from tests.monitoring.conftest import (
    API,
    check,
    column,
    deploy,
    flipped,
    flush,
    report,
    send,
    send_feedback,
    shifted,
    trained_model,
)

pytestmark = pytest.mark.slow
GAUGES = ("shipyard_drift_share", "shipyard_dataset_drift", "shipyard_drift_column_score", "shipyard_live_metric")


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp(f"drift-reports-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    with open_platform("embedded", backend, data_dir, database_url, prediction_log_flush_seconds=3600) as opened:
        yield opened


@pytest.fixture(scope="module")
def model(platform: Platform) -> str:
    return trained_model(platform)[1]


@pytest.fixture(scope="module")
def checked(platform: Platform, model: str) -> tuple[str, list[int]]:
    """A deployment with three drift checks (shifted traffic, labelled half wrong); its report ids, oldest first."""
    name = deploy(platform, model)
    answered = send(platform, name, shifted(rows=300))
    flush(platform)
    send_feedback(platform, name, flipped(answered, share=0.5))
    spec = {"deployment": name, "window": {"hours": 2}, "performance": {"threshold": 0.8}}
    return name, [check(platform, spec)["result"]["report_id"] for _ in range(3)]


def samples(text: str, deployment: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The drift gauges' samples of one deployment, by name and labels (the deployment left out)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GAUGES and sample.labels.get("deployment") == deployment:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "deployment"))
                found[(sample.name, labels)] = sample.value
    return found


def test_a_viewer_lists_reports_newest_first_in_pages_and_reads_one_whole(
    platform: Platform, checked: tuple[str, list[int]]
) -> None:
    name, ids = checked
    viewer = user_headers(platform.client, platform.headers, "viewer")

    first = platform.client.get(f"{API}/deployments/{name}/drift-reports?max_results=2", headers=viewer)
    assert first.status_code == 200, first.text
    token = first.json()["next_page_token"]
    second = platform.client.get(
        f"{API}/deployments/{name}/drift-reports", params={"max_results": 2, "page_token": token}, headers=viewer
    )
    whole = platform.client.get(f"{API}/drift-reports/{ids[0]}", headers=viewer)

    assert [r["id"] for r in first.json()["reports"]] == [ids[2], ids[1]]
    assert [r["id"] for r in second.json()["reports"]] == [ids[0]]
    assert second.json()["next_page_token"] is None
    summary = first.json()["reports"][0]
    assert "body" not in summary
    assert summary["deployment"] == name
    assert summary["drift_detected"] is True
    assert summary["decay_detected"] is True
    assert "tenure" in summary["drifted_columns"]
    assert whole.status_code == 200
    assert whole.json()["body"]["columns"]
    assert whole.json()["job_id"] != summary["job_id"]


def test_unknown_reports_deployments_and_tokens_are_4xx(platform: Platform, checked: tuple[str, list[int]]) -> None:
    client, headers = platform.client, platform.headers

    missing = client.get(f"{API}/drift-reports/2147483647", headers=headers)
    no_deployment = client.get(f"{API}/deployments/no-such-one/drift-reports", headers=headers)
    bad_token = client.get(f"{API}/deployments/{checked[0]}/drift-reports?page_token=nonsense", headers=headers)
    bad_id = client.get(f"{API}/drift-reports/zero", headers=headers)

    assert (missing.status_code, missing.json()["code"]) == (404, "drift_report_not_found")
    assert (no_deployment.status_code, no_deployment.json()["code"]) == (404, "deployment_not_found")
    assert (bad_token.status_code, bad_token.json()["code"]) == (400, "invalid_input")
    assert bad_id.status_code == 422


def test_two_attempts_storing_one_job_s_report_at_once_leave_one(
    platform: Platform, model: str, checked: tuple[str, list[int]]
) -> None:
    sessions: SessionFactory = platform.client.app.state.sessions  # type: ignore[attr-defined]
    body = report(platform, checked[1][0])["body"]
    name = deploy(platform, model)
    with sessions(write=False) as session:
        deployment_id = session.scalars(select(Deployment.id).where(Deployment.name == name)).one()
    job_id = uuid.uuid4().hex
    stored: list[int] = []
    start = threading.Barrier(2)

    def store() -> None:
        start.wait()
        with sessions.begin() as session:
            found = service.store_report(
                session,
                deployment_id=deployment_id,
                job_id=job_id,
                created_by="test",
                window_start=datetime.now(UTC),
                window_end=datetime.now(UTC),
                body=body,
            )
            stored.append(found.id)
            time.sleep(0.2)  # both transactions are open at once

    threads = [threading.Thread(target=store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    with sessions(write=False) as session:
        rows = session.scalar(select(func.count()).select_from(DriftReport).where(DriftReport.job_id == job_id))
    assert rows == 1
    assert len(stored) == 2


def test_the_gauges_show_the_newest_report_and_survive_a_restart(
    platform: Platform, checked: tuple[str, list[int]]
) -> None:
    name, ids = checked
    newest = report(platform, ids[-1])
    tenure = column(newest["body"], "tenure")
    (version,) = newest["body"]["performance"]["versions"]
    expected = {
        ("shipyard_drift_share", ()): newest["drifted_share"],
        ("shipyard_dataset_drift", ()): 1.0,
        ("shipyard_drift_column_score", (("column", "tenure"), ("test", "ks"))): tenure["p_value"],
        ("shipyard_live_metric", (("metric", "accuracy"), ("version", "1"))): version["metrics"]["accuracy"],
        ("shipyard_live_metric", (("metric", "f1"), ("version", "1"))): version["metrics"]["f1"],
    }

    # The collector caches what it read for a few seconds: wait for a read after the checks.
    deadline = time.monotonic() + 30
    while True:
        shown = samples(platform.client.get("/metrics").text, name)
        if all(shown.get(key) == pytest.approx(value) for key, value in expected.items()):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    restarted = create_app(platform.settings)
    with TestClient(restarted) as fresh:
        after = samples(fresh.get("/metrics").text, name)

    for key, value in expected.items():
        assert after[key] == pytest.approx(value), key
    assert len([key for key in after if key[0] == "shipyard_drift_column_score"]) == 5


def test_a_database_that_does_not_answer_leaves_a_scrape_with_no_drift_gauges(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("no-database"),
        database_url="postgresql://postgres@127.0.0.1:1/none",
        log_json=False,
    )
    engine = create_db_engine(settings)
    registry = CollectorRegistry()
    registry.register(DriftCollector(SessionFactory(engine), cache_seconds=0))
    try:
        text = generate_latest(registry).decode()
    finally:
        engine.dispose()

    families = {family.name: family.samples for family in text_string_to_metric_families(text)}
    assert set(GAUGES) <= set(families)
    assert all(families[name] == [] for name in GAUGES)


def test_a_window_served_by_two_versions_reports_the_rows_of_each(platform: Platform) -> None:
    _, model = trained_model(platform, churn_frame(rows=300, seed=30))
    trained_model(platform, churn_frame(rows=300, seed=32), model=model)
    name = deploy(platform, model)
    send(platform, name, churn_frame(rows=100, seed=31))
    flush(platform)
    rolled = platform.client.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=platform.headers)
    assert rolled.status_code == 201, rolled.text
    send(platform, name, churn_frame(rows=60, seed=33))
    flush(platform)

    job = check(platform, {"deployment": name, "window": {"hours": 1}})

    found = report(platform, job["result"]["report_id"])
    assert found["current_rows"] == 160
    assert found["model_versions"] == [
        {"model": model, "version": 1, "rows": 100},
        {"model": model, "version": 2, "rows": 60},
    ]
    # The reference side of the prediction drift: the version serving now, on the reference rows.
    assert (found["body"]["prediction"]["source"], found["body"]["prediction"]["version"]) == ("model", 2)
