"""The CI flow from the CLI alone, against a live server: upload a CSV, train from a YAML spec
and wait, inspect the job, evaluate against gates (exit 0 passed, 1 a gate failed, 2 error,
a gate set up wrongly included),
and find the dataset version in the registered model's lineage."""

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

import shipyard
from tests.sdk.churn import churn_frame

RunCli = Callable[..., subprocess.CompletedProcess[str]]
WAIT = ("--wait", "--timeout", "120")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def write_csv(path: Path, rows: int = 300) -> Path:
    features, label = churn_frame(rows=rows, seed=11)
    features.assign(churned=label).to_csv(path, index=False)
    return path


def write_spec(path: Path, **spec: object) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def test_upload_train_evaluate_and_lineage(cli: RunCli, unique_name: str, tmp_path: Path) -> None:
    data, model = f"{unique_name}-data", f"{unique_name}-model"
    csv = write_csv(tmp_path / "train.csv")

    assert f"Uploaded {data}@1" in ok(cli("datasets", "upload", str(csv), "--name", data))
    assert "no new version" in ok(cli("datasets", "upload", str(csv), "--name", data))
    assert data in ok(cli("datasets", "list"))
    described = json.loads(ok(cli("datasets", "show", f"{data}@latest", "--json")))
    assert (described["version"], described["rows"]) == (1, 300)

    spec = write_spec(
        tmp_path / "spec.yaml",
        dataset=f"{data}@latest",
        target="churned",
        estimator="logistic_regression",
        params={"max_iter": 500},
        register_as=model,
        alias="candidate",
        experiment=unique_name,
    )
    trained = cli("train", str(spec), *WAIT)
    output = ok(trained)
    job_id = re.search(r"Job ([0-9a-f]{32}) succeeded", output)
    run_id = re.search(r"run: ([0-9a-f]{32})", output)
    assert job_id is not None
    assert run_id is not None
    assert f"model: {model} version 1 (READY)" in output
    assert "100%" in trained.stderr, "the progress bar is drawn on stderr"

    job = json.loads(ok(cli("jobs", "show", job_id[1], "--json")))
    assert (job["type"], job["status"], job["progress"]) == ("train", "succeeded", 1.0)
    assert job["result"]["run_id"] == run_id[1]
    assert job["result"]["model"] == {"name": model, "version": 1, "status": "READY"}
    assert "succeeded" in ok(cli("jobs", "show", job_id[1]))
    assert job_id[1] in ok(cli("jobs", "list", "--type", "train"))

    ok(cli("models", "alias", model, "production", "1"))
    gates = ("--gate", "accuracy>=0.8", "--gate", "f1>=baseline-0.01", "--baseline", f"{model}@production")
    passed = cli("evaluate", f"{model}@candidate", "--dataset", f"{data}@latest", *gates, *WAIT)
    assert "Every gate passed" in ok(passed)
    assert passed.stdout.count("✓") == 2

    failed = cli("evaluate", f"{model}@candidate", "--dataset", f"{data}@1", "--gate", "accuracy>=1.01", *WAIT)
    assert failed.returncode == 1, failed.stderr
    assert "✗" in failed.stdout
    assert "accuracy>=1.01" in failed.stdout
    as_json = cli("evaluate", f"{model}/1", "--dataset", f"{data}@1", "--gate", "f1>=1.5", *WAIT, "--json")
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)["result"]
    assert result["passed"] is False
    assert [(g["gate"], g["passed"]) for g in result["gates"]] == [("f1>=1.5", False)]

    unknown = cli("evaluate", f"{unique_name}-nope@candidate", "--dataset", f"{data}@latest", *WAIT)
    assert unknown.returncode == 2
    assert "no registered model" in unknown.stderr
    bad_gate = cli("evaluate", f"{model}@candidate", "--dataset", f"{data}@latest", "--gate", "f1>>1", *WAIT)
    assert bad_gate.returncode == 2
    assert "malformed gate" in bad_gate.stderr
    listed = ok(cli("jobs", "list", "--type", "evaluate"))
    assert "gate failed" in listed, "an evaluation whose gate failed is not shown as a plain success"
    assert "succeeded" in listed

    # A gate set up wrongly is an error (exit 2), never a failed gate (exit 1): at submit when it
    # can be known then, else when the model is scored.
    no_baseline = cli("evaluate", f"{model}/1", "--dataset", f"{data}@1", "--gate", "f1>=baseline", *WAIT)
    assert no_baseline.returncode == 2, no_baseline.stdout
    assert "no baseline model is given" in no_baseline.stderr
    wrong_task = cli("evaluate", f"{model}/1", "--dataset", f"{data}@1", "--gate", "rmse<=0.1", *WAIT)
    assert wrong_task.returncode == 2, wrong_task.stdout
    assert "has no metric 'rmse'" in wrong_task.stderr
    svc_spec = write_spec(
        tmp_path / "svc.yaml",
        dataset=f"{data}@1",
        target="churned",
        estimator="svc",
        register_as=f"{model}-svc",
        experiment=unique_name,
    )
    ok(cli("train", str(svc_spec), *WAIT))
    no_auc = cli("evaluate", f"{model}-svc/1", "--dataset", f"{data}@1", "--gate", "roc_auc>=0.5", *WAIT)
    assert no_auc.returncode == 2, no_auc.stdout
    assert "roc_auc" in no_auc.stderr
    assert "not computed" in no_auc.stderr

    shown = ok(cli("models", "show", f"{model}@candidate"))
    assert f"{data}@1 (training)" in shown
    assert run_id[1] in shown
    lineage = json.loads(ok(cli("models", "show", f"{model}@candidate", "--json")))["lineage"]
    assert [(d["dataset"], d["version"]) for d in lineage["datasets"]] == [(data, 1)]
    assert sorted(e["passed"] for e in lineage["evaluations"]) == [False, False, True]
    versions = ok(cli("models", "versions", model))
    assert "candidate, production" in versions
    assert run_id[1] in versions


def test_idempotent_submit_watch_and_cancel(
    cli: RunCli, admin_client: shipyard.Client, unique_name: str, tmp_path: Path
) -> None:
    data = f"{unique_name}-data"
    admin_client.log_dataset(write_csv(tmp_path / "train.csv", rows=120), data)
    spec = write_spec(
        tmp_path / "spec.yaml", dataset=f"{data}@1", target="churned", estimator="decision_tree", experiment=unique_name
    )
    key = ("--idempotency-key", f"ci-{unique_name}")

    first = json.loads(ok(cli("train", str(spec), *key, "--json")))
    again = json.loads(ok(cli("train", str(spec), *key, "--json")))
    assert again["id"] == first["id"], "the same key is the same job"
    watched = cli("jobs", "watch", first["id"], "--timeout", "120")
    assert f"Job {first['id']} succeeded" in ok(watched)
    assert "is succeeded" in ok(cli("jobs", "cancel", first["id"])), "a finished job stays as it is"

    # Cancelled at once when still queued, at a checkpoint when running; a quick job may win the race.
    job = admin_client.submit_job("train", yaml.safe_load(spec.read_text()))
    ok(cli("jobs", "cancel", job.id))
    final = cli("jobs", "watch", job.id, "--timeout", "120", "--json")
    status = json.loads(final.stdout)["status"]
    assert (status, final.returncode) in {("cancelled", 2), ("succeeded", 0)}

    bad = write_spec(tmp_path / "bad.yaml", dataset=f"{data}@1", target="churned", estimator="os.system")
    refused = cli("train", str(bad), "--wait")
    assert refused.returncode == 2
    assert "os.system" in refused.stderr
    (tmp_path / "list.yaml").write_text("- not\n- a mapping\n")
    assert cli("train", str(tmp_path / "list.yaml")).returncode == 2
