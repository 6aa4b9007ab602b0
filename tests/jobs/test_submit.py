"""What is decided when a job is submitted: Idempotency-Key (per user, per body, under concurrent
requests), train spec names and protected aliases, evaluation gate set-up, the role a job acts
with, and job list paging. On SQLite and Postgres, with jobs on the server's own threads."""

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.db.tables import Job, RegisteredModel
from app.training.service import job_run_id
from tests.conftest import serve_in_thread, user_headers
from tests.jobs.conftest import Platform, churn_frame, csv_bytes, open_platform, train_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform(backend: str, tmp_path_factory: pytest.TempPathFactory, database_url: Any) -> Iterator[Platform]:
    with open_platform("embedded", backend, tmp_path_factory.mktemp(f"submit-{backend}"), database_url()) as p:
        yield p


@pytest.fixture(scope="module")
def data(platform: Platform) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    platform.upload(name, csv_bytes(churn_frame(rows=200)), expect=201)
    return f"{name}@1"


@pytest.fixture(scope="module")
def editor(platform: Platform) -> dict[str, str]:
    return user_headers(platform.client, platform.headers, "editor")


def post_job(
    platform: Platform, headers: dict[str, str], spec: dict[str, Any], key: str | None = None
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return platform.client.post("/api/v1/jobs", json={"type": "train", "spec": spec}, headers={**headers, **extra})


def jobs_with_key(platform: Platform, key: str) -> int:
    with platform.client.app.state.sessions(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.idempotency_key == key)) or 0)


# ---- Idempotency-Key ---------------------------------------------------------------------------


def test_same_key_and_body_is_the_first_job_and_another_body_is_a_422(platform: Platform, data: str) -> None:
    key = f"nightly-{uuid.uuid4().hex}"
    first = post_job(platform, platform.headers, train_spec(data), key)
    again = post_job(platform, platform.headers, train_spec(data), key)
    changed = post_job(platform, platform.headers, train_spec(data, estimator="knn", params={}), key)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert changed.status_code == 422, changed.text
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert changed.json()["code"] == "idempotency_key_reused"
    assert key in changed.json()["detail"]
    assert jobs_with_key(platform, key) == 1


def test_an_idempotency_key_is_its_users_own(platform: Platform, data: str, editor: dict[str, str]) -> None:
    key = f"shared-{uuid.uuid4().hex}"
    mine = post_job(platform, platform.headers, train_spec(data), key)
    theirs = post_job(platform, editor, train_spec(data), key)
    theirs_again = post_job(platform, editor, train_spec(data), key)

    assert (mine.status_code, theirs.status_code, theirs_again.status_code) == (201, 201, 200)
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs_again.json()["id"] == theirs.json()["id"]
    assert theirs.json()["created_by"] != mine.json()["created_by"]


def test_concurrent_submissions_with_one_key_make_one_job(platform: Platform, data: str) -> None:
    key = f"race-{uuid.uuid4().hex}"
    spec = train_spec(data)
    start = threading.Barrier(8)
    with serve_in_thread(cast(FastAPI, platform.client.app)) as url:

        def submit(_: int) -> tuple[int, str]:
            with httpx.Client(base_url=url, headers={**platform.headers, "Idempotency-Key": key}, timeout=60) as http:
                start.wait()
                response = http.post("/api/v1/jobs", json={"type": "train", "spec": spec})
                return response.status_code, response.text

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(submit, range(8)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [201], answers
    ids = {httpx.Response(200, text=text).json()["id"] for _, text in answers}
    assert len(ids) == 1
    assert jobs_with_key(platform, key) == 1


# ---- train specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"register_as": "churn/../x"}, "register_as"),
        ({"register_as": "churn model"}, "register_as"),
        ({"register_as": "churn", "alias": "Prod!"}, "alias"),
        ({"register_as": "churn", "alias": "12"}, "alias"),
        ({"alias": "candidate"}, "alias"),
        ({"experiment": ""}, "experiment"),
        ({"experiment": "x" * 257}, "experiment"),
    ],
)
def test_train_spec_names_are_checked_at_submit(
    platform: Platform, data: str, fields: dict[str, str], field: str
) -> None:
    key = f"names-{uuid.uuid4().hex}"
    response = post_job(platform, platform.headers, train_spec(data, **fields), key)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_spec"
    assert response.json()["field"] == field
    assert jobs_with_key(platform, key) == 0


def test_a_protected_alias_is_refused_at_submit_unless_the_submitter_may_move_it(
    platform: Platform, data: str, editor: dict[str, str]
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    key = f"prod-{uuid.uuid4().hex}"
    refused = post_job(platform, editor, train_spec(data, register_as=model, alias="production"), key)

    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "alias"
    assert "production" in refused.json()["detail"]
    assert jobs_with_key(platform, key) == 0

    # An admin may move it, and the job then acts as that admin: the alias is set.
    accepted = post_job(platform, platform.headers, train_spec(data, register_as=model, alias="production"))
    assert accepted.status_code == 201, accepted.text
    job = platform.succeeded(accepted.json()["id"])
    assert job["result"]["model"]["version"] == 1
    assert platform.get(f"/models/{model}")["aliases"] == {"production": 1}


@pytest.fixture(scope="module", params=["local", "s3"])
def store_platform(
    request: pytest.FixtureRequest,
    platform: Platform,
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    database_url: Any,
) -> Iterator[Platform]:
    """The platform with its artifacts in a local folder, or another one on an S3 bucket."""
    if request.param == "local":
        yield platform
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"jobs-{uuid.uuid4().hex[:10]}"
    request.getfixturevalue("s3_client").create_bucket(Bucket=bucket)
    data_dir = tmp_path_factory.mktemp(f"submit-s3-{backend}")
    with open_platform(
        "embedded", backend, data_dir, database_url(), artifact_uri=f"s3://{bucket}/shipyard", s3_endpoint_url=endpoint
    ) as p:
        yield p


def test_a_train_job_that_fails_leaves_no_version_files_nor_model(store_platform: Platform) -> None:
    """A job from before jobs stored their submitter's role acts as an editor, so its protected
    alias is refused at the very end, after the model's files were written."""
    platform = store_platform
    data = f"churn-{uuid.uuid4().hex[:8]}"
    platform.upload(data, csv_bytes(churn_frame(rows=200)), expect=201)
    data = f"{data}@1"
    model = f"churn-{uuid.uuid4().hex[:8]}"
    job_id = uuid.uuid4().hex
    with platform.client.app.state.sessions.begin() as session:
        session.add(
            Job(
                id=job_id,
                type="train",
                spec=train_spec(data, register_as=model, alias="production"),
                status="queued",
                created_by="admin",
                created_by_role="editor",
                message="queued",
            )
        )
    platform.client.app.state.job_queue.enqueue(job_id)

    job = platform.wait(job_id)

    assert job["status"] == "failed", platform.describe(job)
    assert "production" in job["error"]
    store = platform.client.app.state.store
    assert store.list_dir(f"models/{model}") == []
    run_files = [f.path for f in store.list_dir(f"runs/{job_run_id(job_id)}/artifacts/model")]
    assert "model.json" in run_files, "the model was written (to its run) before the failure"
    missing = platform.client.get(f"/api/v1/models/{model}", headers=platform.headers)
    assert missing.status_code == 404
    with platform.client.app.state.sessions(write=False) as session:
        assert session.scalar(select(RegisteredModel).where(RegisteredModel.name == model)) is None


# ---- evaluation gates --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(platform: Platform, data: str) -> str:
    model = f"clf-{uuid.uuid4().hex[:8]}"
    submitted = post_job(platform, platform.headers, train_spec(data, register_as=model))
    assert submitted.status_code == 201, submitted.text
    platform.succeeded(submitted.json()["id"])
    return model


@pytest.fixture(scope="module")
def regressor(platform: Platform, data: str) -> str:
    model = f"reg-{uuid.uuid4().hex[:8]}"
    spec = train_spec(data, target="monthly_charges", estimator="ridge", params={}, register_as=model)
    submitted = post_job(platform, platform.headers, spec)
    assert submitted.status_code == 201, submitted.text
    platform.succeeded(submitted.json()["id"])
    return model


@pytest.mark.parametrize(
    ("kind", "gate", "extra", "problem"),
    [
        ("classifier", "f1>=baseline-0.01", {}, "no baseline model is given"),
        ("classifier", "rmse<=0.5", {}, "a classification model has no metric 'rmse'"),
        ("regressor", "accuracy>=0.5", {}, "a regression model has no metric 'accuracy'"),
        ("regressor", "demographic_parity_difference<=0.1", {"sensitive": "region"}, "binary classification only"),
        ("classifier", "equalized_odds_difference<=0.1", {}, "needs a sensitive column"),
    ],
)
def test_gate_setup_mistakes_are_a_400_at_submit(
    platform: Platform,
    data: str,
    request: pytest.FixtureRequest,
    kind: str,
    gate: str,
    extra: dict[str, str],
    problem: str,
) -> None:
    model = request.getfixturevalue(kind)
    spec = {"model": f"{model}/1", "dataset": data, "gates": [gate], **extra}
    response = platform.client.post("/api/v1/jobs", json={"type": "evaluate", "spec": spec}, headers=platform.headers)

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_spec"
    assert body["field"] == "gates"
    assert body["gate"] == gate
    assert gate in body["detail"]
    assert problem in body["detail"]


def test_a_gate_on_a_metric_the_model_cannot_give_fails_the_job_not_the_gate(platform: Platform, data: str) -> None:
    model = f"svc-{uuid.uuid4().hex[:8]}"
    trained = post_job(platform, platform.headers, train_spec(data, estimator="svc", params={}, register_as=model))
    platform.succeeded(trained.json()["id"])
    # SVC without probabilities has no roc_auc: known only once the model is scored.
    submitted = platform.submit("evaluate", {"model": f"{model}/1", "dataset": data, "gates": ["roc_auc>=0.5"]})

    job = platform.wait(submitted["id"])

    assert job["status"] == "failed", platform.describe(job)
    assert "GateSetupError" in job["error"]
    assert "roc_auc>=0.5" in job["error"]
    assert "not computed" in job["error"]
    assert platform.get(f"/models/{model}/versions/1/lineage")["evaluations"] == []


# ---- job lists ---------------------------------------------------------------------------------


def test_job_list_pages_through_jobs_created_at_the_same_instant(platform: Platform) -> None:
    instant = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    ids = sorted(uuid.uuid4().hex for _ in range(5))
    with platform.client.app.state.sessions.begin() as session:
        for job_id in ids:
            session.add(
                Job(
                    id=job_id,
                    type="evaluate",
                    spec={},
                    status="cancelled",
                    created_by="admin",
                    message="cancelled",
                    created_at=instant,
                    updated_at=instant,
                )
            )

    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"status": "cancelled", "max_results": 1, **({"page_token": token} if token else {})}
        page = platform.client.get("/api/v1/jobs", params=params, headers=platform.headers)
        assert page.status_code == 200, page.text
        seen += [job["id"] for job in page.json()["jobs"]]
        token = page.json()["next_page_token"]
        if token is None:
            break

    assert len(seen) == len(set(seen)), "no job is listed twice"
    assert [job_id for job_id in seen if job_id in ids] == ids, "none is skipped, ties in id order"


def test_a_job_page_token_not_from_this_server_is_a_400(platform: Platform) -> None:
    for token in (
        "bm9wZQ==",
        "eyJiZWZvcmUiOiAiMjAyNi0wMS0wMSJ9",
        "eyJjcmVhdGVkX2F0IjogIjIwMjYtMDEtMDEiLCAiaWQiOiAieCJ9",
    ):
        response = platform.client.get("/api/v1/jobs", params={"page_token": token}, headers=platform.headers)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "page_token"
