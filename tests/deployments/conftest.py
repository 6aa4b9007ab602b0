"""Helpers for deployment tests: real scikit-learn models registered through HTTP."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# The registry's app on each database with a local folder and an S3 bucket, for the tests where
# the artifact store matters.
from tests.registry.conftest import (  # noqa: F401
    artifact_backend,
    reg_admin,
    registry,
    registry_app,
    trained_pipeline,
    training_frame,
    write_model_folder,
    zip_folder,
)


def strict_pipeline() -> Any:
    """A pipeline that raises on a plan it never saw (OneHotEncoder's handle_unknown='error')."""
    frame, target = training_frame()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="error"), ["plan"])]
    )
    return make_pipeline(pre, LogisticRegression()).fit(frame, target)


@pytest.fixture(scope="session")
def model_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Zipped model folders: a random forest, a strict logistic regression, one without a
    signature (FAILED in the registry), and one whose signature does not fit its own input
    example (READY, but it cannot warm up)."""
    root = tmp_path_factory.mktemp("deploy-models")
    bad_signature = {
        "signature": {
            "inputs": [{"name": "age", "type": "boolean"}, {"name": "plan", "type": "string"}],
            "outputs": [{"name": "prediction", "type": "long"}],
        }
    }
    return {
        "forest": zip_folder(write_model_folder(root / "forest", trained_pipeline())),
        "strict": zip_folder(write_model_folder(root / "strict", strict_pipeline())),
        "broken": zip_folder(
            write_model_folder(root / "broken", trained_pipeline(), manifest_overrides={"signature": None})
        ),
        "cold": zip_folder(write_model_folder(root / "cold", trained_pipeline(), manifest_overrides=bad_signature)),
    }


def new_name(prefix: str = "dep") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(client: TestClient, headers: dict[str, str], name: str, body: bytes) -> dict[str, Any]:
    """Register a version of `name` (the model is created when missing) from a zipped folder."""
    if client.get(f"/api/v1/models/{name}", headers=headers).status_code == 404:
        assert client.post("/api/v1/models", json={"name": name}, headers=headers).status_code == 201
    response = client.post(
        f"/api/v1/models/{name}/versions", content=body, headers={**headers, "Content-Type": "application/zip"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "READY", response.text
    return dict(response.json())


def deploy(client: TestClient, headers: dict[str, str], name: str, model: str, version: int) -> dict[str, Any]:
    response = client.post(
        "/api/v1/deployments", json={"name": name, "model": model, "version": version}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def rows(n: int = 2) -> list[dict[str, Any]]:
    return [{"age": 20.0 + 30 * (i % 2), "plan": "basic" if i % 3 else "pro"} for i in range(n)]
