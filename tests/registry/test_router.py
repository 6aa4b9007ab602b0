"""The model registry through HTTP, on SQLite and Postgres, with a local and an S3 artifact store."""

import hashlib
import io
import os
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import skops.io as sio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.preprocessing import FunctionTransformer

from tests.conftest import serve_in_thread
from tests.factories import log_batch, make_run
from tests.registry.conftest import trained_pipeline, upload_run_folder, write_model_folder, zip_folder


def new_model(client: TestClient, headers: dict[str, str], **fields: object) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    response = client.post("/api/v1/models", json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return name


def logged_run(client: TestClient, headers: dict[str, str], folder: Path) -> str:
    run = make_run(client, headers)
    log_batch(
        client, headers, run["id"], metrics=[{"key": "f1", "value": 0.91}], params=[{"key": "model", "value": "rf"}]
    )
    upload_run_folder(client, headers, run["id"], folder)
    return str(run["id"])


def register(
    client: TestClient, headers: dict[str, str], name: str, run_id: str, path: str = "model"
) -> httpx.Response:
    return client.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id, "path": path}, headers=headers)


def test_register_from_a_run_and_resolve_by_number_alias_and_latest(
    registry: TestClient, reg_editor: dict[str, str], reg_admin: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor, model_card="## Intended use\nChurn scoring.", tags={"team": "risk"})
    run_id = logged_run(registry, reg_editor, model_folder)
    created = register(registry, reg_editor, name, run_id)
    assert created.status_code == 201, created.text
    version = created.json()
    assert (version["version"], version["status"], version["flavor"]) == (1, "READY", "sklearn")
    assert version["source_run_id"] == run_id
    assert version["metrics"] == {"f1": 0.91}
    assert version["signature"]["inputs"][0] == {"name": "age", "type": "double"}
    assert version["storage_location"] == f"models/{name}/1"
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_folder.iterdir()}
    assert {f["path"]: f["sha256"] for f in version["files"]} == expected

    second = register(registry, reg_editor, name, run_id).json()
    assert second["version"] == 2
    alias = registry.put(f"/api/v1/models/{name}/aliases/candidate", json={"version": 1}, headers=reg_editor)
    assert alias.json() == {"model": name, "alias": "candidate", "version": 1, "previous_version": None}
    moved = registry.put(f"/api/v1/models/{name}/aliases/candidate", json={"version": 2}, headers=reg_editor).json()
    assert moved["previous_version"] == 1
    assert registry.get(f"/api/v1/models/{name}/versions/candidate", headers=reg_editor).json()["version"] == 2
    assert registry.get(f"/api/v1/models/{name}/versions/latest", headers=reg_editor).json()["version"] == 2
    assert registry.get(f"/api/v1/models/{name}/versions/1", headers=reg_editor).json()["aliases"] == []
    model = registry.get(f"/api/v1/models/{name}", headers=reg_editor).json()
    assert model["aliases"] == {"candidate": 2}
    assert model["latest_version"] == 2
    events = registry.get(
        "/api/v1/audit", params={"resource_type": "model_alias", "resource_id": f"{name}@candidate"}, headers=reg_admin
    ).json()["events"]
    assert [(e["detail"]["version"], e["detail"]["previous_version"]) for e in events] == [(2, 1), (1, None)]


def test_download_gives_back_the_exact_files(
    registry: TestClient, reg_editor: dict[str, str], reg_viewer: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    register(registry, reg_editor, name, logged_run(registry, reg_editor, model_folder))
    download = registry.get(f"/api/v1/models/{name}/versions/1/download", headers=reg_viewer)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {
            p.name: p.read_bytes() for p in model_folder.iterdir()
        }


def test_lineage_reaches_the_run_and_its_experiment(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, model_folder)
    register(registry, reg_editor, name, run_id)
    lineage = registry.get(f"/api/v1/models/{name}/versions/1/lineage", headers=reg_editor).json()
    assert lineage["source_run"]["id"] == run_id
    assert lineage["source_run"]["params"] == {"model": "rf"}
    assert lineage["source_run"]["metrics"] == {"f1": 0.91}
    assert lineage["experiment"]["id"] == lineage["source_run"]["experiment_id"]
    assert lineage["datasets"] == []
    assert lineage["evaluations"] == []


def test_direct_upload_of_a_zipped_folder(registry: TestClient, reg_editor: dict[str, str], model_folder: Path) -> None:
    name = new_model(registry, reg_editor)
    response = registry.post(
        f"/api/v1/models/{name}/versions",
        content=zip_folder(model_folder),
        headers={**reg_editor, "Content-Type": "application/zip"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "READY"
    assert response.json()["source_run_id"] is None


def test_twenty_concurrent_registrations_get_1_to_20(
    registry_app: FastAPI, registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, model_folder)
    archive = zip_folder(model_folder)
    with serve_in_thread(registry_app) as url:

        def one(i: int) -> int:
            with httpx.Client(base_url=url, headers=reg_editor, timeout=120) as http:
                if i % 2:
                    response = http.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id, "path": "model"})
                else:
                    response = http.post(
                        f"/api/v1/models/{name}/versions", content=archive, headers={"Content-Type": "application/zip"}
                    )
                assert response.status_code == 201, response.text
                return int(response.json()["version"])

        with ThreadPoolExecutor(20) as pool:
            numbers = sorted(pool.map(one, range(20)))
    assert numbers == list(range(1, 21))
    listed = registry.get(f"/api/v1/models/{name}/versions", params={"max_results": 100}, headers=reg_editor).json()
    assert [v["version"] for v in listed["versions"]] == list(range(20, 0, -1))


def test_an_invalid_model_is_failed_with_the_reason_and_cannot_be_aliased(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"not a model")
    name = new_model(registry, reg_editor)
    run_id = logged_run(registry, reg_editor, folder)
    failed = register(registry, reg_editor, name, run_id)
    assert failed.status_code == 201
    assert failed.json()["status"] == "FAILED"
    assert "model.json" in failed.json()["status_message"]
    assert failed.json()["files"] == []
    alias = registry.put(f"/api/v1/models/{name}/aliases/candidate", json={"version": 1}, headers=reg_editor)
    assert alias.status_code == 409
    assert "FAILED" in alias.json()["detail"]


def test_incomplete_manifest_and_tampered_file_fail(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    name = new_model(registry, reg_editor)
    no_signature = write_model_folder(tmp_path / "a", trained_pipeline(), manifest_overrides={"signature": None})
    failed = register(registry, reg_editor, name, logged_run(registry, reg_editor, no_signature)).json()
    assert failed["status"] == "FAILED"
    assert "signature" in failed["status_message"]
    tampered = write_model_folder(tmp_path / "b", trained_pipeline())
    tampered.joinpath("model.json").write_text(
        tampered.joinpath("model.json").read_text().replace('"model.skops": "', '"model.skops": "0')
    )
    failed = register(registry, reg_editor, name, logged_run(registry, reg_editor, tampered)).json()
    assert failed["status"] == "FAILED"
    assert "SHA-256" in failed["status_message"]


def test_unknown_model_run_or_path_is_404(registry: TestClient, reg_editor: dict[str, str], model_folder: Path) -> None:
    name = new_model(registry, reg_editor)
    assert register(registry, reg_editor, "no-such-model", "a" * 32).status_code == 404
    assert register(registry, reg_editor, name, "a" * 32).json()["code"] == "run_not_found"
    run_id = logged_run(registry, reg_editor, model_folder)
    missing_path = register(registry, reg_editor, name, run_id, path="elsewhere")
    assert missing_path.status_code == 404
    assert missing_path.json()["code"] == "artifact_not_found"
    assert registry.get(f"/api/v1/models/{name}/versions/7", headers=reg_editor).status_code == 404
    assert registry.get(f"/api/v1/models/{name}/versions/nope", headers=reg_editor).json()["code"] == "alias_not_found"


def test_pickles_are_refused(
    registry: TestClient, reg_editor: dict[str, str], reg_admin: dict[str, str], pickled_model: bytes, tmp_path: Path
) -> None:
    name = new_model(registry, reg_editor)
    bare = registry.post(
        f"/api/v1/models/{name}/versions",
        content=pickled_model,
        headers={**reg_admin, "Content-Type": "application/octet-stream"},
    )
    assert bare.status_code == 400
    assert bare.json()["code"] == "pickle_refused"
    assert "skops" in bare.json()["detail"]
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(pickled_model)
    from_run = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert from_run.status_code == 400
    assert from_run.json()["files"] == ["model.joblib"]
    assert registry.get(f"/api/v1/models/{name}", headers=reg_editor).json()["latest_version"] == 0


def test_a_skops_file_with_an_untrusted_type_is_refused_listing_it(
    registry: TestClient, reg_editor: dict[str, str], tmp_path: Path
) -> None:
    folder = write_model_folder(tmp_path / "evil", FunctionTransformer(func=os.system))
    name = new_model(registry, reg_editor)
    response = register(registry, reg_editor, name, logged_run(registry, reg_editor, folder))
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "untrusted_model"
    assert problem["untrusted_types"] == sio.get_untrusted_types(file=folder / "model.skops")
    assert "system" in problem["detail"]


@pytest.mark.parametrize("alias", ["Prod", "has space", "a.b", "x" * 65, "123"])
def test_alias_names_outside_the_pattern_are_422(registry: TestClient, reg_editor: dict[str, str], alias: str) -> None:
    name = new_model(registry, reg_editor)
    response = registry.put(f"/api/v1/models/{name}/aliases/{alias}", json={"version": 1}, headers=reg_editor)
    assert response.status_code == 422


def test_alias_permissions_and_protected_aliases(
    registry: TestClient,
    reg_editor: dict[str, str],
    reg_viewer: dict[str, str],
    reg_admin: dict[str, str],
    model_folder: Path,
) -> None:
    name = new_model(registry, reg_editor)
    register(registry, reg_editor, name, logged_run(registry, reg_editor, model_folder))
    url = f"/api/v1/models/{name}/aliases/production"
    assert (
        registry.put(f"/api/v1/models/{name}/aliases/staging", json={"version": 1}, headers=reg_viewer).status_code
        == 403
    )
    refused = registry.put(url, json={"version": 1}, headers=reg_editor)
    assert refused.status_code == 403
    assert "protected" in refused.json()["detail"]
    assert registry.put(url, json={"version": 1}, headers=reg_admin).status_code == 200
    assert registry.delete(url, headers=reg_editor).status_code == 403
    held = registry.delete(f"/api/v1/models/{name}/versions/1", headers=reg_editor)
    assert held.status_code == 409
    assert "production" in held.json()["detail"]
    assert registry.delete(url, headers=reg_admin).status_code == 204
    assert registry.delete(f"/api/v1/models/{name}/versions/1", headers=reg_editor).status_code == 204
    assert registry.get(f"/api/v1/models/{name}/versions/1", headers=reg_editor).status_code == 404


def test_models_are_searchable_and_archived_not_deleted(registry: TestClient, reg_editor: dict[str, str]) -> None:
    prefix = f"search-{uuid.uuid4().hex[:6]}"
    for suffix, team in (("a", "risk"), ("b", "growth"), ("c", "risk")):
        registry.post("/api/v1/models", json={"name": f"{prefix}-{suffix}", "tags": {"team": team}}, headers=reg_editor)
    found = registry.get(
        "/api/v1/models", params={"name_like": f"{prefix}%", "tag": "team=risk"}, headers=reg_editor
    ).json()["models"]
    assert [m["name"] for m in found] == [f"{prefix}-a", f"{prefix}-c"]
    assert registry.post("/api/v1/models", json={"name": f"{prefix}-a"}, headers=reg_editor).status_code == 409
    assert registry.delete(f"/api/v1/models/{prefix}-a", headers=reg_editor).status_code == 204
    remaining = registry.get("/api/v1/models", params={"name_like": f"{prefix}%"}, headers=reg_editor).json()["models"]
    assert [m["name"] for m in remaining] == [f"{prefix}-b", f"{prefix}-c"]
    archived = registry.get(f"/api/v1/models/{prefix}-a", headers=reg_editor).json()
    assert archived["lifecycle_stage"] == "archived"
    bad = registry.post("/api/v1/models", json={"name": "a/b"}, headers=reg_editor)
    assert bad.status_code == 422


def test_a_version_keeps_its_runs_nan_and_infinite_metrics(
    registry: TestClient, reg_editor: dict[str, str], model_folder: Path
) -> None:
    name = new_model(registry, reg_editor)
    run = make_run(registry, reg_editor)
    metrics = [{"key": "loss", "value": "NaN"}, {"key": "gain", "value": "Infinity"}, {"key": "f1", "value": 0.5}]
    log_batch(registry, reg_editor, run["id"], metrics=metrics)
    upload_run_folder(registry, reg_editor, run["id"], model_folder)
    created = register(registry, reg_editor, name, run["id"])
    assert created.status_code == 201, created.text
    assert created.json()["metrics"] == {"loss": "NaN", "gain": "Infinity", "f1": 0.5}
    got = registry.get(f"/api/v1/models/{name}/versions/1", headers=reg_editor)
    assert got.json()["metrics"] == {"loss": "NaN", "gain": "Infinity", "f1": 0.5}
