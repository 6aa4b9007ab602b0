"""Fixtures for schedule tests: a platform of their own per backend (embedded jobs), whose own
scheduler thread waits an hour between passes, so each test fires ticks itself with run_due at
the instant it chooses, and whose schedules are removed after each test; a dataset to train on;
and helpers over the API."""

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, update

from app.db.tables import Schedule, User
from app.schedules.scheduler import run_due
from tests.conftest import user_headers
from tests.jobs.conftest import Platform, churn_frame, csv_bytes, open_platform, train_spec

API = "/api/v1"


@pytest.fixture(scope="session")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres_database: Callable[[], str]
) -> Iterator[Platform]:
    database_url = postgres_database() if backend == "postgres" else None
    data_dir = tmp_path_factory.mktemp(f"schedules-{backend}")
    with open_platform("embedded", backend, data_dir, database_url, scheduler_interval_seconds=3600) as opened:
        yield opened


@pytest.fixture(autouse=True)
def _leave_no_schedule_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's schedules and queued jobs go with it: a scheduler pass fires every due schedule
    of the database, and the next test's must not wait behind another test's jobs."""
    yield
    if "platform" not in request.fixturenames:
        return
    platform: Platform = request.getfixturevalue("platform")
    with platform.client.app.state.sessions.begin() as session:
        session.execute(delete(Schedule))
    for job in platform.get("/jobs?status=queued&max_results=1000")["jobs"]:
        platform.cancel(job["id"])


@pytest.fixture(scope="session")
def dataset(platform: Platform) -> str:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    platform.upload(name, csv_bytes(churn_frame(rows=120)), expect=201)
    return f"{name}@1"


@pytest.fixture
def editor(platform: Platform) -> dict[str, str]:
    return user_headers(platform.client, platform.headers, "editor")


def spec(dataset: str, marker: str, **fields: Any) -> dict[str, Any]:
    """A small train spec whose experiment name marks the jobs of one test."""
    return train_spec(dataset, **{"experiment": marker, "params": {"C": 1.0, "max_iter": 200}, **fields})


def create(platform: Platform, headers: dict[str, str], expect: int = 201, **body: Any) -> dict[str, Any]:
    response = platform.client.post(f"{API}/schedules", json=body, headers=headers)
    assert response.status_code == expect, response.text
    return dict(response.json())


def read(platform: Platform, name: str) -> dict[str, Any]:
    return dict(platform.get(f"/schedules/{name}"))


def ticks(platform: Platform, name: str) -> list[dict[str, Any]]:
    return list(platform.get(f"/schedules/{name}/ticks")["ticks"])


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def fire(platform: Platform, now: datetime) -> list[str]:
    """One scheduler pass at `now`, on the platform's database and job queue."""
    app = platform.client.app
    return run_due(app.state.sessions, app.state.job_queue, now, settings=platform.settings)


def username_of(platform: Platform, headers: dict[str, str]) -> str:
    response = platform.client.get(f"{API}/auth/whoami", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["username"])


def set_user(platform: Platform, username: str, **values: Any) -> None:
    """Change a user's row (deactivate, demote) as an operator would in the database."""
    with platform.client.app.state.sessions.begin() as session:
        session.execute(update(User).where(User.username == username).values(**values))
