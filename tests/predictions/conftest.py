"""Fixtures of the prediction-log tests: an app per database and artifact store whose flusher
waits an hour between passes, so each test flushes through the log's own `flush()` when it wants."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import select

from app.db.tables import Deployment, PredictionSegment
from app.predictions.log import PredictionLog
from app.settings import Settings
from tests.conftest import app_with_admin, user_headers
from tests.deployments.conftest import new_name, register
from tests.registry.conftest import artifact_backend, trained_pipeline, training_frame, write_model_folder, zip_folder

__all__ = ["artifact_backend"]
API = "/api/v1"
PARQUET = "application/vnd.apache.parquet"


def log_settings(data_dir: Path, database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "admin_password": "admin-password-for-tests",
        "log_json": False,
        "max_upload_bytes": 50 * 1024 * 1024,
        "prediction_log_flush_seconds": 3600,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session")
def log_client(
    backend: str,
    artifact_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[], str],
    request: pytest.FixtureRequest,
) -> Iterator[TestClient]:
    """A client of the app on each database and artifact store; it sends the first admin's token
    unless a request sends its own."""
    overrides: dict[str, Any] = {}
    if artifact_backend == "s3":
        bucket = f"predlog-{uuid.uuid4().hex[:10]}"
        request.getfixturevalue("s3_client").create_bucket(Bucket=bucket)
        overrides = {
            "artifact_uri": f"s3://{bucket}/shipyard",
            "s3_endpoint_url": request.getfixturevalue("s3_endpoint"),
        }
    settings = log_settings(
        tmp_path_factory.mktemp(f"predlog-{backend}-{artifact_backend}"),
        postgres_database() if backend == "postgres" else None,
        **overrides,
    )
    with app_with_admin(settings) as client:
        yield client


@pytest.fixture(scope="session")
def log_app(log_client: TestClient) -> FastAPI:
    return cast(FastAPI, log_client.app)


@pytest.fixture(scope="session")
def log_admin(log_client: TestClient) -> dict[str, str]:
    return {"Authorization": log_client.headers["Authorization"]}


@pytest.fixture(scope="session")
def log_editor(log_client: TestClient, log_admin: dict[str, str]) -> dict[str, str]:
    return user_headers(log_client, log_admin, "editor")


@pytest.fixture(scope="session")
def log_viewer(log_client: TestClient, log_admin: dict[str, str]) -> dict[str, str]:
    return user_headers(log_client, log_admin, "viewer")


@pytest.fixture(scope="session")
def model_bodies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A random forest classifier (labels 0/1) and a linear regression (float outputs)."""
    root = tmp_path_factory.mktemp("predlog-models")
    frame, _ = training_frame()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    regressor = make_pipeline(pre, LinearRegression()).fit(frame, frame["age"].to_numpy() * 2.0)
    regression = {
        "signature": {
            "inputs": [{"name": "age", "type": "double"}, {"name": "plan", "type": "string"}],
            "outputs": [{"name": "prediction", "type": "double"}],
        }
    }
    return {
        "classifier": zip_folder(write_model_folder(root / "classifier", trained_pipeline())),
        "regressor": zip_folder(write_model_folder(root / "regressor", regressor, manifest_overrides=regression)),
    }


@pytest.fixture(scope="session")
def registered(log_client: TestClient, log_admin: dict[str, str], model_bodies: dict[str, bytes]) -> dict[str, str]:
    """One registered model of each kind, by kind."""
    names = {}
    for kind, body in model_bodies.items():
        names[kind] = new_name(kind)
        register(log_client, log_admin, names[kind], body)
    return names


def deploy(
    client: TestClient, headers: dict[str, str], model: str, *, log_sample_rate: float | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": new_name("logged"), "model": model, "version": 1}
    if log_sample_rate is not None:
        body["log_sample_rate"] = log_sample_rate
    response = client.post(f"{API}/deployments", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def predict(client: TestClient, headers: dict[str, str], name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/deployments/{name}/predict", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def flush(app: FastAPI) -> int:
    log: PredictionLog = app.state.prediction_log
    return log.flush()


def deployment_row_id(app: FastAPI, name: str) -> int:
    with app.state.sessions(write=False) as session:
        return int(session.scalars(select(Deployment.id).where(Deployment.name == name)).one())


def segments_of(app: FastAPI, deployment: str) -> list[PredictionSegment]:
    deployment_id = deployment_row_id(app, deployment)
    with app.state.sessions(write=False) as session:
        return list(
            session.scalars(
                select(PredictionSegment)
                .where(PredictionSegment.deployment_id == deployment_id)
                .order_by(PredictionSegment.id)
            ).all()
        )
