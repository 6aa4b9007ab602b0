"""Firing ticks (run_due at an instant the test picks): a due tick submits one real job as the
schedule's user, a scheduler that was down fires once for the latest missed tick, racing
schedulers make one job per tick, a claimed tick is never fired again, and a user who may no
longer submit the job gets a recorded skip instead."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.auth.security import Role
from app.context import Principal
from app.db.tables import Schedule
from app.schedules import service
from tests.conftest import user_headers
from tests.jobs.conftest import Platform
from tests.schedules.conftest import API, at, create, fire, read, set_user, spec, ticks, username_of

pytestmark = pytest.mark.slow


def test_a_due_tick_submits_one_job_as_the_schedules_user(
    platform: Platform, dataset: str, editor: dict[str, str]
) -> None:
    name = f"tick-{uuid.uuid4().hex[:8]}"
    created = create(platform, editor, name=name, job_type="train", spec=spec(dataset, name), every=60)
    tick_at = at(created["next_run_at"])

    fire(platform, tick_at - timedelta(microseconds=1))
    assert read(platform, name)["last_run_at"] is None, "not due a moment before its tick"

    fire(platform, tick_at)
    fired = read(platform, name)
    assert at(fired["last_run_at"]) == tick_at
    assert at(fired["next_run_at"]) == tick_at + timedelta(seconds=60)
    assert fired["last_skip_reason"] is None
    job = platform.succeeded(fired["last_job_id"])
    assert job["created_by"] == username_of(platform, editor)
    assert (job["type"], job["spec"]["experiment"]) == ("train", name)
    assert [(at(t["tick_at"]), t["job_id"]) for t in ticks(platform, name)] == [(tick_at, job["id"])]

    assert fired["last_job_id"] not in fire(platform, tick_at + timedelta(seconds=30))
    assert len(ticks(platform, name)) == 1, "the same tick again fires nothing"
    events = platform.get(f"/audit?resource_type=schedule&resource_id={name}&action=schedule.tick")["events"]
    assert [e["detail"]["job_id"] for e in events] == [job["id"]]


def test_a_scheduler_down_across_many_ticks_fires_once_for_the_latest(platform: Platform, dataset: str) -> None:
    name = f"missed-{uuid.uuid4().hex[:8]}"
    created = create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every=10)
    back_at = at(created["next_run_at"]) + timedelta(hours=3, seconds=7)
    submitted = fire(platform, back_at)
    schedule = read(platform, name)
    latest = back_at - timedelta(seconds=7)
    assert [at(t["tick_at"]) for t in ticks(platform, name)] == [latest]
    assert schedule["last_job_id"] in submitted
    assert at(schedule["next_run_at"]) == latest + timedelta(seconds=10)


def test_a_cron_schedule_fires_at_its_expressions_ticks(platform: Platform, dataset: str) -> None:
    name = f"cron-{uuid.uuid4().hex[:8]}"
    create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), cron="*/5 * * * *")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    fire(platform, day + timedelta(hours=10, minutes=7, seconds=30))
    schedule = read(platform, name)
    assert at(schedule["last_run_at"]) == day + timedelta(hours=10, minutes=5)
    assert at(schedule["next_run_at"]) == day + timedelta(hours=10, minutes=10)
    assert schedule["last_job_id"] is not None


def test_a_paused_schedule_does_not_fire_and_resumes_from_its_next_tick(platform: Platform, dataset: str) -> None:
    name = f"paused-{uuid.uuid4().hex[:8]}"
    create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every=10, enabled=False)
    fire(platform, datetime.now(UTC) + timedelta(days=1))
    assert ticks(platform, name) == []
    resumed = platform.client.patch(f"{API}/schedules/{name}", json={"enabled": True}, headers=platform.headers).json()
    assert at(resumed["next_run_at"]) - datetime.now(UTC) <= timedelta(seconds=10)


def test_racing_schedulers_make_one_job_per_tick(platform: Platform, dataset: str) -> None:
    names = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    for name in names:
        create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every=10)
    moment = datetime.now(UTC) + timedelta(minutes=10)
    schedulers = 6
    start = threading.Barrier(schedulers)

    def scheduler(_: int) -> list[str]:
        start.wait()
        return fire(platform, moment)

    with ThreadPoolExecutor(schedulers) as pool:
        submitted = [job_id for passed in pool.map(scheduler, range(schedulers)) for job_id in passed]
    assert len(submitted) == len(set(submitted)), "no job id handed out twice"
    for name in names:
        claimed = ticks(platform, name)
        assert len(claimed) == 1, claimed
        assert claimed[0]["job_id"] in submitted
    jobs = platform.get("/jobs?type=train&max_results=1000")["jobs"]
    for name in names:
        assert len([job for job in jobs if job["spec"].get("experiment") == name]) == 1


def test_a_claimed_tick_is_never_fired_again(platform: Platform, dataset: str) -> None:
    """A scheduler that read the schedule before another one's fire committed still finds the
    tick taken: the (schedule, tick) key refuses its claim, and no second job is made."""
    name = f"claimed-{uuid.uuid4().hex[:8]}"
    created = create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every=10)
    tick_at = at(created["next_run_at"])
    fire(platform, tick_at)
    first = read(platform, name)["last_job_id"]
    with platform.client.app.state.sessions.begin() as session:
        session.execute(update(Schedule).where(Schedule.name == name).values(next_run_at=tick_at))
    assert first not in fire(platform, tick_at + timedelta(seconds=5))
    assert [t["job_id"] for t in ticks(platform, name)] == [first]
    jobs = platform.get("/jobs?type=train&max_results=1000")["jobs"]
    assert [job["id"] for job in jobs if job["spec"].get("experiment") == name] == [first]


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"is_active": False}, "is deactivated"), ({"role": "viewer"}, "is viewer now; this needs the editor role")],
)
def test_a_user_who_may_no_longer_submit_gets_a_recorded_skip(
    platform: Platform, dataset: str, change: dict[str, object], reason: str
) -> None:
    headers = user_headers(platform.client, platform.headers, "editor")
    username = username_of(platform, headers)
    name = f"skip-{uuid.uuid4().hex[:8]}"
    created = create(platform, headers, name=name, job_type="train", spec=spec(dataset, name), every=10)
    set_user(platform, username, **change)
    tick_at = at(created["next_run_at"])
    fire(platform, tick_at)
    schedule = read(platform, name)
    assert schedule["last_job_id"] is None
    assert reason in schedule["last_skip_reason"]
    assert username in schedule["last_skip_reason"]
    assert [(at(t["tick_at"]), t["job_id"], t["skip_reason"]) for t in ticks(platform, name)] == [
        (tick_at, None, schedule["last_skip_reason"])
    ]
    assert at(schedule["next_run_at"]) == tick_at + timedelta(seconds=10), "the next tick is tried again"
    jobs = platform.get("/jobs?type=train&max_results=1000")["jobs"]
    assert not [job for job in jobs if job["spec"].get("experiment") == name]
    set_user(platform, username, is_active=True, role="editor")
    fire(platform, tick_at + timedelta(seconds=10))
    assert read(platform, name)["last_job_id"] is not None, "allowed again, it runs again"


def test_a_spec_its_user_may_no_longer_submit_is_skipped(platform: Platform, dataset: str) -> None:
    headers = user_headers(platform.client, platform.headers, "admin")
    name = f"release-{uuid.uuid4().hex[:8]}"
    protected = spec(dataset, name, register_as=name, alias="production")
    created = create(platform, headers, name=name, job_type="train", spec=protected, every=10)
    set_user(platform, username_of(platform, headers), role="editor")
    fire(platform, at(created["next_run_at"]))
    schedule = read(platform, name)
    assert schedule["last_job_id"] is None
    assert "protected" in schedule["last_skip_reason"]


def test_a_schedule_the_platform_put_runs_as_the_platform(platform: Platform, dataset: str) -> None:
    name = f"monitor-{uuid.uuid4().hex[:8]}"
    with platform.client.app.state.sessions.begin() as session:
        put = service.put_managed_schedule(
            session,
            Principal.system(),
            name=name,
            job_type="train",
            spec=spec(dataset, name),
            every_seconds=10,
            managed_by=f"deployment-monitor:{name}",
        )
    assert put.next_run_at is not None
    fire(platform, put.next_run_at)
    job_id = read(platform, name)["last_job_id"]
    assert platform.job(job_id)["created_by"] == "system"


def test_a_principal_without_a_user_row_is_not_run_as_the_platform(platform: Platform, dataset: str) -> None:
    """Only the platform's own principal runs without a user row: any other (a job's actor, say)
    gets a skip, never the platform's admin rights."""
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    with platform.client.app.state.sessions.begin() as session:
        put = service.put_managed_schedule(
            session,
            Principal(user_id=None, username="alice", role=Role.admin),
            name=name,
            job_type="train",
            spec=spec(dataset, name),
            every_seconds=10,
            managed_by=f"deployment-monitor:{name}",
        )
    assert put.next_run_at is not None
    fire(platform, put.next_run_at)
    schedule = read(platform, name)
    assert schedule["last_job_id"] is None
    assert "'alice' is not a user this schedule can run as" in schedule["last_skip_reason"]
