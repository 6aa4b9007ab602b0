"""Run artifacts through the API when the store is an S3 bucket (moto's S3 server on 127.0.0.1)."""

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.migrate import upgrade_to_head
from app.main import create_app
from app.settings import Settings
from tests.conftest import app_with_admin
from tests.factories import make_run


@pytest.fixture
def s3_client_app(tmp_path: Path, s3_endpoint: str, s3_client: Any) -> Iterator[tuple[TestClient, str]]:
    bucket = f"shipyard-api-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=bucket)
    settings = Settings(
        data_dir=tmp_path, artifact_uri=f"s3://{bucket}/team", s3_endpoint_url=s3_endpoint, log_json=False
    )
    with app_with_admin(settings) as client:
        yield client, bucket


def test_artifacts_round_trip_through_s3(s3_client_app: tuple[TestClient, str], s3_client: Any) -> None:
    client, bucket = s3_client_app
    assert client.get("/readyz").json()["checks"]["artifact_store"] == "ok"
    run = make_run(client, {})
    payload = os.urandom(5 * 1024 * 1024 + 3)
    stored = client.put(f"/api/v1/runs/{run['id']}/artifacts/model/weights.bin", content=payload)
    assert stored.status_code == 201
    assert stored.json()["sha256"] == hashlib.sha256(payload).hexdigest()
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"team/runs/{run['id']}/artifacts/model/weights.bin"]
    assert client.get(f"/api/v1/runs/{run['id']}/artifacts/model/weights.bin").content == payload
    listing = client.get(f"/api/v1/runs/{run['id']}/artifacts", params={"path": "model"}).json()
    assert listing["files"] == [{"path": "model/weights.bin", "is_dir": False, "size": len(payload)}]
    escape = client.put(f"/api/v1/runs/{run['id']}/artifacts/%2e%2e/%2e%2e/x", content=b"x")
    assert escape.status_code == 400
    assert len(s3_client.list_objects_v2(Bucket=bucket)["Contents"]) == 1


def test_readiness_reports_a_missing_bucket(tmp_path: Path, s3_endpoint: str) -> None:
    settings = Settings(data_dir=tmp_path, artifact_uri="s3://no-such-bucket-here/x", s3_endpoint_url=s3_endpoint)
    upgrade_to_head(settings)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["artifact_store"] == "unavailable"


def test_a_digest_mismatch_stores_nothing_in_the_bucket(s3_client_app: tuple[TestClient, str], s3_client: Any) -> None:
    client, bucket = s3_client_app
    run = make_run(client, {})
    declared = base64.b64encode(hashlib.sha256(b"what was sent").digest()).decode()

    refused = client.put(
        f"/api/v1/runs/{run['id']}/artifacts/w.bin",
        content=b"damaged on the way",
        headers={"Content-Digest": f"sha-256=:{declared}:"},
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "digest_mismatch"
    assert s3_client.list_objects_v2(Bucket=bucket).get("Contents", []) == []


def test_if_none_match_refuses_to_overwrite_in_the_bucket(
    s3_client_app: tuple[TestClient, str], s3_client: Any
) -> None:
    client, bucket = s3_client_app
    run = make_run(client, {})
    url = f"/api/v1/runs/{run['id']}/artifacts/w.bin"
    assert client.put(url, content=b"first", headers={"If-None-Match": "*"}).status_code == 201

    refused = client.put(url, content=b"second", headers={"If-None-Match": "*"})

    assert (refused.status_code, refused.json()["code"]) == (412, "artifact_exists")
    stored = s3_client.get_object(Bucket=bucket, Key=f"team/runs/{run['id']}/artifacts/w.bin")
    assert stored["Body"].read() == b"first"
