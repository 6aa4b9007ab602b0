"""Idempotency-Key on model version registration, as on jobs: the same key and body register one
version, another body is a 422, keys are per user, and concurrent requests never fail."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import serve_in_thread, user_headers
from tests.factories import make_run
from tests.registry.conftest import upload_run_folder, zip_folder


def new_model(client: TestClient, headers: dict[str, str]) -> str:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    response = client.post("/api/v1/models", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return name


def logged_run(client: TestClient, headers: dict[str, str], folder: Path) -> str:
    run = make_run(client, headers)
    upload_run_folder(client, headers, run["id"], folder)
    return str(run["id"])


def versions_of(client: TestClient, headers: dict[str, str], name: str) -> list[int]:
    listed = client.get(f"/api/v1/models/{name}/versions", headers=headers)
    assert listed.status_code == 200, listed.text
    return [v["version"] for v in listed.json()["versions"]]


def test_the_same_key_registers_one_version_and_another_body_is_a_422(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, model_folder)
    url = f"/api/v1/models/{name}/versions"
    keyed = {**reg_editor, "Idempotency-Key": f"release-{uuid.uuid4().hex}"}

    first = registry.post(url, json={"run_id": run_id, "path": "model"}, headers=keyed)
    again = registry.post(url, json={"run_id": run_id, "path": "model"}, headers=keyed)
    other = registry.post(url, json={"run_id": run_id, "path": "model", "description": "v2"}, headers=keyed)
    as_zip = registry.post(url, content=zip_folder(model_folder), headers={**keyed, "Content-Type": "application/zip"})

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["version"] == first.json()["version"] == 1
    assert again.json()["files"] == first.json()["files"]
    for refused in (other, as_zip):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "idempotency_key_reused"
    assert versions_of(registry, reg_editor, name) == [1]


def test_a_zip_upload_with_a_key_is_registered_once(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    headers = {**reg_editor, "Content-Type": "application/zip", "Idempotency-Key": uuid.uuid4().hex}
    archive = zip_folder(model_folder)

    first = registry.post(f"/api/v1/models/{name}/versions", content=archive, headers=headers)
    again = registry.post(f"/api/v1/models/{name}/versions", content=archive, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["version"] == first.json()["version"]
    assert versions_of(registry, reg_editor, name) == [1]


def test_registration_keys_are_each_users_own(
    registry: TestClient, reg_editor: dict[str, str], reg_admin: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, model_folder)
    other_editor = user_headers(registry, reg_admin, "editor")
    key = {"Idempotency-Key": f"shared-{uuid.uuid4().hex}"}
    body = {"run_id": run_id, "path": "model"}

    mine = registry.post(f"/api/v1/models/{name}/versions", json=body, headers={**reg_editor, **key})
    theirs = registry.post(f"/api/v1/models/{name}/versions", json=body, headers={**other_editor, **key})

    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert {mine.json()["version"], theirs.json()["version"]} == {1, 2}


def test_concurrent_registrations_with_one_key_make_one_version(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, model_folder)
    headers = {**reg_editor, "Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    start = threading.Barrier(8)
    with serve_in_thread(registry_app) as url:

        def register(_: int) -> httpx.Response:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                start.wait()
                return http.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id, "path": "model"})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(register, range(8)))

    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert {a.json()["version"] for a in answers} == {1}
    assert versions_of(registry, reg_editor, name) == [1]
