"""The drift_check job through HTTP on SQLite and Postgres, with jobs on the server's threads: a
model trained by a job (its lineage names the reference), deployed, sent traffic; shifted
traffic gives a stored report naming the drifted columns, traffic like the training data does
not; feedback that degrades is a decay; the reports are listed and read through the API."""

from collections.abc import Callable, Iterator

import pytest

from tests.jobs.conftest import Platform, churn_frame, open_platform
from tests.monitoring.conftest import (
    check,
    column,
    deploy,
    flipped,
    flush,
    report,
    reports_of,
    send,
    send_feedback,
    shifted,
    trained_model,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    # The flusher waits an hour: each test flushes the log itself when its traffic is sent.
    data_dir = tmp_path_factory.mktemp(f"drift-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    with open_platform("embedded", backend, data_dir, database_url, prediction_log_flush_seconds=3600) as opened:
        yield opened


@pytest.fixture(scope="module")
def trained(platform: Platform) -> tuple[str, str]:
    return trained_model(platform)


def test_shifted_traffic_gives_a_report_naming_the_drifted_columns(
    platform: Platform, trained: tuple[str, str]
) -> None:
    dataset, model = trained
    name = deploy(platform, model)
    send(platform, name, shifted())
    flush(platform)

    job = check(platform, {"deployment": name, "window": {"hours": 1}})

    result = job["result"]
    assert result["drift_detected"] is True
    assert result["dataset_drift"] is True
    assert {"tenure", "monthly_charges", "support_calls", "plan"} <= set(result["drifted_columns"])
    assert "region" not in result["drifted_columns"]
    found = report(platform, result["report_id"])
    assert found["reference"] == dataset, "the default reference is the training dataset, through lineage"
    assert found["current_rows"] == 500
    assert found["reference_rows"] == 400
    assert found["model_versions"] == [{"model": model, "version": 1, "rows": 500}]
    assert found["drift_detected"] is True
    assert found["drifted_share"] == pytest.approx(0.8)
    assert found["decay_detected"] is None
    body = found["body"]
    tenure = column(body, "tenure")
    assert tenure["verdict"] == "drift"
    assert tenure["test"] == "ks"
    assert tenure["p_value"] < 0.05
    assert sum(tenure["bins"]["reference"]) == 400
    assert sum(tenure["bins"]["current"]) == 500
    assert column(body, "plan")["bins"]["kind"] == "categorical"
    assert body["prediction"]["source"] == "model", body["prediction"]
    assert reports_of(platform, name)[0]["id"] == found["id"]


def test_traffic_like_the_training_data_drifts_nowhere(platform: Platform, trained: tuple[str, str]) -> None:
    dataset, model = trained
    name = deploy(platform, model)
    answered = send(platform, name, churn_frame())
    flush(platform)

    job = check(platform, {"deployment": name, "window": {"predictions": len(answered)}, "reference": dataset})

    result = job["result"]
    assert result["drift_detected"] is False
    assert result["drifted_columns"] == []
    assert result["prediction_drift"] is False
    body = report(platform, result["report_id"])["body"]
    assert {c["verdict"] for c in body["columns"]} == {"no_drift"}
    assert body["prediction"]["verdict"] == "no_drift"


def test_feedback_that_degrades_is_a_decay_and_feedback_that_agrees_is_not(
    platform: Platform, trained: tuple[str, str]
) -> None:
    _, model = trained
    name = deploy(platform, model)
    answered = send(platform, name, churn_frame(rows=300, seed=21))
    flush(platform)
    performance = {"metric": "accuracy", "threshold": 0.8, "min_labelled": 50, "buckets": 4}

    send_feedback(platform, name, flipped(answered, share=0.0))
    fine = check(platform, {"deployment": name, "window": {"hours": 1}, "performance": performance})
    send_feedback(platform, name, flipped(answered, share=0.6))
    bad = check(platform, {"deployment": name, "window": {"hours": 1}, "performance": performance})

    assert fine["result"]["decay_detected"] is False
    assert bad["result"]["decay_detected"] is True
    section = report(platform, bad["result"]["report_id"])["body"]["performance"]
    assert section["metric"] == "accuracy"
    (version,) = section["versions"]
    assert version["version"] == 1
    assert version["labelled"] == 300
    assert version["verdict"] == "decayed"
    assert version["value"] == pytest.approx(0.4, abs=0.1)
    assert set(version["metrics"]) == {"accuracy", "f1"}
    assert len(version["curve"]) == 4
    assert sum(point["labelled"] for point in version["curve"]) == 300
    summary = reports_of(platform, name)
    assert [r["decay_detected"] for r in summary] == [True, False], "newest first"


def test_too_little_feedback_is_not_judged(platform: Platform, trained: tuple[str, str]) -> None:
    _, model = trained
    name = deploy(platform, model)
    answered = send(platform, name, churn_frame(rows=40, seed=5))
    flush(platform)
    send_feedback(platform, name, flipped(answered[:10], share=1.0))

    job = check(platform, {"deployment": name, "window": {"hours": 1}, "performance": {"threshold": 0.9}})

    assert job["result"]["decay_detected"] is False
    (version,) = report(platform, job["result"]["report_id"])["body"]["performance"]["versions"]
    assert version["labelled"] == 10
    assert version["verdict"] == "too_few_labelled"
    assert version["value"] == 0.0
