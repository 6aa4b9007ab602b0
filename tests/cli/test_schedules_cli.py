"""`shipyard schedules …` as a real subprocess against a live server: create by interval or
cron, list, show, pause, resume, delete; errors exit 2 with the server's reason."""

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from tests.jobs.conftest import churn_frame

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stderr


@pytest.fixture
def spec_file(admin_client: shipyard.Client, unique_name: str, tmp_path: Path) -> Path:
    version = admin_client.log_dataset(churn_frame(rows=80), unique_name)
    path = tmp_path / "spec.json"
    spec = {"dataset": version.reference, "target": "churned", "estimator": "logistic_regression"}
    path.write_text(json.dumps(spec))
    return path


def test_create_list_show_pause_resume_delete(
    cli: RunCli, admin_client: shipyard.Client, unique_name: str, spec_file: Path
) -> None:
    created = ok(
        cli("schedules", "create", unique_name, "--job-type", "train", "--spec", str(spec_file), "--every", "1d")
    )
    assert f"Created schedule {unique_name}: train every 1d, next run" in created
    schedule = admin_client.get_schedule(unique_name)
    assert (schedule.every_seconds, schedule.enabled, schedule.job_type) == (86400, True, "train")
    assert schedule.spec["estimator"] == "logistic_regression"

    by_cron = f"{unique_name}-cron"
    shown = json.loads(
        ok(
            cli(
                "schedules",
                "create",
                by_cron,
                "--job-type",
                "train",
                "--spec",
                str(spec_file),
                "--cron",
                "0 6 * * mon-fri",
                "--paused",
                "--json",
            )
        )
    )
    assert (shown["cron"], shown["enabled"], shown["next_run_at"]) == ("0 6 * * mon-fri", False, None)

    table = ok(cli("schedules", "list"))
    assert unique_name in table
    assert "cron 0 6 * * mon-fri" in table
    listed = json.loads(ok(cli("schedules", "list", "--json")))["schedules"]
    assert {by_cron, unique_name} <= {s["name"] for s in listed}

    details = ok(cli("schedules", "show", unique_name))
    assert "every 1d" in details
    assert "logistic_regression" in details
    assert json.loads(ok(cli("schedules", "show", unique_name, "--json")))["ticks"] == []

    assert "Paused" in ok(cli("schedules", "pause", unique_name))
    assert admin_client.get_schedule(unique_name).next_run_at is None
    assert "Resumed" in ok(cli("schedules", "resume", unique_name))
    assert admin_client.get_schedule(unique_name).enabled

    for name in (unique_name, by_cron):
        assert "Deleted" in ok(cli("schedules", "delete", name))
    with pytest.raises(shipyard.errors.ScheduleNotFound):
        admin_client.get_schedule(unique_name)


def test_errors_exit_2_with_the_reason(cli: RunCli, unique_name: str, spec_file: Path) -> None:
    create = ["schedules", "create", unique_name, "--job-type", "train", "--spec", str(spec_file)]
    assert "exactly one of --every and --cron" in failed(cli(*create))
    assert "exactly one of --every and --cron" in failed(cli(*create, "--every", "1h", "--cron", "* * * * *"))
    assert "minute field '61': 61 is outside 0-59" in failed(cli(*create, "--cron", "61 * * * *"))
    assert "shorter than the shortest interval" in failed(cli(*create, "--every", "5s"))
    assert "no schedule named" in failed(cli("schedules", "show", unique_name))
    ok(cli(*create, "--every", "1d"))
    assert "already exists" in failed(cli(*create, "--every", "1d"))
    ok(cli("schedules", "delete", unique_name))
    assert "no schedule named" in failed(cli("schedules", "delete", unique_name))
