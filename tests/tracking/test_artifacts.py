"""Run artifacts through HTTP: streamed upload and download, listing, confined paths, size cap."""

import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.factories import make_run


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_upload_download_and_list(client: TestClient, editor: dict[str, str], viewer: dict[str, str]) -> None:
    run = make_run(client, editor)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    stored = client.put(
        f"/api/v1/runs/{run['id']}/artifacts/model/weights.bin",
        content=payload,
        headers={**editor, "Content-Type": "application/octet-stream"},
    )
    assert stored.status_code == 201, stored.text
    assert stored.json() == {
        "path": "model/weights.bin",
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    client.put(f"/api/v1/runs/{run['id']}/artifacts/notes.txt", content=b"<script>x</script>", headers=editor)

    download = client.get(f"/api/v1/runs/{run['id']}/artifacts/model/weights.bin", headers=viewer)
    assert download.status_code == 200
    assert download.content == payload
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    html = client.get(f"/api/v1/runs/{run['id']}/artifacts/notes.txt", headers=viewer)
    assert html.headers["content-type"] == "application/octet-stream"

    top = client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=viewer).json()
    assert top["files"] == [
        {"path": "model", "is_dir": True, "size": None},
        {"path": "notes.txt", "is_dir": False, "size": 18},
    ]
    inner = client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "model"}, headers=viewer).json()
    assert inner["files"] == [{"path": "model/weights.bin", "is_dir": False, "size": len(payload)}]


def test_missing_artifact_and_run_are_404(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    missing = client.get(f"/api/v1/runs/{run['id']}/artifacts/nope.txt", headers=editor)
    assert missing.status_code == 404
    assert missing.json()["code"] == "artifact_not_found"
    no_run = client.put(f"/api/v1/runs/{'a' * 32}/artifacts/x.txt", content=b"x", headers=editor)
    assert no_run.status_code == 404


@pytest.mark.parametrize(
    "raw_path",
    [
        "%2e%2e/%2e%2e/escape.txt",
        "a/%252e%252e/%252e%252e/escape.txt",
        "..%2f..%2fescape.txt",
        "%2fetc%2fpasswd",
        "a%5c..%5cescape.txt",
        "C:%5cwindows%5cx",
        "c:/x.txt",
        "a%00b.txt",
        "a//b.txt",
        "%2e/a.txt",
        "a/b.txt%23frag",
        "a/b.txt%3bx",
        "a%3fb",
    ],
)
def test_escaping_paths_are_400_and_nothing_is_written(
    client: TestClient, editor: dict[str, str], settings: Settings, raw_path: str
) -> None:
    run = make_run(client, editor)
    root = Path(settings.resolved_artifact_uri)
    before = files_under(root)
    before_outside = files_under(root.parent)
    response = client.put(f"/api/v1/runs/{run['id']}/artifacts/{raw_path}", content=b"owned", headers=editor)
    assert response.status_code == 400, (raw_path, response.status_code, response.text)
    assert response.json()["code"] == "invalid_path"
    assert files_under(root) == before
    assert files_under(root.parent) == before_outside
    read = client.get(f"/api/v1/runs/{run['id']}/artifacts/{raw_path}", headers=editor)
    assert read.status_code == 400
    listing = client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "../.."}, headers=editor)
    assert listing.status_code == 400


def test_uploads_over_the_cap_are_413_and_leave_nothing(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    run = make_run(client, editor)
    root = Path(settings.resolved_artifact_uri)
    before = files_under(root)
    too_big = b"x" * (settings.max_upload_bytes + 1)
    declared = client.put(f"/api/v1/runs/{run['id']}/artifacts/big.bin", content=too_big, headers=editor)
    assert declared.status_code == 413

    def chunks() -> object:
        for _ in range(settings.max_upload_bytes // (1024 * 1024) + 2):
            yield b"y" * (1024 * 1024)

    streamed = client.put(f"/api/v1/runs/{run['id']}/artifacts/big2.bin", content=chunks(), headers=editor)
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "payload_too_large"
    assert files_under(root) == before
