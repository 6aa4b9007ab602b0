"""A server or a worker started while Postgres is down: the server answers /healthz 200, /readyz
503, /metrics 200 (without the job counts) and every API call 503 `database_unavailable` with
Retry-After; once Postgres is up it migrates, creates the first admin and serves. A worker
waits, then migrates. Both run against a private Postgres (see tests/test_postgres_outage.py),
never the shared one."""

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.db.migrate import alembic_config
from tests.conftest import free_port
from tests.jobs.conftest import release_redis_db, take_redis_db
from tests.sdk.live_server import REPO_ROOT, server_env
from tests.test_postgres_outage import PrivatePostgres, private_postgres  # noqa: F401  (the fixture)

WAIT_S = 90.0
POLL_S = 0.25

pytestmark = pytest.mark.slow


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _revision(url: str) -> str | None:
    """The database's Alembic revision, or None when it is unreachable or not migrated yet."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def _until(what: str, check: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {WAIT_S:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(POLL_S)


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(http: httpx.Client, path: str, status: int) -> bool:
    try:
        return http.get(path).status_code == status
    except httpx.TransportError:
        return False


def _job_counts(http: httpx.Client) -> list[Sample]:
    scraped = http.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    families = {family.name: family for family in text_string_to_metric_families(scraped.text)}
    return list(families["shipyard_jobs"].samples)


def test_the_server_starts_while_postgres_is_down_and_serves_once_it_is_up(
    private_postgres: PrivatePostgres,  # noqa: F811
    tmp_path: Path,
) -> None:
    private_postgres.stop("fast")
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "shipyard.cli.main", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    env = server_env(data_dir, private_postgres.url)
    with (
        _process(command, env, log) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15, trust_env=False) as http,
    ):
        _until("/healthz 200 with Postgres down", lambda: _answers(http, "/healthz", 200), log)
        assert server.poll() is None, log.read_text()

        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        for method, path in (("GET", "/api/v1/experiments"), ("POST", "/api/v1/auth/tokens")):
            response = http.request(method, path, json={"username": "admin", "password": "whatever-it-is"})
            assert response.status_code == 503, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "database_unavailable"
            assert int(response.headers["retry-after"]) > 0
        assert not (data_dir / "credentials").exists()
        # Prometheus still gets its scrape, without the job counts the database holds.
        assert _job_counts(http) == []

        private_postgres.start()
        _until("/readyz 200 after Postgres came up", lambda: _answers(http, "/readyz", 200), log)
        _until("job counts on /metrics", lambda: bool(_job_counts(http)), log)
        assert _revision(private_postgres.url) == _head(), "migrated to head"
        token = (data_dir / "credentials").read_text().split("token = ", 1)[1].split()[0]
        listed = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        assert server.poll() is None


@pytest.fixture
def broker_url() -> Iterator[str]:
    db = take_redis_db()
    try:
        yield f"redis://127.0.0.1:6379/{db}"
    finally:
        release_redis_db(db)


def test_a_worker_waits_for_postgres_then_migrates(
    private_postgres: PrivatePostgres,  # noqa: F811
    broker_url: str,
    tmp_path: Path,
) -> None:
    private_postgres.stop("fast")
    log = tmp_path / "worker.log"
    env = {**server_env(tmp_path / "data", private_postgres.url), "SHIPYARD_BROKER_URL": broker_url}
    env["SHIPYARD_LOG_LEVEL"] = "INFO"
    command = [sys.executable, "-m", "shipyard.cli.main", "worker", "--concurrency", "1", "--pool", "solo"]
    with _process(command, env, log) as worker:
        _until("the worker's wait for the database", lambda: "not reachable" in log.read_text(errors="replace"), log)
        assert worker.poll() is None, log.read_text()

        private_postgres.start()
        _until("the migration to head", lambda: _revision(private_postgres.url) == _head(), log)
        assert worker.poll() is None, log.read_text()
