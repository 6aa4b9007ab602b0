"""The registry's pickle rule at deploy time, on an app that lets admins register pickles: an
editor may not deploy one; for an admin it fails to warm up, as a pickle has no input example
(nor a signature to check requests against): serving pickles is not available yet. Nothing is created either way."""

import pickle
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.conftest import app_with_admin, user_headers
from tests.deployments.conftest import new_name
from tests.registry.conftest import trained_pipeline

API = "/api/v1"


@pytest.fixture(scope="module")
def pickle_client(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"pickles-{backend}"),
        database_url=postgres_database() if backend == "postgres" else None,
        admin_password="admin-password-for-tests",
        log_json=False,
        allow_pickle=True,
    )
    with app_with_admin(settings) as client:
        yield client, {"Authorization": client.headers["Authorization"]}


def test_a_pickle_version_is_not_deployed(pickle_client: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = pickle_client
    model = new_name("pickled")
    assert client.post(f"{API}/models", json={"name": model}, headers=admin).status_code == 201
    uploaded = client.post(
        f"{API}/models/{model}/versions",
        params={"filename": "model.pkl"},
        content=pickle.dumps(trained_pipeline()),
        headers={**admin, "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["flavor"] == "sklearn-pickle"
    editor = user_headers(client, admin, "editor")
    name = new_name()

    by_editor = client.post(f"{API}/deployments", json={"name": name, "model": model, "version": 1}, headers=editor)
    assert by_editor.status_code == 400, by_editor.text
    assert by_editor.json()["code"] == "pickle_refused"
    by_admin = client.post(f"{API}/deployments", json={"name": name, "model": model, "version": 1}, headers=admin)
    assert by_admin.status_code == 422, by_admin.text
    assert by_admin.json()["code"] == "warmup_failed"
    assert "not available yet" in by_admin.json()["detail"]
    assert client.get(f"{API}/deployments/{name}", headers=admin).status_code == 404
