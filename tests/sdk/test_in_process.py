"""The SDK over an injected transport: Starlette's TestClient runs the app in this process."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import shipyard
from shipyard import errors


@pytest.fixture
def sdk(client: TestClient, admin_token: str) -> shipyard.Client:
    """An SDK client whose requests go straight to the in-process app (one per database backend)."""
    return shipyard.Client(token=admin_token, http_client=client)


def test_tracking_through_the_test_client(sdk: shipyard.Client, unique: str, tmp_path: Path) -> None:
    experiment = sdk.get_or_create_experiment(f"in-process-{unique}")
    run = sdk.create_run(experiment.id, name="in-process", source={"git_commit": "abc123", "entry_point": "nb"})
    sdk.log_batch(
        run.id,
        metrics=[shipyard.Metric("loss", 1.0 / (step + 1), step=step) for step in range(1500)],
        params={"model": "rf"},
        tags={"where": "testclient"},
    )
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01" * 70_000)
    assert sdk.log_artifact(run.id, source).size == 140_000
    downloaded = sdk.download_artifact(run.id, "weights.bin", tmp_path / "copy.bin")
    sdk.update_run(run.id, status="FINISHED")

    stored = sdk.get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.params == {"model": "rf"}
    assert stored.tags == {"where": "testclient"}
    assert stored.source.git_commit == "abc123"
    assert len(sdk.get_metric_history(run.id, "loss")) == 1500, "split into two log-batch requests"
    assert downloaded.read_bytes() == source.read_bytes()
    assert sdk.whoami().role == "admin"


def test_fluent_api_through_the_test_client(client: TestClient, admin_token: str, unique: str) -> None:
    shipyard.set_tracking(token=admin_token, http_client=client)
    with shipyard.start_run(f"in-process-{unique}") as run:
        shipyard.log_metrics({"acc": 0.5, "f1": 0.25}, step=3)
    runs = shipyard.search_runs(f"in-process-{unique}")
    assert [found.id for found in runs] == [run.id]
    assert runs[0].metrics == {"acc": 0.5, "f1": 0.25}
    with pytest.raises(errors.RunNotFound):
        shipyard.get_metric_history("f" * 32, "acc")


def test_start_run_sends_params_tags_and_first_metrics_with_the_run(
    client: TestClient, admin_token: str, unique: str
) -> None:
    shipyard.set_tracking(token=admin_token, http_client=client)
    with shipyard.start_run(
        f"in-process-{unique}", tags={"team": "risk"}, params={"model": "rf", "depth": 3}, metrics={"acc": 0.5}
    ) as run:
        # Known from the create response itself, before anything else was sent.
        assert run.info.params == {"model": "rf", "depth": "3"}
        assert run.info.metrics == {"acc": 0.5}
        run.log_metric("acc", 0.75, step=1)
    stored = shipyard.get_client().get_run(run.id)
    assert stored.params == {"model": "rf", "depth": "3"}
    assert stored.tags == {"team": "risk"}
    assert stored.metrics == {"acc": 0.75}
    assert [point.value for point in shipyard.get_client().get_metric_history(run.id, "acc")] == [0.5, 0.75]


def test_a_refused_start_run_creates_no_run(client: TestClient, admin_token: str, unique: str) -> None:
    shipyard.set_tracking(token=admin_token, http_client=client)
    name = f"in-process-{unique}"
    with pytest.raises(errors.ValidationError, match="params"):
        shipyard.start_run(name, params={"model": "x" * 6001})
    with pytest.raises(ValueError, match="invalid metric key"):
        shipyard.start_run(name, metrics={"a\nb": 1.0})
    assert shipyard.active_run() is None
    assert list(shipyard.search_runs(name)) == []


def test_create_run_beyond_the_limits_sends_the_rest_after(sdk: shipyard.Client, unique: str) -> None:
    experiment = sdk.get_or_create_experiment(f"in-process-{unique}")
    run = sdk.create_run(
        experiment.id,
        params={f"p{i}": i for i in range(150)},
        metrics=[shipyard.Metric("loss", float(step), step=step) for step in range(1200)],
    )
    assert len(run.params) == 150
    assert run.metrics == {"loss": 1199.0}
    assert len(sdk.get_metric_history(run.id, "loss")) == 1200
