"""The drift check on a real Celery worker process (Redis broker), on SQLite and Postgres: the
worker reads the log segments the API flushed and the reference from the store, and stores the
report the API then serves."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.jobs.conftest import Platform, open_platform
from tests.monitoring.conftest import check, deploy, flush, report, send, shifted, trained_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp(f"drift-celery-{backend}")
    database_url = postgres_database() if backend == "postgres" else None
    with open_platform("celery", backend, data_dir, database_url, prediction_log_flush_seconds=3600) as opened:
        yield opened


def test_the_worker_checks_drift_and_stores_the_report(platform: Platform) -> None:
    dataset, model = trained_model(platform)
    name = deploy(platform, model)
    send(platform, name, shifted(rows=300))
    flush(platform)

    job = check(platform, {"deployment": name, "window": {"predictions": 300}})

    assert ":embedded" not in job["log_tail"]
    assert "Task jobs.run" in platform.workers[0].log(20000)
    assert "read 300 of about 300 logged rows" in job["log_tail"]
    found = report(platform, job["result"]["report_id"])
    assert found["reference"] == dataset
    assert found["current_rows"] == 300
    assert found["drift_detected"] is True
    assert "tenure" in found["drifted_columns"]
