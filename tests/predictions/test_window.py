"""Reading a window of the log one segment at a time (what a drift check does), on each database
and artifact store: the last N rows are exactly the newest N that `read_predictions` gives, also
when N cuts through one request's rows and across segments; an hours window keeps its bounds."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.predictions.service import plan_window, read_predictions, read_window
from tests.deployments.conftest import rows
from tests.predictions.conftest import deploy, flush, predict


def window_ids(app: FastAPI, name: str, **bounds: object) -> list[str]:
    with app.state.sessions(write=False) as session:
        window = plan_window(session, app.state.store, name, **bounds)  # type: ignore[arg-type]
    tables = [table for _, table in read_window(app.state.store, window, ["prediction_id", "input.age"])]
    joined = pa.concat_tables(tables) if tables else None
    return [] if joined is None else list(joined["prediction_id"].to_pylist())


def newest_ids(app: FastAPI, name: str, last: int) -> list[str]:
    with app.state.sessions(write=False) as session:
        table = read_predictions(session, app.state.store, name, last=last, columns=["prediction_id"])
    return list(table["prediction_id"].to_pylist())


def test_the_last_n_rows_are_the_newest_across_segments_and_requests(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    for _ in range(3):  # three segments of two requests of 4 rows each
        for _ in range(2):
            predict(log_client, log_admin, name, {"inputs": rows(4)})
        flush(log_app)

    for last in (1, 3, 4, 6, 13, 24, 100):
        assert sorted(window_ids(log_app, name, last=last)) == sorted(newest_ids(log_app, name, last)), last
    assert len(window_ids(log_app, name, last=100)) == 24


def test_an_hours_window_keeps_its_bounds(
    log_app: FastAPI, log_client: TestClient, log_admin: dict[str, str], registered: dict[str, str]
) -> None:
    name = deploy(log_client, log_admin, registered["classifier"])["name"]
    predict(log_client, log_admin, name, {"inputs": rows(5)})
    flush(log_app)
    now = datetime.now(UTC)

    assert len(window_ids(log_app, name, since=now - timedelta(hours=1), until=now)) == 5
    assert window_ids(log_app, name, since=now + timedelta(seconds=1)) == []
    assert window_ids(log_app, name, until=now - timedelta(hours=1)) == []
