"""/api/v1/schedules through HTTP: the lifecycle with its audit trail, every kind of bad input (a
clear 4xx naming what is wrong, nothing written), names unique under concurrent creates, the
spec checked with its author's rights, and managed schedules refused with the reason."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from app.context import Principal
from app.errors import InvalidInput, ScheduleConflict
from app.schedules import service
from tests.conftest import serve_in_thread, user_headers
from tests.jobs.conftest import Platform
from tests.schedules.conftest import API, at, create, read, spec, username_of

pytestmark = pytest.mark.slow


def test_create_read_pause_resume_change_and_delete(platform: Platform, dataset: str, editor: dict[str, str]) -> None:
    name = f"nightly-{uuid.uuid4().hex[:8]}"
    created = create(platform, editor, name=name, job_type="train", spec=spec(dataset, name), every="1h")
    assert (created["every_seconds"], created["cron"], created["enabled"]) == (3600, None, True)
    assert created["run_as"] == created["created_by"] == username_of(platform, editor)
    assert created["managed_by"] is None
    assert (created["last_run_at"], created["last_job_id"]) == (None, None)
    next_run = at(created["next_run_at"])
    assert (next_run.minute, next_run.second, next_run.microsecond) == (0, 0, 0), "every 1h fires on the hour"
    assert timedelta(0) < next_run - at(created["created_at"]) <= timedelta(hours=1)
    assert created["spec"]["dataset"] == dataset

    assert read(platform, name.upper()) == created  # found as people read the name
    assert name in [s["name"] for s in platform.get("/schedules?max_results=1000")["schedules"]]

    paused = platform.client.patch(f"{API}/schedules/{name}", json={"enabled": False}, headers=editor).json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    resumed = platform.client.patch(f"{API}/schedules/{name}", json={"enabled": True}, headers=editor).json()
    assert resumed["enabled"] is True
    assert resumed["next_run_at"] == created["next_run_at"]

    by_cron = platform.client.patch(f"{API}/schedules/{name}", json={"cron": "30 6 * * mon-fri"}, headers=editor)
    assert by_cron.status_code == 200, by_cron.text
    changed = by_cron.json()
    assert (changed["every_seconds"], changed["cron"]) == (None, "30 6 * * mon-fri")
    fires = at(changed["next_run_at"])
    assert (fires.hour, fires.minute, fires.weekday() < 5) == (6, 30, True)

    deleted = platform.client.delete(f"{API}/schedules/{name}", headers=editor)
    assert deleted.status_code == 204, deleted.text
    missing = platform.client.get(f"{API}/schedules/{name}", headers=editor)
    assert (missing.status_code, missing.json()["code"]) == (404, "schedule_not_found")

    events = platform.get(f"/audit?resource_type=schedule&resource_id={name}")["events"]
    assert sorted(e["action"] for e in events) == sorted(
        ["schedule.create"] + ["schedule.update"] * 3 + ["schedule.delete"]
    )
    assert {e["actor"] for e in events} == {created["created_by"]}


def test_a_cron_schedule_and_one_created_paused(platform: Platform, dataset: str) -> None:
    name = f"cron-{uuid.uuid4().hex[:8]}"
    created = create(
        platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), cron="*/5 * * * *"
    )
    assert created["cron"] == "*/5 * * * *"
    assert at(created["next_run_at"]).minute % 5 == 0
    paused = create(
        platform,
        platform.headers,
        name=f"{name}-p",
        job_type="train",
        spec=spec(dataset, name),
        every=600,
        enabled=False,
    )
    assert (paused["enabled"], paused["next_run_at"], paused["every_seconds"]) == (False, None, 600)


@pytest.mark.parametrize(
    ("changes", "drop", "status", "code", "says"),
    [
        ({"cron": "0 * * * *"}, (), 400, "invalid_input", "exactly one of every and cron"),
        ({}, ("every",), 400, "invalid_input", "exactly one of every and cron"),
        ({"cron": "61 * * * *"}, ("every",), 400, "invalid_input", "minute field '61': 61 is outside 0-59"),
        ({"cron": "* * *"}, ("every",), 400, "invalid_input", "has 5 fields"),
        ({"every": 5}, (), 400, "invalid_input", "5 s is shorter than the shortest interval, 10 s"),
        ({"every": "9s"}, (), 400, "invalid_input", "shorter than the shortest interval"),
        ({"every": "fortnightly"}, (), 400, "invalid_input", "is not an interval"),
        ({"every": True}, (), 422, "validation_error", "every"),
        ({"job_type": "retrain_everything"}, (), 422, "validation_error", "job_type"),
        ({"job_type": "rollout_analysis"}, (), 400, "invalid_spec", "started by a rollout"),
        ({"spec": {"estimator": "nope"}}, (), 400, "invalid_spec", "estimator"),
        ({"spec": {"parms": {}}}, (), 400, "invalid_spec", "parms"),
        ({"spec": {"dataset": "no-such-data@1"}}, (), 404, "dataset_not_found", "no-such-data"),
        ({"name": "nightly/../x"}, (), 422, "validation_error", "name"),
        ({"nmae": "x"}, (), 422, "validation_error", "nmae"),
        ({}, ("spec",), 422, "validation_error", "spec"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    platform: Platform,
    dataset: str,
    changes: dict[str, Any],
    drop: tuple[str, ...],
    status: int,
    code: str,
    says: str,
) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {"name": name, "job_type": "train", "spec": spec(dataset, name), "every": "1h"}
    body.update({**changes, "spec": {**body["spec"], **changes.get("spec", {})}})
    for key in drop:
        body.pop(key)
    response = platform.client.post(f"{API}/schedules", json=body, headers=platform.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert says in problem["detail"]
    if code == "invalid_input":
        assert problem["field"] in ("every", "cron")
    assert platform.client.get(f"{API}/schedules/{name}", headers=platform.headers).status_code == 404
    assert platform.get(f"/audit?resource_type=schedule&resource_id={name}")["events"] == []


def test_a_taken_name_is_a_409(platform: Platform, dataset: str) -> None:
    name = f"Taken-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "job_type": "train", "spec": spec(dataset, name), "every": "1d"}
    create(platform, platform.headers, **body)
    for spelling in (name, name.lower(), name.upper()):
        again = platform.client.post(f"{API}/schedules", json={**body, "name": spelling}, headers=platform.headers)
        assert (again.status_code, again.json()["code"]) == (409, "schedule_conflict"), again.text


def test_concurrent_creates_of_one_name_make_one(platform: Platform, dataset: str) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    spellings = [name, name.upper(), name.capitalize(), name.swapcase().capitalize()] * 2
    barrier = threading.Barrier(len(spellings))
    with serve_in_thread(cast(FastAPI, platform.client.app)) as url:

        def post(spelling: str) -> tuple[int, str]:
            body = {"name": spelling, "job_type": "train", "spec": spec(dataset, name), "every": "1d"}
            with httpx.Client(base_url=url, headers=platform.headers, timeout=60) as http:
                barrier.wait()
                answer = http.post(f"{API}/schedules", json=body)
                return answer.status_code, answer.json()["code"] if answer.is_error else ""

        with ThreadPoolExecutor(len(spellings)) as pool:
            answers = list(pool.map(post, spellings))
    assert sorted(answers) == [(201, "")] + [(409, "schedule_conflict")] * (len(spellings) - 1)
    listed = [s for s in platform.get("/schedules?max_results=1000")["schedules"] if s["name"].lower() == name]
    assert len(listed) == 1


def test_the_creator_must_be_allowed_to_submit_the_spec(
    platform: Platform, dataset: str, editor: dict[str, str]
) -> None:
    name = f"prod-{uuid.uuid4().hex[:8]}"
    protected = spec(dataset, name, register_as=name, alias="production")
    refused = platform.client.post(
        f"{API}/schedules", json={"name": name, "job_type": "train", "spec": protected, "every": "1d"}, headers=editor
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), refused.text
    assert "protected" in refused.json()["detail"]
    viewer = user_headers(platform.client, platform.headers, "viewer")
    body = {"name": name, "job_type": "train", "spec": spec(dataset, name), "every": "1d"}
    assert platform.client.post(f"{API}/schedules", json=body, headers=viewer).status_code == 403
    assert platform.client.get(f"{API}/schedules/{name}", headers=viewer).status_code == 404


def test_a_new_spec_is_checked_with_its_authors_rights_and_then_runs_as_them(
    platform: Platform, dataset: str, editor: dict[str, str]
) -> None:
    name = f"owned-{uuid.uuid4().hex[:8]}"
    created = create(
        platform,
        platform.headers,
        name=name,
        job_type="train",
        spec=spec(dataset, name, register_as=name, alias="production"),
        every="1d",
    )
    assert created["run_as"] == "admin"
    # An editor may not make the admin's schedule move a protected alias, nor keep it doing so as theirs.
    escalate = platform.client.patch(
        f"{API}/schedules/{name}", json={"spec": spec(dataset, name, register_as=name, alias="prod")}, headers=editor
    )
    assert escalate.status_code == 200, escalate.text
    assert escalate.json()["run_as"] == username_of(platform, editor)
    back = platform.client.patch(
        f"{API}/schedules/{name}",
        json={"spec": spec(dataset, name, register_as=name, alias="production")},
        headers=editor,
    )
    assert (back.status_code, back.json()["code"]) == (403, "forbidden")
    assert read(platform, name)["spec"]["alias"] == "prod"
    # Pausing is not authoring: it runs as the same user after.
    platform.client.patch(f"{API}/schedules/{name}", json={"enabled": False}, headers=platform.headers)
    assert read(platform, name)["run_as"] == username_of(platform, editor)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"every": "1h", "cron": "* * * * *"}, "invalid_input", "exactly one of every and cron"),
        ({"cron": "0 0 31 2 *"}, "invalid_input", "never fires"),
        ({"every": 1}, "invalid_input", "shorter"),
        ({"spec": {"estimator": "nope"}}, "invalid_spec", "estimator"),
        ({"enabled": "yes"}, "validation_error", "enabled"),
        ({"job_type": "evaluate"}, "validation_error", "job_type"),
    ],
)
def test_a_bad_change_is_refused_and_changes_nothing(
    platform: Platform, dataset: str, body: dict[str, Any], code: str, says: str
) -> None:
    name = f"keep-{uuid.uuid4().hex[:8]}"
    created = create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every="1h")
    if "spec" in body:
        body = {"spec": {**created["spec"], **body["spec"]}}
    response = platform.client.patch(f"{API}/schedules/{name}", json=body, headers=platform.headers)
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] == code
    assert says in response.json()["detail"]
    assert read(platform, name) == created
    nothing = platform.client.patch(f"{API}/schedules/{name}", json={}, headers=platform.headers)
    assert (nothing.status_code, nothing.json()) == (200, created)


def test_pages(platform: Platform, dataset: str) -> None:
    names = {f"page-{uuid.uuid4().hex[:8]}" for _ in range(3)}
    for name in names:
        create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every="1d")
    seen: list[str] = []
    token = None
    while True:
        page = platform.get("/schedules?max_results=2" + (f"&page_token={token}" if token else ""))
        assert len(page["schedules"]) <= 2
        seen += [s["name"] for s in page["schedules"]]
        token = page["next_page_token"]
        if not token:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))
    bad = platform.client.get(f"{API}/schedules?page_token=bm9wZQ", headers=platform.headers)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_input")


def put_managed(platform: Platform, name: str, dataset: str, **fields: Any) -> Any:
    """service.put_managed_schedule as the platform itself, in a transaction of its own."""
    values: dict[str, Any] = {
        "name": name,
        "job_type": "train",
        "spec": spec(dataset, name),
        "every_seconds": 3600,
        "managed_by": f"deployment-monitor:{name}",
    }
    values.update(fields)
    with platform.client.app.state.sessions.begin() as session:
        return service.put_managed_schedule(session, Principal.system(), **values)


def test_a_managed_schedule_is_shown_but_changed_only_by_its_owner(platform: Platform, dataset: str) -> None:
    name = f"monitor-{uuid.uuid4().hex[:8]}"
    owner = f"deployment-monitor:{name}"
    put = put_managed(platform, name, dataset)
    assert (put.managed_by, put.every_seconds, put.run_as) == (owner, 3600, "system")
    shown = read(platform, name)
    assert shown["managed_by"] == owner

    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        refused = platform.client.request(method, f"{API}/schedules/{name}", json=body, headers=platform.headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "schedule_managed"
        assert owner in refused.json()["detail"]
        assert refused.json()["managed_by"] == owner
    taken = platform.client.post(
        f"{API}/schedules",
        json={"name": name, "job_type": "train", "spec": spec(dataset, name), "every": "1h"},
        headers=platform.headers,
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "schedule_conflict")
    assert read(platform, name) == shown

    # The owner's put again is an update, not a second schedule.
    again = put_managed(platform, name, dataset, every_seconds=None, cron="15 * * * *", enabled=False)
    assert (again.cron, again.every_seconds, again.enabled, again.next_run_at) == ("15 * * * *", None, False, None)
    with pytest.raises(ScheduleConflict, match="is managed by"):
        put_managed(platform, name, dataset, managed_by="someone-else")

    with platform.client.app.state.sessions.begin() as session:
        service.delete_managed_schedule(session, Principal.system(), name)
    assert platform.client.get(f"{API}/schedules/{name}", headers=platform.headers).status_code == 404
    with platform.client.app.state.sessions.begin() as session:
        service.delete_managed_schedule(session, Principal.system(), name)  # gone already: nothing to do


def test_a_users_schedule_is_not_taken_over_by_a_managed_put(platform: Platform, dataset: str) -> None:
    name = f"mine-{uuid.uuid4().hex[:8]}"
    create(platform, platform.headers, name=name, job_type="train", spec=spec(dataset, name), every="1h")
    with pytest.raises(ScheduleConflict, match="a user's own schedule"):
        put_managed(platform, name, dataset)
    with pytest.raises(ScheduleConflict, match="a user's own"), platform.client.app.state.sessions.begin() as session:
        service.delete_managed_schedule(session, Principal.system(), name)
    assert read(platform, name)["managed_by"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"job_type": "cleanup"}, "job_type"),
        ({"managed_by": " "}, "managed_by"),
        ({"every_seconds": 1}, "every"),
        ({"every_seconds": None, "cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * * *"}, "every"),
    ],
)
def test_a_bad_managed_put_is_refused(platform: Platform, dataset: str, fields: dict[str, Any], field: str) -> None:
    name = f"monitor-{uuid.uuid4().hex[:8]}"
    given = {"name": name, **fields}
    with pytest.raises(InvalidInput) as raised:
        put_managed(platform, dataset=dataset, **given)
    assert raised.value.extra["field"] == field
    assert platform.client.get(f"{API}/schedules/{name}", headers=platform.headers).status_code == 404


def test_concurrent_managed_puts_of_one_name_make_one(platform: Platform, dataset: str) -> None:
    name = f"monitor-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(6)

    def put(every: int) -> int | None:
        barrier.wait()
        return int(put_managed(platform, name, dataset, every_seconds=every).every_seconds or 0)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(put, [600 * (i + 1) for i in range(6)]))
    assert sorted(answers) == [600 * (i + 1) for i in range(6)]
    listed = [s for s in platform.get("/schedules?max_results=1000")["schedules"] if s["name"] == name]
    assert len(listed) == 1
    assert listed[0]["every_seconds"] in answers
