"""What a drift check does with input it cannot use, on SQLite and Postgres: a spec that cannot
work is a 400 at submit naming the field (and no job is made); a deployment with no logged
predictions fails the job with the reason and stores no report; a column the reference lacks,
a constant column, a column with no values and a one-row window each give a defined result."""

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from app.db.tables import Job
from tests.deployments.conftest import register
from tests.jobs.conftest import Platform, churn_frame, csv_bytes, open_platform
from tests.monitoring.conftest import (
    API,
    FEATURES,
    check,
    column,
    deploy,
    flush,
    new_name,
    report,
    reports_of,
    send,
    trained_model,
)
from tests.registry.conftest import trained_pipeline, write_model_folder, zip_folder

pytestmark = pytest.mark.slow
VERDICTS = {"drift", "no_drift", "no_data", "not_in_reference", "not_in_current"}


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp(f"drift-input-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    with open_platform("embedded", backend, data_dir, database_url, prediction_log_flush_seconds=3600) as opened:
        yield opened


@pytest.fixture(scope="module")
def trained(platform: Platform) -> tuple[str, str]:
    return trained_model(platform)


@pytest.fixture(scope="module")
def deployed(platform: Platform, trained: tuple[str, str]) -> str:
    """A deployment with some traffic logged, for the submit checks."""
    name = deploy(platform, trained[1])
    send(platform, name, churn_frame(rows=50, seed=4))
    flush(platform)
    return name


def jobs_made(platform: Platform) -> int:
    sessions = platform.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.type == "drift_check")) or 0)


def refused(platform: Platform, spec: dict[str, Any]) -> dict[str, Any]:
    before = jobs_made(platform)
    response = platform.client.post(f"{API}/jobs", json={"type": "drift_check", "spec": spec}, headers=platform.headers)
    assert response.status_code == 400, response.text
    assert jobs_made(platform) == before, "a refused spec leaves no job behind"
    problem = dict(response.json())
    assert problem["code"] == "invalid_spec"
    return problem


def test_a_spec_that_cannot_work_is_a_400_naming_the_field(
    platform: Platform, trained: tuple[str, str], deployed: str
) -> None:
    dataset = trained[0]
    hour = {"hours": 1}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"deployment": "no-such-deployment", "window": hour}, "deployment", "no deployment named"),
        ({"deployment": deployed, "window": {"hours": 0}}, "window.hours", "greater than 0"),
        ({"deployment": deployed, "window": {}}, "window", "exactly one"),
        ({"deployment": deployed, "window": {"hours": 1, "predictions": 10}}, "window", "exactly one"),
        ({"deployment": deployed, "window": {"days": 1}}, "window.days", "not a known field"),
        ({"deployment": deployed, "window": {"predictions": 0}}, "window.predictions", "greater than or equal"),
        ({"deployment": deployed, "window": hour, "reference": "nope@1"}, "reference", "no dataset named"),
        ({"deployment": deployed, "window": hour, "reference": f"{dataset[:-2]}@9"}, "reference", "no version 9"),
        ({"deployment": deployed, "window": hour, "reference": "no-version"}, "reference", "pattern"),
        (
            {"deployment": deployed, "window": hour, "options": {"column_tests": {"tenure": "kolmogorov"}}},
            "options.column_tests.tenure",
            "unknown drift test 'kolmogorov'",
        ),
        (
            {"deployment": deployed, "window": hour, "options": {"column_tests": {"plan": "ks"}}},
            "options.column_tests.plan",
            "numerical columns only",
        ),
        (
            {"deployment": deployed, "window": hour, "options": {"column_thresholds": {"age": 0.1}}},
            "options.column_thresholds",
            "not an input of the deployment",
        ),
        ({"deployment": deployed, "window": hour, "options": {"presets": "x"}}, "options.presets", "did you mean"),
        (
            {"deployment": deployed, "window": hour, "performance": {"metric": "rmse", "threshold": 1}},
            "performance.metric",
            "regression metric",
        ),
        ({"deployment": deployed, "window": hour, "performance": {"metric": "accuracy"}}, "performance.threshold", ""),
    ]
    for spec, field, words in cases:
        problem = refused(platform, spec)
        assert problem.get("field") == field, (spec, problem)
        assert words in problem["detail"], (spec, problem)


def test_a_model_with_no_lineage_needs_a_reference_that_shares_its_inputs(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model = new_name("uploaded")
    register(
        platform.client,
        platform.headers,
        model,
        zip_folder(write_model_folder(tmp_path_factory.mktemp("no-lineage") / "m", trained_pipeline())),
    )
    name = deploy(platform, model)
    other = new_name("other")
    platform.upload(other, b"x,y\n1,a\n2,b\n", expect=201)

    no_lineage = refused(platform, {"deployment": name, "window": {"hours": 1}})
    unrelated = refused(platform, {"deployment": name, "window": {"hours": 1}, "reference": f"{other}@1"})

    assert no_lineage["field"] == "reference"
    assert "no dataset in its lineage" in no_lineage["detail"]
    assert "give `reference`" in no_lineage["detail"]
    assert unrelated["field"] == "reference"
    assert "none of the inputs" in unrelated["detail"]


def test_no_logged_predictions_fails_the_job_with_the_reason_and_stores_no_report(
    platform: Platform, trained: tuple[str, str]
) -> None:
    name = deploy(platform, trained[1])

    by_hours = check(platform, {"deployment": name, "window": {"hours": 24}}, expect="failed")
    by_count = check(platform, {"deployment": name, "window": {"predictions": 1000}}, expect="failed")

    assert "has no logged predictions in the last 24 h" in by_hours["error"]
    assert "has no logged predictions at all" in by_count["error"]
    assert by_hours["result"] is None
    assert reports_of(platform, name) == []


def test_a_column_the_reference_lacks_is_reported_not_a_crash(platform: Platform, trained: tuple[str, str]) -> None:
    name = deploy(platform, trained[1])
    send(platform, name, churn_frame(rows=200, seed=8))
    flush(platform)
    without_region = new_name("no-region")
    platform.upload(without_region, csv_bytes(churn_frame().drop(columns=["region"])), expect=201)

    job = check(platform, {"deployment": name, "window": {"hours": 1}, "reference": f"{without_region}@1"})

    body = report(platform, job["result"]["report_id"])["body"]
    region = column(body, "region")
    assert region["verdict"] == "not_in_reference"
    assert "reference has no column" in region["message"]
    assert region["bins"]["current"], "the window's side is still shown"
    assert body["not_in_reference"] == ["region"]
    assert body["dataset"]["tested_columns"] == 4
    # The version cannot predict the reference without region, and the reference has no target named.
    assert body["prediction"]["drifted"] is None
    assert "region" in body["prediction"]["reason"]


def test_constant_and_empty_columns_and_a_one_row_window_have_defined_results(
    platform: Platform, trained: tuple[str, str]
) -> None:
    name = deploy(platform, trained[1])
    traffic = churn_frame(rows=120, seed=12)
    traffic["tenure"] = 12
    send(platform, name, traffic)
    flush(platform)
    odd = churn_frame()
    odd["tenure"] = 12
    odd["region"] = np.nan
    reference = new_name("odd")
    platform.upload(reference, csv_bytes(odd), expect=201)

    whole = check(platform, {"deployment": name, "window": {"hours": 1}, "reference": f"{reference}@1"})
    one_row = check(platform, {"deployment": name, "window": {"predictions": 1}, "reference": f"{reference}@1"})

    body = report(platform, whole["result"]["report_id"])["body"]
    tenure = column(body, "tenure")
    assert tenure["verdict"] == "no_drift", tenure
    assert (tenure["bins"]["reference"], tenure["bins"]["current"]) == ([400], [120])
    region = column(body, "region")
    assert region["verdict"] == "no_data"
    assert region["missing"]["reference_rate"] == 1.0
    assert region["missing"]["current_rate"] == 0.0
    small = report(platform, one_row["result"]["report_id"])
    assert small["current_rows"] == 1
    assert {c["column"] for c in small["body"]["columns"]} == set(FEATURES)
    assert {c["verdict"] for c in small["body"]["columns"]} <= VERDICTS
