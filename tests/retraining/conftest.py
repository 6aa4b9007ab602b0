"""Helpers of the retraining tests: a deployment of a model trained by a train job on the churn
data, traffic drawn from that data (shifted when asked), and feedback for it."""

import io
import uuid
from typing import Any

import numpy as np
import pandas as pd

from tests.jobs.conftest import Platform, churn_frame, csv_bytes, train_spec

API = "/api/v1"
FEATURES = ["tenure", "monthly_charges", "support_calls", "plan", "region"]


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def upload_churn(platform: Platform, rows: int = 400, seed: int = 7) -> str:
    """A churn dataset of its own; its name."""
    name = new_name("churn")
    platform.upload(name, csv_bytes(churn_frame(rows, seed)), expect=201)
    return name


def train_and_deploy(platform: Platform, dataset: str, **train_fields: Any) -> tuple[str, str, dict[str, Any]]:
    """(deployment, model, train job) for version 1 of a model trained by a train job on `dataset`@1."""
    model = new_name("churn-model")
    job = platform.submit("train", train_spec(f"{dataset}@1", register_as=model, **train_fields))
    job = platform.succeeded(job["id"])
    deployment = new_name("churn-api")
    response = platform.client.post(
        f"{API}/deployments", json={"name": deployment, "model": model, "version": 1}, headers=platform.headers
    )
    assert response.status_code == 201, response.text
    return deployment, model, job


def traffic(rows: int, seed: int, *, shifted: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
    """(model inputs, their true churn labels): rows like the training data, or moved far off
    it (tenure and charges shifted, every customer on the basic plan)."""
    frame = churn_frame(rows, seed)
    if shifted:
        frame["tenure"] = frame["tenure"] + 60
        frame["monthly_charges"] = (frame["monthly_charges"] * 1.8).round(2)
        frame["plan"] = "basic"
    inputs = [
        {key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
        for row in frame[FEATURES].to_dict(orient="records")
    ]
    return inputs, [int(v) for v in frame["churned"]]


def predict(platform: Platform, deployment: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    response = platform.client.post(
        f"{API}/deployments/{deployment}/predict", json={"inputs": inputs}, headers=platform.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def send_feedback(platform: Platform, deployment: str, ids: list[str], labels: list[Any]) -> dict[str, Any]:
    items = [{"prediction_id": i, "actual": label} for i, label in zip(ids, labels, strict=True)]
    response = platform.client.post(
        f"{API}/deployments/{deployment}/feedback", json={"feedback": items}, headers=platform.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def flush_log(platform: Platform) -> None:
    """Write what the server's prediction log holds to the store now."""
    platform.client.app.state.prediction_log.flush()  # type: ignore[attr-defined]


def dataset_frame(platform: Platform, ref: str) -> pd.DataFrame:
    name, _, version = ref.partition("@")
    response = platform.client.get(f"{API}/datasets/{name}/versions/{version}/download", headers=platform.headers)
    assert response.status_code == 200, response.text
    return pd.read_parquet(io.BytesIO(response.content))
