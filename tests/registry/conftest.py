"""Fixtures for registry tests: real scikit-learn models saved in the registry format."""

import hashlib
import io
import json
import pickle
import platform
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import text

from app.settings import Settings
from tests.conftest import app_with_admin, user_headers


def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"age": rng.uniform(18, 80, 120), "plan": rng.choice(["basic", "pro"], 120)})
    target = (frame["age"] > 45).astype(int).to_numpy()
    return frame, target


def trained_pipeline() -> Any:
    frame, target = training_frame()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    return make_pipeline(pre, RandomForestClassifier(n_estimators=5, random_state=0)).fit(frame, target)


def write_model_folder(folder: Path, estimator: Any, *, manifest_overrides: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(estimator, folder / "model.skops")
    frame, _ = training_frame()
    manifest: dict[str, Any] = {
        "format_version": 1,
        "flavor": "sklearn",
        "model_file": "model.skops",
        "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "python_version": platform.python_version(),
        "library_versions": {"scikit-learn": sklearn.__version__},
        "signature": {
            "inputs": [{"name": "age", "type": "double"}, {"name": "plan", "type": "string"}],
            "outputs": [{"name": "prediction", "type": "long"}],
        },
        "input_example": {"columns": ["age", "plan"], "data": frame.head(2).to_numpy().tolist()},
        "artifacts": {"model.skops": hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()},
    }
    manifest.update(manifest_overrides or {})
    (folder / "model.json").write_text(json.dumps(manifest))
    return folder


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def upload_run_folder(
    client: TestClient, headers: dict[str, str], run_id: str, folder: Path, prefix: str = "model"
) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            response = client.put(
                f"/api/v1/runs/{run_id}/artifacts/{prefix}/{path.relative_to(folder).as_posix()}",
                content=path.read_bytes(),
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 201, response.text


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_folder(tmp_path_factory.mktemp("model"), trained_pipeline())


@pytest.fixture(scope="session")
def pickled_model() -> bytes:
    return pickle.dumps(trained_pipeline())


@pytest.fixture(scope="session", params=["local", "s3"])
def artifact_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def registry(
    backend: str,
    artifact_backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database: Callable[[], str],
    request: pytest.FixtureRequest,
) -> Iterator[TestClient]:
    """A client of the app on each database backend, with its artifacts in a local folder or an S3
    bucket; it sends the first admin's token unless a request sends its own."""
    data_dir = tmp_path_factory.mktemp(f"registry-{backend}-{artifact_backend}")
    artifact_uri = None
    s3_endpoint = None
    if artifact_backend == "s3":
        s3_endpoint = request.getfixturevalue("s3_endpoint")
        bucket = f"registry-{uuid.uuid4().hex[:10]}"
        request.getfixturevalue("s3_client").create_bucket(Bucket=bucket)
        artifact_uri = f"s3://{bucket}/shipyard"
    settings = Settings(
        data_dir=data_dir,
        database_url=postgres_database() if backend == "postgres" else None,
        artifact_uri=artifact_uri,
        s3_endpoint_url=s3_endpoint,
        admin_password="admin-password-for-tests",
        log_json=False,
        max_upload_bytes=50 * 1024 * 1024,
    )
    with app_with_admin(settings) as client:
        yield client


@pytest.fixture(scope="session")
def registry_app(registry: TestClient) -> FastAPI:
    return cast(FastAPI, registry.app)


@pytest.fixture(scope="session")
def reg_admin(registry: TestClient) -> dict[str, str]:
    return {"Authorization": registry.headers["Authorization"]}


@pytest.fixture(scope="session")
def reg_editor(registry: TestClient, reg_admin: dict[str, str]) -> dict[str, str]:
    return user_headers(registry, reg_admin, "editor")


@pytest.fixture(scope="session")
def reg_viewer(registry: TestClient, reg_admin: dict[str, str]) -> dict[str, str]:
    return user_headers(registry, reg_admin, "viewer")


@contextmanager
def failing_statement(app: FastAPI, table: str, column: str, like: str, *, at_commit: bool = False) -> Iterator[None]:
    """A trigger that makes the database refuse an insert into `table` whose `column` is LIKE
    `like`: at once, or (Postgres, `at_commit`) when the transaction commits."""
    engine = app.state.sessions.engine
    tag = f"fail_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER {tag} BEFORE INSERT ON {table} WHEN NEW.{column} LIKE '{like}' "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE FUNCTION {tag}() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                )
            )
            kind = "CONSTRAINT TRIGGER" if at_commit else "TRIGGER"
            when = "AFTER INSERT" if at_commit else "BEFORE INSERT"
            deferral = "DEFERRABLE INITIALLY DEFERRED" if at_commit else ""
            conn.execute(
                text(
                    f"CREATE {kind} {tag} {when} ON {table} {deferral} FOR EACH ROW "
                    f"WHEN (NEW.{column} LIKE '{like}') EXECUTE FUNCTION {tag}()"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text(f"DROP TRIGGER {tag}"))
            else:
                conn.execute(text(f"DROP TRIGGER {tag} ON {table}"))
                conn.execute(text(f"DROP FUNCTION {tag}()"))
