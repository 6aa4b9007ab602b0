"""SHIPYARD_MODEL_CACHE_SIZE bounds the loaded versions a process holds: with room for one, two
deployments predicted in turn both answer (a version pushed out is loaded again, checked as at
warm-up), each from its own version."""

import io
from collections.abc import Callable, Iterator
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.conftest import app_with_admin
from tests.deployments.conftest import deploy, new_name, register, rows


@pytest.fixture(scope="module")
def small_cache(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[tuple[FastAPI, TestClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"cache-{backend}"),
        database_url=postgres_database() if backend == "postgres" else None,
        admin_password="admin-password-for-tests",
        log_json=False,
        model_cache_size=1,
    )
    with app_with_admin(settings) as client:
        yield cast(FastAPI, client.app), client, {"Authorization": client.headers["Authorization"]}


def test_two_deployments_share_a_cache_of_one(
    small_cache: tuple[FastAPI, TestClient, dict[str, str]], model_zips: dict[str, bytes]
) -> None:
    app, client, admin = small_cache
    names = {}
    for kind in ("forest", "strict"):
        model = new_name(kind)
        register(client, admin, model, model_zips[kind])
        names[kind] = new_name()
        deploy(client, admin, names[kind], model, 1)
    for _ in range(3):
        for kind, name in names.items():
            answer = client.post(f"/api/v1/deployments/{name}/predict", json={"inputs": rows()}, headers=admin)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"].startswith(kind)
    assert len(app.state.serving.cache) == 1


def test_a_version_that_no_longer_loads_is_a_503_and_the_others_answer(
    small_cache: tuple[FastAPI, TestClient, dict[str, str]], model_zips: dict[str, bytes]
) -> None:
    app, client, admin = small_cache
    first_model, second_model = new_name("forest"), new_name("strict")
    stored = register(client, admin, first_model, model_zips["forest"])["storage_location"]
    register(client, admin, second_model, model_zips["strict"])
    first, second = new_name(), new_name()
    deploy(client, admin, first, first_model, 1)
    deploy(client, admin, second, second_model, 1)  # pushes the first version out of the cache
    app.state.store.put_file(f"{stored}/model.skops", io.BytesIO(b"PK\x03\x04 damaged in the store"))

    broken = client.post(f"/api/v1/deployments/{first}/predict", json={"inputs": rows()}, headers=admin)
    assert broken.status_code == 503, broken.text
    assert broken.json()["code"] == "service_unavailable"
    assert "SHA-256" in broken.json()["detail"]
    answer = client.post(f"/api/v1/deployments/{second}/predict", json={"inputs": rows()}, headers=admin)
    assert answer.status_code == 200
