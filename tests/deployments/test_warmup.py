"""Warm before traffic, where the artifact store matters (a local folder and S3): a model file
corrupted in the store after registration is refused at load, and the serving version goes on."""

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.storage.base import ArtifactStore
from tests.deployments.conftest import deploy, new_name, register, rows

API = "/api/v1"


def test_a_corrupted_stored_file_is_refused_and_the_old_version_keeps_serving(
    registry: TestClient, registry_app: FastAPI, reg_admin: dict[str, str], model_zips: dict[str, bytes]
) -> None:
    model = new_name("model")
    register(registry, reg_admin, model, model_zips["forest"])
    second = register(registry, reg_admin, model, model_zips["forest"])
    name = new_name()
    deploy(registry, reg_admin, name, model, 1)
    store: ArtifactStore = registry_app.state.store
    store.put_file(f"{second['storage_location']}/model.skops", io.BytesIO(b"PK\x03\x04 not the registered bytes"))

    refused = registry.post(f"{API}/deployments/{name}/rollouts", json={"version": 2}, headers=reg_admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "warmup_failed"
    assert "SHA-256" in refused.json()["detail"]
    assert registry.get(f"{API}/deployments/{name}", headers=reg_admin).json()["revision"] == 1
    answer = registry.post(f"{API}/deployments/{name}/predict", json={"inputs": rows()}, headers=reg_admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 1
    fresh = registry.post(
        f"{API}/deployments", json={"name": new_name(), "model": model, "version": 2}, headers=reg_admin
    )
    assert fresh.status_code == 422
    assert fresh.json()["code"] == "warmup_failed"
