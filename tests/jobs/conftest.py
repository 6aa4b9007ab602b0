"""Fixtures for dataset and job tests: a small synthetic churn dataset, and the platform wired
with either executor — threads inside the server, or a real Celery worker process on a
throwaway Redis database — so the same job tests run on both paths."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient

from app.bootstrap import ensure_admin
from app.db.migrate import upgrade_to_head
from app.main import create_app
from app.settings import Settings
from tests.conftest import read_credentials, service_missing

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Databases this suite may take, highest first: unlikely to hold anyone else's keys.
REDIS_DBS = range(15, 7, -1)
REDIS_LOCK = "shipyard-tests:owner"
ROOT = Path(__file__).resolve().parents[2]

# Short enough that lost workers are noticed within seconds, long enough for a busy 2-core box.
LEASE_SECONDS = 3
RECONCILE_SECONDS = 1
REQUEUE_AFTER_SECONDS = 2
JOB_TIMEOUT = 60.0

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def search_spec(candidates: int, cv: int = 3) -> dict[str, Any]:
    """Train-spec fields for a grid search over `candidates` decision trees: slow enough to be
    caught running (tens of ms per candidate on an idle machine, more on a busy one), with a
    progress checkpoint after every candidate."""
    return {
        "estimator": "decision_tree",
        "params": {},
        "search": {"kind": "grid", "cv": cv, "space": {"min_samples_leaf": list(range(1, candidates + 1))}},
    }


def churn_frame(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    """Customers with numeric and categorical columns and a binary `churned` that depends on them."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    monthly = rng.normal(70, 20, rows).round(2)
    calls = rng.poisson(2, rows)
    plan = rng.choice(["basic", "standard", "premium"], rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = -0.5 + 0.7 * calls - 0.06 * tenure + 0.03 * (monthly - 70) + 1.2 * (plan == "basic")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "monthly_charges": monthly,
            "support_calls": calls,
            "plan": plan,
            "region": region,
            "churned": churned,
        }
    )


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture(scope="session")
def churn_csv() -> bytes:
    return csv_bytes(churn_frame())


def train_spec(dataset: str, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dataset": dataset,
        "target": "churned",
        "estimator": "logistic_regression",
        "params": {"C": 1.0, "max_iter": 500},
        "split": {"test_size": 0.25, "seed": 11},
    }
    spec.update(fields)
    return spec


# ---- Redis -------------------------------------------------------------------------------------


def redis_client(db: int) -> redis.Redis:
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5, socket_connect_timeout=3)


def take_redis_db() -> int:
    """A Redis database no one else here holds (marked by a key), emptied for this suite."""
    try:
        redis_client(0).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis on {REDIS_HOST}:{REDIS_PORT}", str(exc))
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for db in REDIS_DBS:
        client = redis_client(db)
        if client.set(REDIS_LOCK, owner, nx=True, ex=900):
            client.flushdb()
            client.set(REDIS_LOCK, owner, ex=900)
            client.close()
            return db
        client.close()
    pytest.fail(f"no free Redis database among {list(REDIS_DBS)} (each holds {REDIS_LOCK})")


def release_redis_db(db: int) -> None:
    client = redis_client(db)
    try:
        client.flushdb()
    finally:
        client.close()


# ---- worker processes --------------------------------------------------------------------------


@dataclass
class Worker:
    """A real `shipyard worker` (Celery, prefork) in its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self, last: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-last:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a dying machine would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT to the main process), then SIGKILL whatever is left of the group."""
        if self.alive():
            with suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGQUIT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def worker_command(name: str, concurrency: int) -> list[str]:
    celery_args = [
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--hostname",
        name,
        "--without-mingle",
        "--without-gossip",
    ]
    if (ROOT / "shipyard" / "cli" / "main.py").exists():
        return [sys.executable, "-m", "shipyard.cli.main", "worker", *celery_args]
    return [sys.executable, "-c", f"from workers.celery_app import main; main({celery_args!r})"]


def worker_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    env.update(
        {
            "SHIPYARD_DATA_DIR": str(settings.data_dir),
            "SHIPYARD_DATABASE_URL": settings.resolved_database_url,
            "SHIPYARD_ARTIFACT_URI": settings.resolved_artifact_uri,
            "SHIPYARD_BROKER_URL": settings.broker_url or "",
            "SHIPYARD_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
            "SHIPYARD_JOB_RECONCILE_SECONDS": str(settings.job_reconcile_seconds),
            "SHIPYARD_JOB_REQUEUE_AFTER_SECONDS": str(settings.job_requeue_after_seconds),
            "SHIPYARD_LOG_LEVEL": "INFO",
            "SHIPYARD_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"SHIPYARD_{key.upper()}": str(value) for key, value in overrides.items()})
    return env


def start_worker(settings: Settings, log_dir: Path, *, concurrency: int = 1, **env: Any) -> Worker:
    """Start a worker on the settings' database, store and broker and wait until it answers a ping."""
    name = f"shipyard-test-{uuid.uuid4().hex[:8]}@127.0.0.1"
    log_path = log_dir / f"{name.split('@')[0]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            worker_command(name, concurrency),
            cwd=ROOT,
            env=worker_env(settings, **env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(name=name, process=process, log_path=log_path)
    assert settings.broker_url
    control = Celery("shipyard-test-control", broker=settings.broker_url)
    try:
        deadline = time.monotonic() + 60
        while True:
            if not worker.alive():
                pytest.fail(f"worker exited with {process.returncode}:\n{worker.log()}")
            try:
                if control.control.ping(destination=[name], timeout=0.5):
                    return worker
            except Exception:  # the broker connection is retried until the deadline
                pass
            if time.monotonic() > deadline:
                worker.stop()
                pytest.fail(f"worker {name} did not answer a ping within 60 s:\n{worker.log()}")
            time.sleep(0.3)
    finally:
        control.close()


# ---- the platform ------------------------------------------------------------------------------


@dataclass
class Platform:
    """The API (TestClient, lifespan running: the reconciler is on) wired to one executor."""

    kind: str
    backend: str
    settings: Settings
    client: TestClient
    headers: dict[str, str]
    log_dir: Path
    redis_db: int | None = None
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, *, concurrency: int = 1, **env: Any) -> Worker:
        worker = start_worker(self.settings, self.log_dir, concurrency=concurrency, **env)
        self.workers.append(worker)
        return worker

    # -- datasets

    def upload(self, name: str, body: bytes, content_type: str = "text/csv", expect: int | None = None) -> Any:
        response = self.client.post(
            f"/api/v1/datasets/{name}/versions",
            content=body,
            headers={**self.headers, "Content-Type": content_type},
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    # -- jobs

    def submit(
        self, job_type: str, spec: dict[str, Any], *, key: str | None = None, expect: int = 201, **extra: Any
    ) -> dict[str, Any]:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        response = self.client.post("/api/v1/jobs", json={"type": job_type, "spec": spec, **extra}, headers=headers)
        assert response.status_code == expect, response.text
        return dict(response.json())

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def cancel(self, job_id: str) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(
        self,
        job_id: str,
        until: Callable[[dict[str, Any]], bool] | Iterable[str] = TERMINAL,
        timeout: float = JOB_TIMEOUT,
        what: str = "finished",
    ) -> dict[str, Any]:
        """Poll the job until `until` holds (a predicate or a set of statuses); fail with its JSON."""
        check = until if callable(until) else (lambda job, wanted=frozenset(until): job["status"] in wanted)
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if check(job):
                return job
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} not {what} within {timeout:.0f} s:\n{self.describe(job)}", pytrace=False)
            time.sleep(0.2)

    def succeeded(self, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        job = self.wait(job_id, timeout=timeout)
        assert job["status"] == "succeeded", self.describe(job)
        return job

    def describe(self, job: dict[str, Any]) -> str:
        text = json.dumps(job, indent=1, default=str)
        for worker in self.workers:
            text += f"\n--- worker {worker.name} (alive={worker.alive()}) ---\n{worker.log(3000)}"
        return text

    # -- tracking and registry

    def runs_tagged(self, job_id: str) -> list[dict[str, Any]]:
        response = self.client.post(
            "/api/v1/runs/search",
            json={"filter": f"tags.`shipyard.job_id` = '{job_id}'", "lifecycle_stage": "all"},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return list(response.json()["runs"])

    def get(self, path: str) -> Any:
        response = self.client.get(f"/api/v1{path}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


def build_settings(data_dir: Path, database_url: str | None, broker_url: str | None, **extra: Any) -> Settings:
    extra.setdefault("artifact_uri", str(data_dir / "artifacts"))
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        admin_password="admin-password-for-tests",
        log_json=False,
        job_threads=1,
        job_lease_seconds=LEASE_SECONDS,
        job_reconcile_seconds=RECONCILE_SECONDS,
        job_requeue_after_seconds=REQUEUE_AFTER_SECONDS,
        protected_aliases=["production"],
        **extra,
    )


@pytest.fixture(scope="session")
def database_url(backend: str, postgres_database: Callable[[], str]) -> Callable[[], str | None]:
    """A fresh database per platform: None means SQLite in the platform's data dir."""
    return postgres_database if backend == "postgres" else (lambda: None)


@contextmanager
def open_platform(
    kind: str,
    backend: str,
    data_dir: Path,
    database_url: str | None,
    *,
    start_default_worker: bool = True,
    **setting_overrides: Any,
) -> Iterator[Platform]:
    """The app on a fresh database and store, its lifespan running; for "celery", a Redis
    database of its own and (unless told not to) one worker process. All torn down at exit."""
    redis_db = take_redis_db() if kind == "celery" else None
    broker_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}" if redis_db is not None else None
    try:
        settings = build_settings(data_dir, database_url, broker_url, **setting_overrides)
        upgrade_to_head(settings)
        app = create_app(settings)
        ensure_admin(app.state.sessions, settings)
        token = read_credentials(settings.credentials_path)["token"]
        with TestClient(app) as client:
            platform = Platform(
                kind=kind,
                backend=backend,
                settings=settings,
                client=client,
                headers={"Authorization": f"Bearer {token}"},
                log_dir=data_dir,
                redis_db=redis_db,
            )
            try:
                if kind == "celery" and start_default_worker:
                    platform.start_worker()
                yield platform
            finally:
                for worker in platform.workers:
                    worker.stop()
    finally:
        if redis_db is not None:
            release_redis_db(redis_db)


@pytest.fixture(scope="session", params=["embedded", "celery"])
def executor(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    database_url: Callable[[], str | None],
) -> Iterator[Platform]:
    """The platform with jobs on one executor: one job at a time (one thread, or one worker
    process with concurrency 1), so a slow job keeps the next one queued."""
    kind = str(request.param)
    data_dir = tmp_path_factory.mktemp(f"jobs-{kind}-{backend}")
    with open_platform(kind, backend, data_dir, database_url()) as platform:
        yield platform


@pytest.fixture(scope="session")
def churn(executor: Platform, churn_csv: bytes) -> str:
    """The churn dataset uploaded once per platform; its name@1 reference."""
    name = f"churn-{uuid.uuid4().hex[:8]}"
    executor.upload(name, churn_csv, expect=201)
    return f"{name}@1"
