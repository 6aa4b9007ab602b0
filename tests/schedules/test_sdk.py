"""The SDK's schedule methods over the in-process app (both databases): create, change, pause,
read the ticks, delete, and the error classes of the schedule codes."""

import uuid

import pytest

import shipyard
from app.context import Principal
from app.schedules import service
from shipyard import errors
from tests.jobs.conftest import Platform
from tests.schedules.conftest import fire, spec

pytestmark = pytest.mark.slow


@pytest.fixture
def sdk(platform: Platform) -> shipyard.Client:
    token = platform.headers["Authorization"].removeprefix("Bearer ")
    return shipyard.Client(token=token, http_client=platform.client)


def test_schedule_methods(sdk: shipyard.Client, platform: Platform, dataset: str) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    created = sdk.create_schedule(name, "train", spec(dataset, name), every="15m")
    assert (created.every_seconds, created.cron, created.enabled) == (900, None, True)
    assert created.next_run_at is not None
    assert name in {s.name for s in sdk.list_schedules()}

    changed = sdk.update_schedule(
        name, cron="0 3 * * *", spec=spec(dataset, name, estimator="decision_tree", params={})
    )
    assert (changed.every_seconds, changed.cron, changed.spec["estimator"]) == (None, "0 3 * * *", "decision_tree")
    assert changed.next_run_at is not None
    fire(platform, changed.next_run_at)
    fired = sdk.get_schedule(name)
    [tick] = sdk.list_schedule_ticks(name)
    assert (tick.tick_at, tick.job_id, tick.skip_reason) == (changed.next_run_at, fired.last_job_id, None)
    assert sdk.get_job(tick.job_id).spec["estimator"] == "decision_tree"

    assert sdk.pause_schedule(name).next_run_at is None
    assert sdk.resume_schedule(name).enabled
    sdk.delete_schedule(name)
    with pytest.raises(errors.ScheduleNotFound):
        sdk.get_schedule(name)


def test_error_classes(sdk: shipyard.Client, platform: Platform, dataset: str) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    sdk.create_schedule(name, "train", spec(dataset, name), every=3600)
    with pytest.raises(errors.ScheduleConflict):
        sdk.create_schedule(name, "train", spec(dataset, name), every=3600)
    with pytest.raises(errors.InvalidInput, match="exactly one of every and cron"):
        sdk.create_schedule(f"{name}-2", "train", spec(dataset, name))
    with pytest.raises(errors.InvalidSpec):
        sdk.create_schedule(f"{name}-2", "train", {"dataset": dataset}, cron="@daily")
    managed = f"{name}-monitor"
    with platform.client.app.state.sessions.begin() as session:
        service.put_managed_schedule(
            session,
            Principal.system(),
            name=managed,
            job_type="train",
            spec=spec(dataset, name),
            every_seconds=3600,
            managed_by="deployment-monitor:churn",
        )
    with pytest.raises(errors.ScheduleManaged) as raised:
        sdk.pause_schedule(managed)
    assert raised.value.problem["managed_by"] == "deployment-monitor:churn"
    assert sdk.get_schedule(managed).managed_by == "deployment-monitor:churn"
