"""`shipyard models …` as a real subprocess against a live server: list, show (with lineage),
versions, alias (protected for non-admins) and download (checked against the SHA-256)."""

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import shipyard
from tests.sdk.churn import churn_frame, fitted_pipeline

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


@pytest.fixture
def registered(admin_client: shipyard.Client, unique_name: str) -> shipyard.ModelVersion:
    """Version 1 of model `unique_name`, alias `candidate`, logged by a run that read a dataset."""
    features, label = churn_frame(rows=60, seed=5)
    admin_client.log_dataset(features.assign(churned=label), f"{unique_name}-data")
    run = admin_client.create_run(admin_client.get_or_create_experiment(unique_name).id, name="notebook")
    admin_client.link_dataset(run.id, f"{unique_name}-data@1")
    version = admin_client.log_model(
        run.id, fitted_pipeline(features, label), input_example=features[:5], register_as=unique_name, alias="candidate"
    )
    assert version is not None
    return version


def test_list_show_and_versions(cli: RunCli, registered: shipyard.ModelVersion) -> None:
    name = registered.model
    assert name in ok(cli("models", "list"))
    listed = json.loads(ok(cli("models", "list", "--json")))["models"]
    assert next(m for m in listed if m["name"] == name)["aliases"] == {"candidate": 1}

    shown = ok(cli("models", "show", f"{name}@candidate"))
    for expected in ("candidate→1", "READY", registered.source_run_id, f"{name}-data@1 (training)", "model.skops"):
        assert expected in shown, expected
    data = json.loads(ok(cli("models", "show", f"models:/{name}/1", "--json")))
    assert data["version"]["version"] == 1
    assert data["lineage"]["source_run"]["id"] == registered.source_run_id
    assert data["lineage"]["datasets"] == [
        {
            "dataset": f"{name}-data",
            "version": 1,
            "digest": data["lineage"]["datasets"][0]["digest"],
            "context": "training",
        }
    ]
    assert json.loads(ok(cli("models", "show", name, "--json")))["version"]["version"] == 1, "bare name: newest READY"

    table = ok(cli("models", "versions", name))
    assert "READY" in table
    assert registered.source_run_id in table
    versions = json.loads(ok(cli("models", "versions", name, "--json")))["versions"]
    assert [(v["version"], v["status"], v["aliases"]) for v in versions] == [(1, "READY", ["candidate"])]


def test_alias_and_download(
    cli: RunCli, admin_client: shipyard.Client, registered: shipyard.ModelVersion, tmp_path: Path
) -> None:
    name = registered.model
    editor = admin_client.create_user(f"{name}-ed", role="editor", password="a-long-password")
    editor_token = admin_client.create_token(editor.username).token
    refused = cli("models", "alias", name, "production", "1", token=editor_token)
    assert refused.returncode == 2
    assert "protected" in refused.stderr

    assert f"{name}@production → version 1" in ok(cli("models", "alias", name, "production", "1"))
    assert admin_client.get_model(name).aliases == {"candidate": 1, "production": 1}

    target = tmp_path / "downloaded"
    downloaded = ok(cli("models", "download", f"{name}@production", "-o", str(target)))
    assert "version 1" in downloaded
    assert "SHA-256 checked" in downloaded
    for item in registered.files:
        assert hashlib.sha256((target / item.path).read_bytes()).hexdigest() == item.sha256

    ok(cli("models", "alias", name, "candidate", "--delete"))
    assert admin_client.get_model(name).aliases == {"production": 1}
    both = cli("models", "alias", name, "candidate", "1", "--delete")
    assert both.returncode == 2


def test_unknown_models_exit_2(cli: RunCli, unique_name: str, tmp_path: Path) -> None:
    missing = cli("models", "show", f"{unique_name}-missing")
    assert missing.returncode == 2
    assert "no registered model" in missing.stderr
    malformed = cli("models", "download", "not a model!", "-o", str(tmp_path))
    assert malformed.returncode == 2
    assert "model reference" in malformed.stderr
