"""Schedules firing by themselves: the embedded server's own scheduler thread, and in production
two real `shipyard beat` processes sending the tick task to a real worker on Redis, which still
make exactly one job per tick. Each waits for real ticks (10 s apart, the shortest interval)."""

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import ROOT, Platform, Worker, churn_frame, csv_bytes, open_platform, worker_env
from tests.schedules.conftest import API, at, create, read, spec, ticks

pytestmark = [pytest.mark.slow, pytest.mark.redis]
TICK_SECONDS = 10


def upload(platform: Platform) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    platform.upload(name, csv_bytes(churn_frame(rows=120)), expect=201)
    return f"{name}@1"


def wait_until(check: Callable[[], Any], timeout: float, what: str, describe: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s:\n{describe()}", pytrace=False)
        time.sleep(0.5)
    return found


def test_the_embedded_server_fires_its_schedules_itself(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> None:
    database_url = postgres_database() if backend == "postgres" else None
    data_dir = tmp_path_factory.mktemp(f"embedded-scheduler-{backend}")
    with open_platform("embedded", backend, data_dir, database_url, scheduler_interval_seconds=1) as platform:
        assert platform.client.app.state.scheduler is not None
        name = f"embedded-{uuid.uuid4().hex[:8]}"
        create(platform, platform.headers, name=name, job_type="train", spec=spec(upload(platform), name), every=10)
        job_id = wait_until(
            lambda: read(platform, name)["last_job_id"],
            timeout=TICK_SECONDS * 4,
            what="no tick fired",
            describe=lambda: str(read(platform, name)),
        )
        job = platform.succeeded(job_id)
        assert job["spec"]["experiment"] == name


def start_beat(platform: Platform, *args: str) -> Worker:
    """A real `shipyard beat`, sending its entries every second, stopped with the platform."""
    log_path = platform.log_dir / f"beat-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.cli.main", "beat", *args],
            cwd=ROOT,
            env=worker_env(platform.settings, scheduler_interval_seconds=1),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    beat = Worker(name=log_path.stem, process=process, log_path=log_path)
    platform.workers.append(beat)
    wait_until(
        lambda: "Sending due task fire-schedules" in beat.log() or not beat.alive(),
        timeout=60,
        what="beat sent no tick task",
        describe=beat.log,
    )
    assert beat.alive(), beat.log()
    return beat


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]) -> Iterator[Platform]:
    """Postgres and a worker on Redis, as deployed; no beat yet (each test starts its own)."""
    data_dir = tmp_path_factory.mktemp("beat")
    with open_platform(
        "celery", "postgres", data_dir, postgres_database(), start_default_worker=False, scheduler_interval_seconds=1
    ) as platform:
        platform.start_worker(concurrency=2, scheduler_interval_seconds=1)
        yield platform


@pytest.mark.postgres
def test_two_beats_make_one_job_per_tick(production: Platform, tmp_path: Path) -> None:
    platform = production
    assert platform.client.app.state.scheduler is None, "with a broker, the API process does not schedule"
    dataset = upload(platform)
    beat_files_in_repo = set(ROOT.glob("celerybeat-schedule*"))
    start_beat(platform)
    start_beat(platform, "--schedule", str(tmp_path / "second-beat-schedule"))

    name = f"beats-{uuid.uuid4().hex[:8]}"
    create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every=TICK_SECONDS)
    wait_until(
        lambda: len(ticks(platform, name)) >= 3,
        timeout=TICK_SECONDS * 6,
        what="fewer than 3 ticks fired",
        describe=lambda: "\n".join(worker.log(2000) for worker in platform.workers),
    )
    # Paused, no tick comes after this commits: what is there now is the whole record.
    paused = platform.client.patch(f"{API}/schedules/{name}", json={"enabled": False}, headers=platform.headers)
    assert paused.status_code == 200, paused.text
    claimed = ticks(platform, name)
    tick_times = [at(tick["tick_at"]) for tick in claimed]
    assert len(set(tick_times)) == len(tick_times)
    assert all(moment.timestamp() % TICK_SECONDS == 0 for moment in tick_times)
    job_ids = [tick["job_id"] for tick in claimed]
    assert None not in job_ids, claimed
    jobs = platform.get("/jobs?type=train&max_results=1000")["jobs"]
    assert sorted(job["id"] for job in jobs if job["spec"].get("experiment") == name) == sorted(job_ids)
    for job_id in job_ids:
        platform.succeeded(job_id)

    assert list(platform.settings.data_dir.glob("celerybeat-schedule*")), (
        "the first beat keeps its file in the data dir"
    )
    assert list(tmp_path.glob("second-beat-schedule*")), "the second one where --schedule said"
    assert set(ROOT.glob("celerybeat-schedule*")) == beat_files_in_repo, "no beat file in the working directory"
