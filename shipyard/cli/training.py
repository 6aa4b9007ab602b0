"""`shipyard train SPEC.yaml` and `shipyard evaluate MODEL --dataset … --gate …`: submit a job,
and with --wait follow it and exit 0 (succeeded, gates passed), 1 (a gate failed) or 2 (error)."""

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from shipyard.cli.common import JsonFlag, client_from, fail
from shipyard.cli.jobs import TimeoutOption, finish, print_submitted, watch

WaitFlag = Annotated[bool, typer.Option("--wait", help="Follow the job with a progress bar until it finishes.")]
IdempotencyOption = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="The same key again returns the first job: a retried CI step runs once."),
]


def read_spec(path: Path) -> dict[str, Any]:
    """A job spec from a YAML (or JSON) file; exits with the reason when it is not one."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {exc}")
    if not isinstance(spec, dict):
        fail(f"{path} must hold a mapping: dataset, target, estimator, params, register_as …")
    return spec


def _submit(
    ctx: typer.Context,
    job_type: str,
    spec: dict[str, Any],
    wait: bool,
    timeout: float | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Submit the job; with wait, follow it and exit as finish() says."""
    with client_from(ctx) as client:
        job = client.submit_job(job_type, spec, idempotency_key=idempotency_key)
        if not wait:
            print_submitted(job, as_json)
            return
        job = watch(client, job.id, timeout)
    finish(job, as_json)


def train(
    ctx: typer.Context,
    spec_file: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC.yaml",
            exists=True,
            dir_okay=False,
            help="The train spec: dataset, target, estimator, params, split, search, register_as, alias.",
        ),
    ],
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    idempotency_key: IdempotencyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit a training job; with --wait, exit 0 when it succeeds and 2 when it fails."""
    _submit(ctx, "train", read_spec(spec_file), wait, timeout, idempotency_key, as_json)


def evaluate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model version: NAME@ALIAS, NAME/3 or NAME (newest READY).")],
    dataset: Annotated[str, typer.Option("--dataset", help="The labelled data: NAME@3 or NAME@latest.")],
    gate: Annotated[
        list[str] | None,
        typer.Option("--gate", help="e.g. 'f1>=0.85' or 'accuracy>=baseline-0.01' (repeatable)."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="A model version to compare with, e.g. NAME@production.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The label column; default the one the model was trained on.")
    ] = None,
    sensitive: Annotated[str | None, typer.Option("--sensitive", help="A column to report fairness across.")] = None,
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    idempotency_key: IdempotencyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit an evaluation job; with --wait, print the gates and exit 0 all passed, 1 a gate failed, 2 error."""
    optional = {"baseline": baseline, "target": target, "sensitive": sensitive}
    spec: dict[str, Any] = {"model": model, "dataset": dataset, "gates": list(gate or [])}
    spec.update({k: v for k, v in optional.items() if v is not None})
    _submit(ctx, "evaluate", spec, wait, timeout, idempotency_key, as_json)
