"""Datasets over HTTP on each database backend: CSV and Parquet uploads stored as Parquet and
addressed by the SHA-256 of their bytes, schema and profile, name@N / name@latest references,
downloads, bad uploads refused with nothing left behind, and run lineage."""

import base64
import hashlib
import io
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.ml.profiling import DEFAULT_CHUNK_ROWS
from app.settings import Settings
from tests.conftest import app_with_admin, free_port
from tests.factories import make_run
from tests.jobs.conftest import churn_frame, csv_bytes
from tests.registry.conftest import failing_statement, trained_pipeline, upload_run_folder, write_model_folder

PARQUET = "application/vnd.apache.parquet"


def upload(
    client: TestClient, headers: dict[str, str], name: str, body: bytes, content_type: str = "text/csv"
) -> httpx.Response:
    return client.post(
        f"/api/v1/datasets/{name}/versions", content=body, headers={**headers, "Content-Type": content_type}
    )


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def downloaded_frame(client: TestClient, headers: dict[str, str], ref_path: str) -> pd.DataFrame:
    response = client.get(f"/api/v1/datasets/{ref_path}/download", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(PARQUET)
    assert int(response.headers["content-length"]) == len(response.content)
    return pq.read_table(io.BytesIO(response.content)).to_pandas()


def assert_same_data(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    # Only the values matter here: a CSV round trip may pick other integer widths or string dtypes.
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False, check_index_type=False
    )


def test_csv_upload_has_schema_and_profile(client: TestClient, editor: dict[str, str], unique: str) -> None:
    frame = churn_frame(rows=120)
    body = csv_bytes(frame)
    response = upload(client, editor, f"churn-{unique}", body)
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["version"] == 1
    assert version["reference"] == f"churn-{unique}@1"
    assert version["sha256"] == hashlib.sha256(body).hexdigest()
    assert version["source_format"] == "csv"
    assert version["size_bytes"] == len(body)
    assert version["rows"] == 120
    types = {column["name"]: column["type"] for column in version["columns"]}
    assert list(types) == list(frame.columns)
    assert types["plan"] != types["tenure"]  # text and numbers are told apart
    assert version["profile"]["rows"] == 120
    assert version["profile"]["columns"] == len(frame.columns)
    assert set(version["profile"]["column_profiles"]) == set(frame.columns)

    dataset = client.get(f"/api/v1/datasets/churn-{unique}", headers=editor).json()
    assert dataset["latest_version"] == 1


def test_same_bytes_twice_is_one_version_and_changed_bytes_the_next(
    client: TestClient, editor: dict[str, str], viewer: dict[str, str], unique: str
) -> None:
    name = f"churn-{unique}"
    first_frame = churn_frame(rows=80, seed=1)
    first = upload(client, editor, name, csv_bytes(first_frame))
    assert first.status_code == 201, first.text

    again = upload(client, editor, name, csv_bytes(first_frame))
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1
    assert again.json()["sha256"] == first.json()["sha256"]

    second_frame = churn_frame(rows=90, seed=2)
    second = upload(client, editor, name, csv_bytes(second_frame))
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    assert second.json()["sha256"] != first.json()["sha256"]

    versions = client.get(f"/api/v1/datasets/{name}/versions", headers=viewer).json()["versions"]
    assert [v["version"] for v in versions] == [1, 2] or [v["version"] for v in versions] == [2, 1]
    latest = client.get(f"/api/v1/datasets/{name}/versions/latest", headers=viewer)
    assert latest.status_code == 200, latest.text
    assert latest.json()["version"] == 2
    assert latest.json()["reference"] == f"{name}@2"
    assert client.get(f"/api/v1/datasets/{name}/versions/1", headers=viewer).json()["rows"] == 80

    # Each version downloads as Parquet holding exactly its data.
    assert_same_data(downloaded_frame(client, viewer, f"{name}/versions/latest"), second_frame)
    assert_same_data(downloaded_frame(client, viewer, f"{name}/versions/1"), first_frame)


def test_parquet_upload_round_trips(
    client: TestClient, editor: dict[str, str], settings: Settings, unique: str
) -> None:
    frame = churn_frame(rows=60, seed=3)
    body = parquet_bytes(frame)
    response = upload(client, editor, f"pq-{unique}", body, PARQUET)
    assert response.status_code == 201, response.text
    assert response.json()["source_format"] == "parquet"
    assert response.json()["rows"] == 60
    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()
    assert_same_data(downloaded_frame(client, editor, f"pq-{unique}/versions/1"), frame)
    assert upload(client, editor, f"pq-{unique}", body, PARQUET).status_code == 200
    # Stored under a key the server minted, as Parquet.
    stored = Path(settings.resolved_artifact_uri) / "datasets" / f"pq-{unique}" / "1" / "data.parquet"
    assert pq.read_table(stored).num_rows == 60


def test_corrupt_csv_is_a_400_naming_the_line_and_leaves_nothing(
    client: TestClient, editor: dict[str, str], unique: str
) -> None:
    name = f"bad-{unique}"
    body = b"tenure,plan,churned\n1,basic,0\n2,pro,1\n3,basic,0,surplus,fields\n4,pro,1\n"
    response = upload(client, editor, name, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid_input"
    assert problem["line"] == 4, problem
    assert "line 4" in problem["detail"]
    # The failed upload created neither the dataset nor a version.
    assert client.get(f"/api/v1/datasets/{name}", headers=editor).status_code == 404


def test_value_past_the_first_chunk_that_breaks_its_column_type_names_its_line(
    client: TestClient, editor: dict[str, str], unique: str
) -> None:
    # Uploads are converted in chunks of 100,000 rows; the first chunk fixes the column types.
    rows = "".join(f"{i},{i % 2}\n" for i in range(DEFAULT_CHUNK_ROWS))
    body = f"tenure,churned\n{rows}twelve,1\n".encode()
    response = upload(client, editor, f"bad-{unique}", body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["line"] == DEFAULT_CHUNK_ROWS + 2, problem
    assert "tenure" in problem["detail"], problem
    assert client.get(f"/api/v1/datasets/bad-{unique}", headers=editor).status_code == 404


def test_empty_and_unreadable_uploads_are_400(client: TestClient, editor: dict[str, str], unique: str) -> None:
    empty = upload(client, editor, f"empty-{unique}", b"")
    assert empty.status_code == 400, empty.text
    assert empty.json()["code"] == "invalid_input"
    header_only = upload(client, editor, f"empty-{unique}", b"a,b,c\n")
    assert header_only.status_code == 400, header_only.text
    not_parquet = upload(client, editor, f"empty-{unique}", b"PAR1 this is not parquet", PARQUET)
    assert not_parquet.status_code == 400, not_parquet.text
    assert client.get(f"/api/v1/datasets/empty-{unique}", headers=editor).status_code == 404

    unsupported = upload(client, editor, f"empty-{unique}", b"{}", "application/json")
    assert unsupported.status_code == 415, unsupported.text


def test_unknown_datasets_and_versions_are_404(
    client: TestClient, editor: dict[str, str], viewer: dict[str, str], unique: str
) -> None:
    for path in (
        f"/api/v1/datasets/nope-{unique}",
        f"/api/v1/datasets/nope-{unique}/versions/latest",
        f"/api/v1/datasets/nope-{unique}/versions/1/download",
    ):
        response = client.get(path, headers=viewer)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "dataset_not_found"
    assert upload(client, editor, f"some-{unique}", csv_bytes(churn_frame(rows=20))).status_code == 201
    assert client.get(f"/api/v1/datasets/some-{unique}/versions/9", headers=viewer).status_code == 404


def test_viewer_cannot_upload(client: TestClient, viewer: dict[str, str], unique: str) -> None:
    assert upload(client, viewer, f"ro-{unique}", csv_bytes(churn_frame(rows=20))).status_code == 403


def test_run_dataset_link_shows_in_model_lineage(
    client: TestClient, editor: dict[str, str], tmp_path: Path, unique: str
) -> None:
    name = f"lineage-{unique}"
    assert upload(client, editor, name, csv_bytes(churn_frame(rows=40, seed=4))).status_code == 201
    second = upload(client, editor, name, csv_bytes(churn_frame(rows=50, seed=5)))
    assert second.status_code == 201
    run = make_run(client, editor)

    link = client.post(f"/api/v1/runs/{run['id']}/datasets", json={"dataset": f"{name}@2"}, headers=editor)
    assert link.status_code == 201, link.text
    assert link.json() == {
        "run_id": run["id"],
        "dataset": name,
        "version": 2,
        "digest": second.json()["sha256"],
        "context": "training",
    }
    missing = client.post(f"/api/v1/runs/{run['id']}/datasets", json={"dataset": f"{name}@7"}, headers=editor)
    assert missing.status_code == 404, missing.text
    bad_ref = client.post(f"/api/v1/runs/{run['id']}/datasets", json={"dataset": f"{name}@v2"}, headers=editor)
    assert bad_ref.status_code == 422, bad_ref.text

    upload_run_folder(client, editor, run["id"], write_model_folder(tmp_path / "model", trained_pipeline()))
    assert client.post("/api/v1/models", json={"name": f"model-{unique}"}, headers=editor).status_code == 201
    created = client.post(f"/api/v1/models/model-{unique}/versions", json={"run_id": run["id"]}, headers=editor)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    lineage = client.get(f"/api/v1/models/model-{unique}/versions/{version}/lineage", headers=editor)
    assert lineage.status_code == 200, lineage.text
    assert lineage.json()["datasets"] == [
        {"name": name, "version": 2, "digest": second.json()["sha256"], "context": "training"}
    ]
    assert lineage.json()["source_run"]["id"] == run["id"]


def digest_header(body: bytes) -> dict[str, str]:
    return {"Content-Digest": f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"}


def test_an_upload_is_checked_against_its_content_digest(
    app: FastAPI, client: TestClient, editor: dict[str, str], unique: str
) -> None:
    body = csv_bytes(churn_frame(40))
    name = f"digest-{unique}"

    refused = client.post(
        f"/api/v1/datasets/{name}/versions",
        content=body,
        headers={**editor, "Content-Type": "text/csv", **digest_header(body + b"\n")},
    )
    malformed = client.post(
        f"/api/v1/datasets/{name}/versions",
        content=body,
        headers={**editor, "Content-Type": "text/csv", "Content-Digest": "sha-256=:nope:"},
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "digest_mismatch")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_content_digest")
    assert client.get(f"/api/v1/datasets/{name}", headers=editor).status_code == 404
    assert app.state.store.list_dir(f"datasets/{name}") == []
    accepted = client.post(
        f"/api/v1/datasets/{name}/versions",
        content=body,
        headers={**editor, "Content-Type": "text/csv", **digest_header(body)},
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_database_failure_after_the_file_went_up_leaves_nothing(
    app: FastAPI, client: TestClient, editor: dict[str, str], unique: str
) -> None:
    name = f"dbfail-{unique}"
    with failing_statement(app, "audit_event", "resource_id", f"{name}@%"):
        failed = upload(client, editor, name, csv_bytes(churn_frame(40)))

    assert failed.status_code == 500
    assert client.get(f"/api/v1/datasets/{name}", headers=editor).status_code == 404
    assert app.state.store.list_dir(f"datasets/{name}") == []


def test_a_commit_that_fails_after_the_file_went_up_leaves_nothing(
    app: FastAPI, client: TestClient, editor: dict[str, str], unique: str
) -> None:
    if app.state.sessions.engine.dialect.name != "postgresql":
        pytest.skip("a constraint checked at commit is a Postgres feature")
    name = f"commitfail-{unique}"
    with failing_statement(app, "audit_event", "resource_id", f"{name}@%", at_commit=True):
        failed = upload(client, editor, name, csv_bytes(churn_frame(40)))

    assert failed.status_code == 500
    assert client.get(f"/api/v1/datasets/{name}", headers=editor).status_code == 404
    assert app.state.store.list_dir(f"datasets/{name}") == []


@pytest.fixture
def s3_app(tmp_path: Path, s3_endpoint: str, s3_client: Any) -> Iterator[tuple[FastAPI, TestClient, str]]:
    """The app on SQLite with its artifacts in a fresh bucket of the moto S3 server."""
    bucket = f"datasets-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=bucket)
    settings = Settings(
        data_dir=tmp_path, artifact_uri=f"s3://{bucket}/team", s3_endpoint_url=s3_endpoint, log_json=False
    )
    with app_with_admin(settings) as http:
        yield http.app, http, bucket


def test_on_s3_a_failed_upload_leaves_nothing_in_the_bucket(
    s3_app: tuple[FastAPI, TestClient, str], s3_client: Any
) -> None:
    app, http, bucket = s3_app
    body = csv_bytes(churn_frame(40))

    mismatch = http.post(
        "/api/v1/datasets/s3-digest/versions",
        content=body,
        headers={"Content-Type": "text/csv", **digest_header(b"other bytes")},
    )
    with failing_statement(app, "audit_event", "resource_id", "s3-dbfail@%"):
        db_failure = http.post(
            "/api/v1/datasets/s3-dbfail/versions", content=body, headers={"Content-Type": "text/csv"}
        )

    assert (mismatch.status_code, mismatch.json()["code"]) == (400, "digest_mismatch")
    assert db_failure.status_code == 500
    assert s3_client.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    accepted = http.post("/api/v1/datasets/s3-ok/versions", content=body, headers={"Content-Type": "text/csv"})
    assert accepted.status_code == 201
    keys = [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["team/datasets/s3-ok/1/data.parquet"]


def test_an_unreachable_store_is_503_and_registers_nothing(tmp_path: Path, s3_endpoint: str) -> None:
    settings = Settings(
        data_dir=tmp_path,
        artifact_uri="s3://gone/team",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        log_json=False,
    )
    with app_with_admin(settings) as http:
        failed = http.post(
            "/api/v1/datasets/gone/versions", content=csv_bytes(churn_frame(40)), headers={"Content-Type": "text/csv"}
        )
        listed = http.get("/api/v1/datasets/gone")

    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "2"
    assert failed.json()["code"] == "storage_unavailable"
    assert listed.status_code == 404


def test_an_upload_converts_before_its_transaction_so_writes_elsewhere_go_on(
    client: TestClient, editor: dict[str, str], unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log-batch sent while a large CSV is being converted completes before the upload does: the
    upload holds no database transaction (on SQLite, no write lock) while it converts."""
    # The upload's working folders land here, so the test sees when its conversion has begun.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    body = csv_bytes(churn_frame(rows=4 * DEFAULT_CHUNK_ROWS, seed=9))
    run = make_run(client, editor)
    answers: list[httpx.Response] = []
    finished = threading.Event()

    def send() -> None:
        try:
            answers.append(upload(client, editor, f"big-{unique}", body))
        finally:
            finished.set()

    uploader = threading.Thread(target=send, daemon=True)
    uploader.start()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("shipyard-dataset-*/data.parquet")):
        assert not finished.is_set(), f"the upload ended before its conversion was seen: {answers}"
        assert time.monotonic() < deadline, "the upload's conversion did not start"
        time.sleep(0.01)

    if client.app.state.sessions.engine.dialect.name == "postgresql":
        with client.app.state.sessions(write=False) as session:
            open_transactions = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND query ILIKE '%dataset%' AND pid <> pg_backend_pid()"
                )
            )
        assert open_transactions == 0, "the upload holds a transaction while it converts"
    logged = client.post(
        f"/api/v1/runs/{run['id']}/log-batch", json={"metrics": [{"key": "loss", "value": 0.5}]}, headers=editor
    )
    converting = not finished.is_set()

    assert logged.status_code == 204, logged.text
    assert converting, "the log-batch had to wait for the upload"
    uploader.join(timeout=120)
    assert answers[0].status_code == 201, answers[0].text
    assert answers[0].json()["rows"] == 4 * DEFAULT_CHUNK_ROWS
