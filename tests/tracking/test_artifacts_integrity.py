"""Artifact uploads through HTTP on each database backend: a declared Content-Digest is checked
before anything is stored, `If-None-Match: *` refuses to overwrite (also under racing uploads),
and a store that cannot be reached is a 503 with Retry-After."""

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.conftest import app_with_admin, free_port, serve_in_thread
from tests.factories import make_run


def digest_header(body: bytes) -> dict[str, str]:
    return {"Content-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"}


def test_an_upload_with_its_digest_is_stored(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    body = b"weights" * 1000

    stored = client.put(
        f"/api/v1/runs/{run['id']}/artifacts/w.bin", content=body, headers={**editor, **digest_header(body)}
    )

    assert stored.status_code == 201, stored.text
    assert stored.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert client.get(f"/api/v1/runs/{run['id']}/artifacts/w.bin", headers=editor).content == body


def test_a_digest_mismatch_is_400_and_stores_nothing(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    url = f"/api/v1/runs/{run['id']}/artifacts/w.bin"

    refused = client.put(url, content=b"damaged on the way", headers={**editor, **digest_header(b"what was sent")})

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "digest_mismatch"
    assert refused.json()["expected"] == hashlib.sha256(b"what was sent").hexdigest()
    assert client.get(url, headers=editor).status_code == 404
    assert client.get(f"/api/v1/runs/{run['id']}/artifacts", headers=editor).json()["files"] == []


def test_a_mismatch_keeps_the_earlier_artifact(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    url = f"/api/v1/runs/{run['id']}/artifacts/w.bin"
    assert client.put(url, content=b"first", headers=editor).status_code == 201

    assert client.put(url, content=b"second", headers={**editor, **digest_header(b"other")}).status_code == 400

    assert client.get(url, headers=editor).content == b"first"


def test_a_malformed_digest_is_400_naming_the_header(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    url = f"/api/v1/runs/{run['id']}/artifacts/w.bin"

    for value in ["md5=:AAAA:", "sha-256=abc", "sha-256=:AAAA:"]:
        refused = client.put(url, content=b"x", headers={**editor, "Content-Digest": value})
        assert refused.status_code == 400, value
        assert refused.json()["code"] == "invalid_content_digest"
        assert "Content-Digest" in refused.json()["detail"]
    assert client.get(url, headers=editor).status_code == 404


def test_if_none_match_star_refuses_to_overwrite(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    url = f"/api/v1/runs/{run['id']}/artifacts/model/w.bin"

    created = client.put(url, content=b"first", headers={**editor, "If-None-Match": "*"})
    refused = client.put(url, content=b"second", headers={**editor, "If-None-Match": "*"})

    assert created.status_code == 201
    assert refused.status_code == 412
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "artifact_exists"
    assert refused.json()["path"] == "model/w.bin"
    assert client.get(url, headers=editor).content == b"first"
    assert client.put(url, content=b"third", headers=editor).status_code == 201, "without the header it replaces"
    assert client.get(url, headers=editor).content == b"third"


def test_if_none_match_with_an_etag_is_400(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)

    refused = client.put(
        f"/api/v1/runs/{run['id']}/artifacts/w.bin", content=b"x", headers={**editor, "If-None-Match": '"abc"'}
    )

    assert refused.status_code == 400
    assert "If-None-Match" in refused.json()["detail"]


def test_racing_uploads_with_if_none_match_store_one(app: FastAPI, client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    path = f"/api/v1/runs/{run['id']}/artifacts/race.bin"
    with serve_in_thread(app) as url:

        def one(i: int) -> tuple[int, bytes]:
            body = f"writer {i}".encode()
            with httpx.Client(base_url=url, headers=editor, timeout=60) as http:
                return http.put(path, content=body, headers={"If-None-Match": "*"}).status_code, body

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [412] * 7
    winner = next(body for status, body in results if status == 201)
    assert client.get(path, headers=editor).content == winner


def test_an_unreachable_s3_store_is_503_with_retry_after(tmp_path: Path, s3_endpoint: str) -> None:
    settings = Settings(
        data_dir=tmp_path,
        artifact_uri="s3://shipyard-gone/team",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        log_json=False,
    )
    with app_with_admin(settings) as http:
        run = make_run(http, {})
        answers = {
            "put": http.put(f"/api/v1/runs/{run['id']}/artifacts/w.bin", content=b"x"),
            "get": http.get(f"/api/v1/runs/{run['id']}/artifacts/w.bin"),
            "list": http.get(f"/api/v1/runs/{run['id']}/artifacts"),
        }
    for what, answer in answers.items():
        assert answer.status_code == 503, (what, answer.text)
        assert answer.headers["retry-after"] == "2", what
        assert answer.json()["code"] == "storage_unavailable", what
