"""Registry bytes are whole, verified and never orphaned: uploads with a wrong Content-Digest,
a store that fails mid-upload, a database that fails after the files went up, a delete whose
commit fails, a corrupted stored file, and a model created with its version. Through HTTP, on
SQLite and Postgres, with a local and an S3 artifact store."""

import base64
import hashlib
import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.storage.base import ArtifactStore
from app.storage.s3 import S3ArtifactStore
from tests.conftest import S3_REGION, free_port, serve_in_thread
from tests.factories import make_run
from tests.registry.conftest import (
    failing_statement,
    trained_pipeline,
    upload_run_folder,
    write_model_folder,
    zip_folder,
)


def digest_header(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def new_name() -> str:
    return f"integrity-{uuid.uuid4().hex[:8]}"


def create_model(client: TestClient, headers: dict[str, str]) -> str:
    name = new_name()
    assert client.post("/api/v1/models", json={"name": name}, headers=headers).status_code == 201
    return name


def upload_zip(client: TestClient, headers: dict[str, str], name: str, body: bytes, **extra: str) -> httpx.Response:
    return client.post(
        f"/api/v1/models/{name}/versions", content=body, headers={**headers, "Content-Type": "application/zip", **extra}
    )


def stored_under(app: FastAPI, prefix: str) -> list[str]:
    store: ArtifactStore = app.state.store
    found = []
    for entry in store.list_dir(prefix):
        path = f"{prefix}/{entry.path}"
        found.extend(stored_under(app, path) if entry.is_dir else [path])
    return found


class NthPutFails:
    """The app's own store, but its Nth put goes to an S3 endpoint nobody listens on: botocore's
    real connection failure in the middle of a multi-file upload."""

    def __init__(self, store: ArtifactStore, fail_on: int) -> None:
        self._store = store
        self._dead = S3ArtifactStore("unreachable", "", f"http://127.0.0.1:{free_port()}", S3_REGION)
        self._fail_on = fail_on
        self.puts = 0

    def put_file(self, key: str, fileobj: BinaryIO, *, if_absent: bool = False) -> None:
        self.puts += 1
        target = self._dead if self.puts == self._fail_on else self._store
        target.put_file(key, fileobj, if_absent=if_absent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return zip_folder(write_model_folder(tmp_path_factory.mktemp("integrity-model"), trained_pipeline()))


def assert_no_version(client: TestClient, app: FastAPI, headers: dict[str, str], name: str) -> None:
    assert client.get(f"/api/v1/models/{name}/versions/1", headers=headers).status_code == 404
    assert stored_under(app, f"models/{name}") == []


# ---- Content-Digest ---------------------------------------------------------------------------


def test_an_upload_with_its_digest_is_registered(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    name = create_model(registry, reg_editor)

    created = upload_zip(registry, reg_editor, name, archive, **{"Content-Digest": digest_header(archive)})

    assert created.status_code == 201, created.text
    assert sorted(stored_under(registry_app, f"models/{name}")) == [
        f"models/{name}/1/model.json",
        f"models/{name}/1/model.skops",
    ]


def test_a_digest_mismatch_is_400_and_stores_nothing(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    name = create_model(registry, reg_editor)

    refused = upload_zip(registry, reg_editor, name, archive, **{"Content-Digest": digest_header(archive + b"x")})

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "digest_mismatch"
    assert_no_version(registry, registry_app, reg_editor, name)


def test_a_malformed_digest_is_400_naming_the_header(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    name = create_model(registry, reg_editor)

    refused = upload_zip(registry, reg_editor, name, archive, **{"Content-Digest": "sha-256=deadbeef"})

    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_content_digest"
    assert "Content-Digest" in refused.json()["detail"]
    assert_no_version(registry, registry_app, reg_editor, name)


# ---- failures during an upload leave nothing ------------------------------------------------


def test_a_store_outage_on_the_second_file_is_503_and_leaves_nothing(
    registry_app: FastAPI,
    registry: TestClient,
    reg_editor: dict[str, str],
    archive: bytes,
    s3_endpoint: str,  # the fake credentials the dead endpoint's requests are signed with
) -> None:
    name = create_model(registry, reg_editor)
    store = registry_app.state.store
    flaky = NthPutFails(store, fail_on=2)
    registry_app.state.store = flaky
    try:
        failed = upload_zip(registry, reg_editor, name, archive)
    finally:
        registry_app.state.store = store

    assert failed.status_code == 503, failed.text
    assert failed.headers["retry-after"] == "2"
    assert failed.json()["code"] == "storage_unavailable"
    assert flaky.puts == 2
    assert_no_version(registry, registry_app, reg_editor, name)
    again = upload_zip(registry, reg_editor, name, archive)
    assert (again.status_code, again.json()["version"]) == (201, 1)


def test_a_database_failure_after_the_files_went_up_leaves_nothing(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    name = create_model(registry, reg_editor)

    with failing_statement(registry_app, "audit_event", "resource_id", f"{name}/%"):
        failed = upload_zip(registry, reg_editor, name, archive)

    assert failed.status_code == 500
    assert_no_version(registry, registry_app, reg_editor, name)


def test_a_commit_that_fails_after_the_files_went_up_leaves_nothing(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    if registry_app.state.sessions.engine.dialect.name != "postgresql":
        pytest.skip("a constraint checked at commit is a Postgres feature")
    name = create_model(registry, reg_editor)

    with failing_statement(registry_app, "audit_event", "resource_id", f"{name}/%", at_commit=True):
        failed = upload_zip(registry, reg_editor, name, archive)

    assert failed.status_code == 500
    assert_no_version(registry, registry_app, reg_editor, name)


# ---- delete ------------------------------------------------------------------------------------


def test_a_delete_whose_commit_fails_keeps_the_files(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    if registry_app.state.sessions.engine.dialect.name != "postgresql":
        pytest.skip("a constraint checked at commit is a Postgres feature")
    name = create_model(registry, reg_editor)
    assert upload_zip(registry, reg_editor, name, archive).status_code == 201

    with failing_statement(registry_app, "audit_event", "resource_id", f"{name}/%", at_commit=True):
        failed = registry.delete(f"/api/v1/models/{name}/versions/1", headers=reg_editor)

    assert failed.status_code == 500
    assert registry.get(f"/api/v1/models/{name}/versions/1", headers=reg_editor).status_code == 200
    download = registry.get(f"/api/v1/models/{name}/versions/1/download", headers=reg_editor)
    assert download.status_code == 200, download.text


def test_a_committed_delete_removes_the_files(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes
) -> None:
    name = create_model(registry, reg_editor)
    assert upload_zip(registry, reg_editor, name, archive).status_code == 201
    assert stored_under(registry_app, f"models/{name}") != []

    assert registry.delete(f"/api/v1/models/{name}/versions/1", headers=reg_editor).status_code == 204

    assert_no_version(registry, registry_app, reg_editor, name)


# ---- downloads are checked -------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_a_download_of_a_file_damaged_in_the_store_is_refused(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], archive: bytes, damage: str
) -> None:
    name = create_model(registry, reg_editor)
    assert upload_zip(registry, reg_editor, name, archive).status_code == 201
    store: ArtifactStore = registry_app.state.store
    if damage == "changed":
        store.put_file(f"models/{name}/1/model.skops", io.BytesIO(b"flipped bits"))
    else:
        store.delete(f"models/{name}/1/model.skops")

    refused = registry.get(f"/api/v1/models/{name}/versions/1/download", headers=reg_editor)

    assert refused.status_code == 500
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "stored_file_corrupt"
    assert refused.json()["file"] == "model.skops"


# ---- a model created with its version ----------------------------------------------------------


def logged_run(client: TestClient, headers: dict[str, str], folder: Path) -> str:
    run = make_run(client, headers)
    upload_run_folder(client, headers, run["id"], folder)
    return str(run["id"])


def test_a_refused_version_with_create_model_leaves_no_model(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path, pickled_model: bytes
) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickled_model)
    run_id = logged_run(registry, reg_editor, folder)
    name = new_name()

    refused = registry.post(
        f"/api/v1/models/{name}/versions", json={"run_id": run_id, "create_model": True}, headers=reg_editor
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "pickle_refused"
    assert registry.get(f"/api/v1/models/{name}", headers=reg_editor).status_code == 404


def test_concurrent_first_versions_with_create_model_make_one_model(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    run_id = logged_run(registry, reg_editor, model_folder)
    name = new_name()
    with serve_in_thread(registry_app) as url:

        def one(_: int) -> int:
            with httpx.Client(base_url=url, headers=reg_editor, timeout=120) as http:
                response = http.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id, "create_model": True})
                assert response.status_code == 201, response.text
                return int(response.json()["version"])

        with ThreadPoolExecutor(8) as pool:
            numbers = sorted(pool.map(one, range(8)))

    assert numbers == list(range(1, 9))
    models = registry.get("/api/v1/models", params={"name_like": name}, headers=reg_editor).json()["models"]
    assert [(m["name"], m["latest_version"]) for m in models] == [(name, 8)]
