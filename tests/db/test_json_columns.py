"""JSON columns hold NaN and ±Infinity on every database (Postgres' json refuses Python's bare
NaN token), as the strings the API uses for them: a job whose result has an undefined metric
can still finish and be read."""

import math
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db.tables import Job


def test_a_job_result_with_non_finite_metrics_is_stored_and_read(
    app: FastAPI, client: TestClient, editor: dict[str, str]
) -> None:
    job_id = uuid.uuid4().hex
    result = {"metrics": {"roc_auc": math.nan, "loss": math.inf, "gain": -math.inf, "accuracy": 0.5}}
    with app.state.sessions.begin() as session:
        session.add(Job(id=job_id, type="evaluate", spec={}, status="succeeded", result=result, created_by="t"))

    read = client.get(f"/api/v1/jobs/{job_id}", headers=editor)

    assert read.status_code == 200, read.text
    assert read.json()["result"]["metrics"] == {
        "roc_auc": "NaN",
        "loss": "Infinity",
        "gain": "-Infinity",
        "accuracy": 0.5,
    }
