"""Helpers of the monitoring tests: a churn dataset, a model fitted on it and logged to a run that
names the dataset (its lineage), deployments of it, predict traffic through HTTP, drift checks."""

import json
import uuid
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from app.predictions.log import PredictionLog
from tests.jobs.conftest import Platform, churn_frame, csv_bytes

API = "/api/v1"
FEATURES = ["tenure", "monthly_charges", "support_calls", "plan", "region"]


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def trained_model(platform: Platform, frame: pd.DataFrame | None = None, model: str | None = None) -> tuple[str, str]:
    """(dataset reference, model name): the frame uploaded, and the next version of a model (new
    unless named) fitted on it in a notebook's way, logged to a run that names the dataset as its
    training data (its lineage)."""
    frame = churn_frame() if frame is None else frame
    dataset, model = new_name("churn"), model or new_name("churn-model")
    platform.upload(dataset, csv_bytes(frame), expect=201)
    token = platform.headers["Authorization"].removeprefix("Bearer ")
    client = shipyard.Client(token=token, http_client=platform.client)
    run = client.create_run(client.get_or_create_experiment(new_name("churn-exp")).id, name="notebook")
    client.link_dataset(run.id, f"{dataset}@1", context="training")
    features = frame[FEATURES]
    client.log_model(run.id, fitted(features, frame["churned"]), input_example=features[:5], register_as=model)
    return f"{dataset}@1", model


def fitted(features: pd.DataFrame, label: pd.Series) -> Pipeline:
    numbers = [c for c in features.columns if features[c].dtype.kind in "if"]
    texts = [c for c in features.columns if c not in numbers]
    prep = ColumnTransformer(
        [("num", StandardScaler(), numbers), ("cat", OneHotEncoder(handle_unknown="ignore"), texts)]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))]).fit(features, label)


def deploy(platform: Platform, model: str, version: int = 1) -> str:
    name = new_name("churn-dep")
    response = platform.client.post(
        f"{API}/deployments", json={"name": name, "model": model, "version": version}, headers=platform.headers
    )
    assert response.status_code == 201, response.text
    return name


def send(platform: Platform, deployment: str, frame: pd.DataFrame, per_request: int = 250) -> list[tuple[str, Any]]:
    """Predict every row of the frame's feature columns; (prediction id, prediction) per row."""
    answered: list[tuple[str, Any]] = []
    features = frame[[c for c in FEATURES if c in frame.columns]]
    for start in range(0, len(features), per_request):
        chunk = features.iloc[start : start + per_request]
        split = json.loads(chunk.to_json(orient="split", index=False))
        body = {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}
        response = platform.client.post(f"{API}/deployments/{deployment}/predict", json=body, headers=platform.headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        answered.extend(zip(answer["prediction_ids"], answer["predictions"], strict=True))
    return answered


def flush(platform: Platform) -> None:
    log: PredictionLog = platform.client.app.state.prediction_log  # type: ignore[attr-defined]
    log.flush()


def shifted(rows: int = 500, seed: int = 99) -> pd.DataFrame:
    """Customers unlike the training set: long tenures, high charges, many calls, all on premium."""
    frame = churn_frame(rows=rows, seed=seed)
    frame["tenure"] = frame["tenure"] + 40
    frame["monthly_charges"] = (frame["monthly_charges"] * 1.8).round(2)
    frame["support_calls"] = frame["support_calls"] + 4
    frame["plan"] = "premium"
    return frame


def check(platform: Platform, spec: dict[str, Any], *, expect: str = "succeeded") -> dict[str, Any]:
    """Submit a drift check and wait for it; the finished job."""
    job = platform.submit("drift_check", spec)
    finished = platform.wait(job["id"], timeout=120)
    assert finished["status"] == expect, platform.describe(finished)
    return finished


def report(platform: Platform, report_id: int) -> dict[str, Any]:
    return dict(platform.get(f"/drift-reports/{report_id}"))


def reports_of(platform: Platform, deployment: str) -> list[dict[str, Any]]:
    return list(platform.get(f"/deployments/{deployment}/drift-reports")["reports"])


def column(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in body["columns"] if c["column"] == name)


def flipped(answered: list[tuple[str, Any]], share: float, seed: int = 3) -> list[dict[str, Any]]:
    """Feedback for every prediction: the opposite label for `share` of them, the same for the rest."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(answered)) < share
    return [
        {"prediction_id": pid, "actual": (1 - int(label)) if flip else int(label)}
        for (pid, label), flip in zip(answered, wrong, strict=True)
    ]


def send_feedback(platform: Platform, deployment: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 5000):
        response = platform.client.post(
            f"{API}/deployments/{deployment}/feedback",
            json={"feedback": items[start : start + 5000]},
            headers=platform.headers,
        )
        assert response.status_code == 200, response.text
