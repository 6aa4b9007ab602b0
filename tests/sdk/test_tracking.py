"""The notebook API and the Client end to end, over real HTTP against a `shipyard server` process."""

import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

import shipyard
import shipyard.client
from shipyard import errors
from tests.sdk.live_server import REPO_ROOT, LiveServer


def test_start_run_finishes_with_params_metrics_and_tags(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name, name="baseline", tags={"team": "risk"}) as run:
        run.log_param("model", "rf")
        run.log_params({"n_estimators": 200, "max_depth": None})
        run.log_metric("f1", 0.81, step=1)
        run.log_metrics({"f1": 0.87, "auc": 0.93}, step=2)
        run.set_tag("stage", "dev")
        run.set_tags({"owner": "ana"})
        assert shipyard.active_run() is run

    assert shipyard.active_run() is None
    stored = admin_client.get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.end_time is not None
    assert stored.name == "baseline"
    assert stored.params == {"model": "rf", "n_estimators": "200", "max_depth": "None"}
    assert stored.metrics == {"f1": 0.87, "auc": 0.93}
    assert stored.tags == {"team": "risk", "stage": "dev", "owner": "ana"}
    assert run.info.status == "FINISHED"
    experiment = admin_client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    assert stored.experiment_id == experiment.id


def test_exception_in_block_fails_the_run_and_propagates(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    started: list[shipyard.ActiveRun] = []

    def train() -> None:
        with shipyard.start_run(experiment_name) as run:
            started.append(run)
            run.log_metric("loss", 0.5)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()

    stored = admin_client.get_run(started[0].id)
    assert stored.status == "FAILED"
    assert stored.metrics == {"loss": 0.5}, "metrics buffered before the error are still sent"


def test_keyboard_interrupt_kills_the_run(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with pytest.raises(KeyboardInterrupt), shipyard.start_run(experiment_name) as run:
        raise KeyboardInterrupt

    assert admin_client.get_run(run.id).status == "KILLED"


def test_buffered_metrics_all_arrive_in_order(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name) as run:
        for step in range(2500):
            run.log_metric("loss", 1.0 / (step + 1), step=step)

    history = admin_client.get_metric_history(run.id, "loss")
    assert len(history) == 2500
    assert [point.step for point in history] == list(range(2500))
    assert history[-1].value == pytest.approx(1 / 2500)


def test_background_timer_sends_metrics_without_a_flush(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name) as run:
        run.log_metric("heartbeat", 1.0)
        deadline = time.monotonic() + 10
        while "heartbeat" not in admin_client.get_run(run.id).metrics:
            assert time.monotonic() < deadline, "the ~1 s timer never sent the buffered point"
            time.sleep(0.2)


def test_nan_and_infinity_metrics_round_trip(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name) as run:
        run.log_metric("loss", 0.5, step=0)
        run.log_metric("loss", float("inf"), step=1)
        run.log_metric("loss", float("nan"), step=2)
        shipyard.log_metrics({"floor": float("-inf")}, step=0)

    stored = admin_client.get_run(run.id)
    assert math.isnan(stored.metrics["loss"])
    assert stored.metrics["floor"] == -math.inf
    history = admin_client.get_metric_history(run.id, "loss")
    assert [point.step for point in history] == [0, 1, 2]
    assert history[0].value == 0.5
    assert history[1].value == math.inf
    assert math.isnan(history[2].value)
    found = shipyard.search_runs(experiment_name, filter="metrics.loss != 1")
    assert [r.id for r in found] == [run.id]
    assert not shipyard.search_runs(experiment_name, filter="metrics.loss > 0")


def test_invalid_metric_is_refused_where_it_is_logged(fluent: shipyard.Client, experiment_name: str) -> None:
    with shipyard.start_run(experiment_name) as run, pytest.raises(ValueError, match="invalid metric key"):
        run.log_metric("bad\nkey", 1.0)


def test_module_level_functions_act_on_the_active_run(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str, tmp_path: Path
) -> None:
    with pytest.raises(errors.NoActiveRun):
        shipyard.log_param("lr", 0.1)
    report = tmp_path / "report.txt"
    report.write_text("ok")

    run = shipyard.start_run(experiment_name)
    shipyard.log_param("lr", 0.1)
    shipyard.log_params({"batch": 32})
    shipyard.log_metric("acc", 0.5, step=0)
    shipyard.log_metrics({"acc": 0.75}, step=1)
    shipyard.set_tag("kind", "module-level")
    shipyard.set_tags({"reviewed": "no"})
    shipyard.log_artifact(report)
    shipyard.flush()
    assert admin_client.get_run(run.id).metrics == {"acc": 0.75}
    shipyard.end_run()

    assert shipyard.active_run() is None
    stored = admin_client.get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.params == {"lr": "0.1", "batch": "32"}
    assert stored.tags == {"kind": "module-level", "reviewed": "no"}
    assert [entry.path for entry in admin_client.list_artifacts(run.id)] == ["report.txt"]


def test_nested_runs_record_their_parent(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name, name="sweep") as parent:
        for trial in range(2):
            with shipyard.start_run(experiment_name, name=f"trial-{trial}") as child:
                assert shipyard.active_run() is child
                shipyard.log_metric("score", trial)
            assert shipyard.active_run() is parent
        explicit = shipyard.start_run(experiment_name, parent_run_id=parent.id)
        explicit.end()

    children = admin_client.search_runs(filter=f"attributes.parent_run_id = '{parent.id}'")
    assert sorted(run.name for run in children) == sorted(["trial-0", "trial-1", explicit.info.name])
    assert admin_client.get_run(parent.id).parent_run_id is None


def test_environment_is_recorded(fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str) -> None:
    with shipyard.start_run(experiment_name) as run:
        pass

    stored = admin_client.get_run(run.id)
    assert stored.environment is not None
    assert stored.environment["python"] == ".".join(str(part) for part in sys.version_info[:3])
    assert stored.environment["platform"]
    packages = stored.environment["packages"]
    # Installed with Shipyard itself; torch and friends appear only where installed.
    assert {"numpy", "pandas", "scikit-learn"} <= packages.keys()
    assert set(packages) <= {"scikit-learn", "numpy", "pandas", "torch", "xgboost", "lightgbm"}
    assert stored.source.entry_point == sys.argv[0]


def _script_env(live_server: LiveServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_URL=live_server.url, SHIPYARD_TOKEN=live_server.token)
    # The script runs from a foreign folder; it must still import this checkout's SDK.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _run_script(folder: Path, body: str, live_server: LiveServer) -> str:
    script = folder / "train.py"
    script.write_text(textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=_script_env(live_server), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_script_in_a_git_checkout_records_commit_and_entry_point(
    live_server: LiveServer, admin_client: shipyard.Client, experiment_name: str, tmp_path: Path
) -> None:
    identity = ["-c", "user.name=Shipyard Tests", "-c", "user.email=tests@example.invalid"]
    git = ["git", *identity, "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "README").write_text("a training project\n")
    subprocess.run([*git, "add", "README"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()

    run_id = _run_script(
        tmp_path,
        f"""
        import shipyard
        with shipyard.start_run({experiment_name!r}) as run:
            run.log_metric("f1", 0.9)
        print(run.id)
        """,
        live_server,
    )

    stored = admin_client.get_run(run_id)
    assert stored.source.git_commit == head
    assert stored.source.entry_point is not None
    assert stored.source.entry_point.endswith("train.py")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_is_found_from_packed_refs_a_detached_head_and_a_worktree(
    live_server: LiveServer, admin_client: shipyard.Client, experiment_name: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    git = [
        "git",
        "-c",
        "user.name=Shipyard Tests",
        "-c",
        "user.email=tests@example.invalid",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    for message in ("one", "two"):
        (repo / "README").write_text(message)
        subprocess.run([*git, "add", "README"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "-m", message], cwd=repo, check=True)

    def rev(name: str) -> str:
        return subprocess.run(
            ["git", "rev-parse", name], cwd=repo, check=True, capture_output=True, text=True
        ).stdout.strip()

    subprocess.run([*git, "pack-refs", "--all"], cwd=repo, check=True)  # the branch is now only in packed-refs
    subprocess.run(
        [*git, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"), "HEAD~1"], cwd=repo, check=True
    )
    script = f"""
        import shipyard
        with shipyard.start_run({experiment_name!r}) as run:
            pass
        print(run.id)
        """
    for folder, expected in ((repo / "src", rev("HEAD")), (tmp_path / "linked", rev("HEAD~1"))):
        stored = admin_client.get_run(_run_script(folder, script, live_server))
        assert stored.source.git_commit == expected, folder


def test_run_left_open_is_ended_and_flushed_at_exit(
    live_server: LiveServer, admin_client: shipyard.Client, experiment_name: str, tmp_path: Path
) -> None:
    run_id = _run_script(
        tmp_path,
        f"""
        import shipyard
        run = shipyard.start_run({experiment_name!r})
        for step in range(10):
            shipyard.log_metric("loss", 1 / (step + 1), step=step)
        print(run.id)
        """,
        live_server,
    )

    stored = admin_client.get_run(run_id)
    assert stored.status == "FINISHED"
    assert len(admin_client.get_metric_history(run_id, "loss")) == 10


def test_search_runs_with_filter_and_order_by(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    for model, f1 in [("rf", 0.71), ("rf", 0.92), ("xgb", 0.88), ("rf", 0.85)]:
        with shipyard.start_run(experiment_name, tags={"team": "risk"}) as run:
            run.log_params({"model": model})
            run.log_metric("f1", f1)

    runs = shipyard.search_runs(
        experiment=experiment_name, filter="params.model = 'rf' and metrics.f1 > 0.8", order_by="metrics.f1 DESC"
    )
    assert [run.metrics["f1"] for run in runs] == [0.92, 0.85]
    assert all(run.params["model"] == "rf" for run in runs)
    assert runs.next_page_token is None

    frame = shipyard.search_runs(experiment=[experiment_name], order_by=["metrics.f1 ASC"], output_format="pandas")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["metrics.f1"]) == [0.71, 0.85, 0.88, 0.92]
    for column in ["run_id", "experiment_id", "status", "start_time", "end_time", "name"]:
        assert column in frame.columns
    assert {"params.model", "tags.team"} <= set(frame.columns)
    assert set(frame["status"]) == {"FINISHED"}
    assert str(frame["start_time"].dtype).startswith("datetime64")

    with pytest.raises(errors.ExperimentNotFound):
        shipyard.search_runs(experiment=f"{experiment_name}-missing")
    with pytest.raises(errors.InvalidFilter) as bad:
        shipyard.search_runs(experiment=experiment_name, filter="metrics.f1 >> 1")
    assert bad.value.status == 400
    assert "position" in bad.value.detail


def test_search_runs_follows_pages_beyond_max_results(
    admin_client: shipyard.Client, experiment_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = admin_client.create_experiment(experiment_name)
    created = [admin_client.create_run(experiment.id, name=f"r{i}") for i in range(7)]
    # Small pages make the client walk several of them, as 1,000-run pages would.
    monkeypatch.setattr(shipyard.client, "MAX_PAGE_SIZE", 2)

    first = admin_client.search_runs([experiment.id], order_by="attributes.name ASC", max_results=5)
    assert [run.name for run in first] == ["r0", "r1", "r2", "r3", "r4"]
    assert first.next_page_token is not None
    rest = admin_client.search_runs(
        [experiment.id], order_by="attributes.name ASC", max_results=100, page_token=first.next_page_token
    )
    assert [run.name for run in rest] == ["r5", "r6"]
    assert rest.next_page_token is None
    assert {run.id for run in [*first, *rest]} == {run.id for run in created}


def test_metric_history_downsampling(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    with shipyard.start_run(experiment_name) as run:
        for step in range(500):
            run.log_metric("train/loss", 500 - step, step=step)

    full = shipyard.get_metric_history(run.id, "train/loss")
    thinned = shipyard.get_metric_history(run.id, "train/loss", max_points=50)
    assert len(full) == 500
    assert 0 < len(thinned) <= 50
    steps = [point.step for point in thinned]
    assert steps == sorted(steps)
    assert steps[0] == 0
    assert steps[-1] == 499
    with pytest.raises(errors.MetricNotFound):
        admin_client.get_metric_history(run.id, "missing")


def test_artifacts_round_trip(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    plots = tmp_path / "plots"
    (plots / "roc").mkdir(parents=True)
    (plots / "pr.svg").write_text("<svg/>")
    (plots / "roc" / "roc.svg").write_text("<svg>roc</svg>")
    notes = tmp_path / "notes ü 1.txt"
    notes.write_text("unicode and spaces survive the URL")
    refused = tmp_path / "a#b.txt"
    refused.write_text("the server refuses '#' in artifact paths")

    with shipyard.start_run(experiment_name) as run:
        stored = run.log_artifact(model, artifact_path="models")
        uploaded = run.log_artifacts(plots, artifact_path="plots")
        run.log_artifact(notes, artifact_path="read me")
        with pytest.raises(errors.InvalidPath):
            run.log_artifact(refused)

    assert stored.path == "models/model.bin"
    assert stored.size == model.stat().st_size
    assert sorted(item.path for item in uploaded) == ["plots/pr.svg", "plots/roc/roc.svg"]
    root = {entry.path: entry for entry in admin_client.list_artifacts(run.id)}
    assert root.keys() == {"models", "plots", "read me"}
    assert all(entry.is_dir for entry in root.values())
    assert {e.path for e in admin_client.list_artifacts(run.id, "plots")} == {"plots/pr.svg", "plots/roc"}

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    into_folder = admin_client.download_artifact(run.id, "models/model.bin", downloads)
    assert into_folder == downloads / "model.bin"
    assert into_folder.read_bytes() == model.read_bytes()
    as_file = admin_client.download_artifact(run.id, "plots/roc/roc.svg", downloads / "nested" / "curve.svg")
    assert as_file.read_text() == "<svg>roc</svg>"
    notes_copy = admin_client.download_artifact(run.id, "read me/notes ü 1.txt", downloads)
    assert notes_copy.read_text() == notes.read_text()
    assert sorted(p.name for p in downloads.iterdir()) == ["model.bin", "nested", notes.name], "no partial files left"

    with pytest.raises(errors.ArtifactNotFound):
        admin_client.download_artifact(run.id, "models/missing.bin", downloads)
    assert not (downloads / "missing.bin").exists()
    with pytest.raises(errors.InvalidInput):
        admin_client.list_artifacts(run.id, "../other")


def test_param_conflict_raises_conflict(
    fluent: shipyard.Client, admin_client: shipyard.Client, experiment_name: str
) -> None:
    started: list[shipyard.ActiveRun] = []

    def train() -> None:
        with shipyard.start_run(experiment_name) as run:
            started.append(run)
            run.log_param("model", "rf")
            run.log_param("model", "rf")  # the same value again is fine
            run.log_param("model", "xgb")

    with pytest.raises(errors.ParamConflict) as conflict:
        train()

    run = started[0]
    assert isinstance(conflict.value, errors.Conflict)
    assert conflict.value.status == 409
    assert conflict.value.code == "param_conflict"
    assert admin_client.get_run(run.id).params == {"model": "rf"}
    assert admin_client.get_run(run.id).status == "FAILED"


def test_bad_token_is_unauthenticated(live_server: LiveServer) -> None:
    client = shipyard.Client(live_server.url, "shp_not-a-real-token")
    with client, pytest.raises(errors.Unauthenticated) as refused:
        client.whoami()
    assert refused.value.status == 401
    assert refused.value.code == "unauthenticated"
    assert refused.value.request_id


def test_errors_map_codes_to_classes(admin_client: shipyard.Client, experiment_name: str) -> None:
    with pytest.raises(errors.RunNotFound) as missing:
        admin_client.get_run("0" * 32)
    assert isinstance(missing.value, errors.NotFound)
    assert missing.value.detail in str(missing.value)
    admin_client.create_experiment(experiment_name)
    with pytest.raises(errors.ExperimentConflict):
        admin_client.create_experiment(experiment_name)
    with pytest.raises(errors.ValidationError) as invalid:
        admin_client.create_user("not a valid name!", role="viewer")
    assert invalid.value.errors


def test_viewer_cannot_log(live_server: LiveServer, admin_client: shipyard.Client, experiment_name: str) -> None:
    username = f"viewer-{experiment_name}"
    admin_client.create_user(username, role="viewer")
    token = admin_client.create_token(username, name="sdk-tests")
    assert token.token is not None
    with shipyard.Client(live_server.url, token.token) as viewer:
        assert viewer.whoami().role == "viewer"
        with pytest.raises(errors.Forbidden):
            viewer.create_experiment(experiment_name)


def test_experiment_lifecycle(admin_client: shipyard.Client, experiment_name: str) -> None:
    created = admin_client.get_or_create_experiment(experiment_name, description="churn models", tags={"team": "x"})
    assert admin_client.get_or_create_experiment(experiment_name) == created
    assert admin_client.get_experiment(created.id).description == "churn models"
    renamed = admin_client.update_experiment(created.id, name=f"{experiment_name}-v2", tags={"team": "y"})
    assert (renamed.name, renamed.tags) == (f"{experiment_name}-v2", {"team": "y"})
    admin_client.archive_experiment(created.id)
    assert admin_client.get_experiment(created.id).lifecycle_stage == "archived"
    assert created.id not in {e.id for e in admin_client.list_experiments()}
    assert created.id in {e.id for e in admin_client.list_experiments(lifecycle_stage="all")}
    assert admin_client.get_experiment_by_name(f"{experiment_name}-missing") is None


def test_injected_http_client_is_used_and_left_open(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        client = shipyard.Client(token=live_server.token, http_client=http)
        assert client.url == live_server.url
        assert client.health() == {"status": "ok"}
        assert client.whoami().username == "admin"
        client.close()
        assert not http.is_closed


def test_unreachable_server_is_a_transport_error() -> None:
    client = shipyard.Client("http://127.0.0.1:9", "shp_x", timeout=2)
    with client, pytest.raises(errors.TransportError) as failed:
        client.whoami()
    assert failed.value.status == 0
