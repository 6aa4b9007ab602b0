"""The buffer between predict and the flusher: full, it drops and counts without slowing predict;
a flush stuck on the database does not hold predict up; a segment that fails to be written is
kept and written by a later pass; the app's shutdown flushes what is left; the counts are on
/metrics. Each test runs an app of its own, on SQLite and a local folder."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import app_with_admin
from tests.deployments.conftest import new_name, register, rows
from tests.predictions.conftest import deploy, flush, log_settings, predict, segments_of


@contextmanager
def own_app(tmp_path: Path, model: bytes, **overrides: Any) -> Iterator[tuple[FastAPI, TestClient, str]]:
    """An app of its own with a deployment of `model`: (app, an admin's client, the deployment)."""
    with app_with_admin(log_settings(tmp_path, None, **overrides)) as client:
        model_name = new_name("buffered")
        register(client, {}, model_name, model)
        yield cast(FastAPI, client.app), client, deploy(client, {}, model_name)["name"]


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("shipyard_prediction_log"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_full_buffer_drops_and_counts_and_predict_still_answers(
    tmp_path: Path, model_bodies: dict[str, bytes]
) -> None:
    with own_app(tmp_path, model_bodies["classifier"], prediction_log_buffer_rows=5) as (app, client, name):
        predict(client, {}, name, {"inputs": rows(3)})
        started = time.perf_counter()
        for _ in range(5):
            predict(client, {}, name, {"inputs": rows(3)})
        assert time.perf_counter() - started < 5
        metrics = samples(client)
        assert metrics[("shipyard_prediction_log_dropped_total", (("deployment", name),))] == 15
        assert metrics[("shipyard_prediction_log_buffered_rows", ())] == 3

        assert flush(app) == 3
        metrics = samples(client)
        assert metrics[("shipyard_prediction_log_rows_total", (("deployment", name),))] == 3
        assert metrics[("shipyard_prediction_log_buffered_rows", ())] == 0
        assert [s.row_count for s in segments_of(app, name)] == [3]
        # Room again once flushed.
        predict(client, {}, name, {"inputs": rows(4)})
        assert flush(app) == 4


def test_a_flush_stuck_on_the_database_does_not_hold_predict_up(tmp_path: Path, model_bodies: dict[str, bytes]) -> None:
    with own_app(tmp_path, model_bodies["classifier"]) as (app, client, name):
        predict(client, {}, name, {"inputs": rows(2)})
        # Another process holds SQLite's write lock: the flusher's index insert waits for it.
        blocker = sqlite3.connect(tmp_path / "shipyard.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        written: list[int] = []
        flushing = threading.Thread(target=lambda: written.append(flush(app)))
        flushing.start()
        try:
            time.sleep(0.3)
            assert flushing.is_alive()
            started = time.perf_counter()
            for _ in range(3):
                predict(client, {}, name, {"inputs": rows(2)})
            assert time.perf_counter() - started < 5
            assert app.state.prediction_log.buffered_rows == 6
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        flushing.join(timeout=30)
        assert written == [2]
        assert flush(app) == 6
        assert sorted(s.row_count for s in segments_of(app, name)) == [2, 6]


def test_a_segment_that_fails_to_be_written_is_written_by_a_later_pass(
    tmp_path: Path, model_bodies: dict[str, bytes]
) -> None:
    with own_app(tmp_path, model_bodies["classifier"]) as (app, client, name):
        predict(client, {}, name, {"inputs": rows(3)})
        # A file where the log's folder goes: the store cannot write any segment.
        blocked = tmp_path / "artifacts" / "deployments"
        blocked.write_text("in the way")
        assert flush(app) == 0
        assert samples(client)[("shipyard_prediction_log_write_failures_total", ())] == 1
        assert app.state.prediction_log.buffered_rows == 3
        assert segments_of(app, name) == []

        blocked.unlink()
        assert flush(app) == 3
        segment = segments_of(app, name)[0]
        assert segment.row_count == 3
        assert app.state.store.exists(segment.key)


def test_rows_left_in_the_buffer_are_written_when_the_app_stops(tmp_path: Path, model_bodies: dict[str, bytes]) -> None:
    with own_app(tmp_path, model_bodies["classifier"]) as (app, client, name):
        predict(client, {}, name, {"inputs": rows(7)})
        assert segments_of(app, name) == []
    assert [s.row_count for s in segments_of(app, name)] == [7]


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_the_server_sample_rate_applies_to_deployments_without_their_own(
    tmp_path: Path, model_bodies: dict[str, bytes], rate: float
) -> None:
    with own_app(tmp_path, model_bodies["classifier"], prediction_log_sample_rate=rate) as (app, client, name):
        predict(client, {}, name, {"inputs": rows(10)})
        assert flush(app) == int(10 * rate)
