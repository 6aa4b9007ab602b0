"""`shipyard retrain DEPLOYMENT`: train the serving version again (its own spec, on new data), gate it
against the serving version and roll it out; with --wait exit 0 (done), 1 (a gate failed), 2 (error)."""

from typing import Annotated, Any

import typer

from shipyard.cli.common import JsonFlag, client_from, fail
from shipyard.cli.deployments import parse_interval, parse_steps
from shipyard.cli.jobs import TimeoutOption, finish, print_submitted, watch
from shipyard.cli.training import IdempotencyOption, WaitFlag

DEPLOYMENT = Annotated[str, typer.Argument(help="The deployment.")]
DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        help="newest (the newest version of the dataset it trained on) or reference_plus_feedback "
        "(those rows plus the logged inputs that have feedback).",
    ),
]
GateOption = Annotated[
    list[str] | None,
    typer.Option("--gate", help="e.g. 'f1>=0.8' or 'f1>=baseline', against the serving version (repeatable)."),
]
HoldoutOption = Annotated[
    str | None,
    typer.Option("--holdout", help="The dataset the gates are judged on (NAME@3); default the training data."),
]
StrategyOption = Annotated[
    str | None,
    typer.Option("--strategy", help="Roll the new version out: direct, canary or blue_green (default: not at all)."),
]
CanaryStepsOption = Annotated[
    str | None, typer.Option("--canary-steps", help="A canary with these weights, e.g. 10,50,100.")
]
IntervalOption = Annotated[
    str | None, typer.Option("--interval", help="How long each rollout step is held: 30s, 5m, 1h.")
]
MinRequestsOption = Annotated[
    int | None, typer.Option("--min-requests", min=1, help="Requests a rollout step needs to be judged.")
]
MaxErrorRateOption = Annotated[
    float | None, typer.Option("--max-error-rate", help="Roll the new version back above this error share.")
]


def rollout_plan(
    strategy: str | None,
    canary_steps: str | None,
    interval: str | None,
    min_requests: int | None,
    max_error_rate: float | None,
) -> dict[str, Any] | None:
    """The rollout the options describe, or None when they ask for none."""
    steps = parse_steps(canary_steps) if canary_steps is not None else None
    if steps is not None and strategy not in (None, "canary"):
        raise typer.BadParameter(f"--canary-steps is for a canary, not --strategy {strategy}")
    strategy = "canary" if steps is not None else strategy
    if strategy is None:
        if interval is not None or min_requests is not None or max_error_rate is not None:
            raise typer.BadParameter(
                "--interval, --min-requests and --max-error-rate need --strategy or --canary-steps"
            )
        return None
    plan: dict[str, Any] = {"strategy": strategy}
    optional = {
        "steps": steps,
        "interval_seconds": parse_interval(interval) if interval is not None else None,
        "min_requests": min_requests,
        "max_error_rate": max_error_rate,
    }
    plan.update({key: value for key, value in optional.items() if value is not None})
    return plan


def retrain(
    ctx: typer.Context,
    deployment: DEPLOYMENT,
    data: DataOption = "newest",
    gate: GateOption = None,
    holdout: HoldoutOption = None,
    strategy: StrategyOption = None,
    canary_steps: CanaryStepsOption = None,
    interval: IntervalOption = None,
    min_requests: MinRequestsOption = None,
    max_error_rate: MaxErrorRateOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the rollout's reason.")] = "",
    wait: WaitFlag = False,
    timeout: TimeoutOption = None,
    idempotency_key: IdempotencyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit a retrain job for the version the deployment serves; with --wait, exit 0 when it
    succeeds, 1 when a gate failed (the new version is registered, not rolled out), 2 on an error."""
    try:
        plan = rollout_plan(strategy, canary_steps, interval, min_requests, max_error_rate)
    except typer.BadParameter as exc:
        fail(str(exc))
    with client_from(ctx) as client:
        job = client.retrain(
            deployment,
            data=data,
            gates=list(gate or []),
            holdout=holdout,
            rollout=plan,
            reason=reason,
            idempotency_key=idempotency_key,
        )
        if not wait:
            print_submitted(job, as_json)
            return
        job = watch(client, job.id, timeout)
    finish(job, as_json)
