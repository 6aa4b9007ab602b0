"""`shipyard monitor set|show|delete DEPLOYMENT`: a drift check on a schedule and what to do about
drift or decay (alert, retrain); and `shipyard retrain DEPLOYMENT`: train the serving version again
(its own spec, on new data), gate it against the serving version and roll it out; with --wait exit
0 (done), 1 (a gate failed), 2 (error)."""

import re
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, fail, out, print_json, when
from shipyard.cli.deployments import parse_interval, parse_steps
from shipyard.cli.jobs import TimeoutOption, finish, print_submitted, watch
from shipyard.cli.training import IdempotencyOption, WaitFlag
from shipyard.schemas import Monitor, to_json_dict

app = typer.Typer(help="Watch a deployment for drift and decay: alert, retrain.", no_args_is_help=True)

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


def parse_window(text: str) -> dict[str, Any]:
    """`24h`, `30m`, `2d` (the last span of time) or a whole number (the last N predictions)."""
    cleaned = text.strip().lower()
    if cleaned.isdecimal() and int(cleaned) > 0:
        return {"predictions": int(cleaned)}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([mhd])", cleaned)
    if match is None or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a window such as 24h, 30m, 2d, or a number of predictions")
    return {"hours": float(match.group(1)) * {"m": 1 / 60, "h": 1, "d": 24}[match.group(2)]}


@app.command("set")
def set_monitor(
    ctx: typer.Context,
    deployment: DEPLOYMENT,
    every: Annotated[
        str | None, typer.Option("--every", help="How often it checks: 1h, 15m, 1d (at least 10s).")
    ] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Or when, as a cron expression in UTC.")] = None,
    window: Annotated[
        str, typer.Option("--window", help="What each check reads: the last 24h (30m, 2d), or the last N predictions.")
    ] = "24h",
    reference: Annotated[
        str | None, typer.Option("--reference", help="name@N; default the dataset the serving version trained on.")
    ] = None,
    on_drift: Annotated[list[str] | None, typer.Option("--on-drift", help="alert or retrain (repeatable).")] = None,
    on_decay: Annotated[list[str] | None, typer.Option("--on-decay", help="alert or retrain (repeatable).")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Decay below this accuracy/f1 (above this rmse/mae).")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="accuracy, f1, rmse or mae (with --threshold).")
    ] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="Where alert posts (http(s)).")] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            envvar="SHIPYARD_WEBHOOK_SECRET",
            help="Signs each delivery (16+ characters; or SHIPYARD_WEBHOOK_SECRET); left out, the one set before.",
        ),
    ] = None,
    data: DataOption = "newest",
    gate: GateOption = None,
    holdout: HoldoutOption = None,
    strategy: StrategyOption = None,
    canary_steps: CanaryStepsOption = None,
    interval: IntervalOption = None,
    min_requests: MinRequestsOption = None,
    max_error_rate: MaxErrorRateOption = None,
    paused: Annotated[bool, typer.Option("--paused", help="Keep the monitor but do not run it yet.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set the deployment's monitor (replacing the one before); a bad one is refused, naming what is wrong."""
    if metric is not None and threshold is None:
        fail("--metric needs --threshold")
    try:
        found_window = parse_window(window)
        plan = rollout_plan(strategy, canary_steps, interval, min_requests, max_error_rate)
    except typer.BadParameter as exc:
        fail(str(exc))
    retrain: dict[str, Any] | None = None
    if "retrain" in [*(on_drift or []), *(on_decay or [])]:
        retrain = {"data": data, "gates": list(gate or [])}
        if holdout is not None:
            retrain["holdout"] = holdout
        if plan is not None:
            retrain["rollout"] = plan
    elif gate or holdout is not None or plan is not None:
        fail("--gate, --holdout and the rollout options are for the retrain action: add --on-drift retrain")
    performance = None if threshold is None else {"threshold": threshold, **({"metric": metric} if metric else {})}
    with client_from(ctx) as client:
        monitor = client.set_monitor(
            deployment,
            every=every if every is not None or cron is not None else "1h",
            cron=cron,
            hours=found_window.get("hours"),
            last=found_window.get("predictions"),
            reference=reference,
            performance=performance,
            on_drift=list(on_drift or []),
            on_decay=list(on_decay or []),
            webhook=webhook,
            secret=secret,
            retrain=retrain,
            enabled=not paused,
        )
    if as_json:
        print_json(to_json_dict(monitor))
        return
    print_monitor(monitor)


@app.command("show")
def show_monitor(ctx: typer.Context, deployment: DEPLOYMENT, as_json: JsonFlag = False) -> None:
    """The monitor, its schedule's next and last run, and the newest report with what was done about it."""
    with client_from(ctx) as client:
        monitor = client.get_monitor(deployment)
    if as_json:
        print_json(to_json_dict(monitor))
        return
    print_monitor(monitor)


@app.command("delete")
def delete_monitor(ctx: typer.Context, deployment: DEPLOYMENT) -> None:
    """Delete the monitor and its schedule; the drift reports stay."""
    with client_from(ctx) as client:
        client.delete_monitor(deployment)
    out().print(f"Deleted the monitor of {escape(deployment)}.")


def print_monitor(monitor: Monitor) -> None:
    console = out()
    timing = f"every {monitor.every_seconds} s" if monitor.every_seconds else f"on cron {monitor.cron}"
    span = monitor.window
    reads = f"the last {span['hours']:g} h" if "hours" in span else f"the last {span.get('predictions')} predictions"
    state = "" if monitor.enabled else " (paused)"
    console.print(f"Monitor of [bold]{escape(monitor.deployment)}[/bold]{state}: {timing}, reading {reads}")
    console.print(f"  on drift: {', '.join(monitor.on_drift) or '-'}; on decay: {', '.join(monitor.on_decay) or '-'}")
    if monitor.alert_url:
        console.print(f"  alerts to {escape(monitor.alert_url)} (signed)")
    if monitor.retrain:
        retrain = monitor.retrain
        rollout = retrain.get("rollout") or {}
        console.print(
            f"  retrain on {retrain.get('data', 'newest')} data"
            + (f", gates {escape(', '.join(retrain['gates']))}" if retrain.get("gates") else "")
            + (f", then a {rollout.get('strategy', 'direct')} rollout" if rollout else ", no rollout")
        )
    schedule = monitor.schedule or {}
    console.print(
        f"  next check {_at(schedule.get('next_run_at'))}, last {_at(schedule.get('last_run_at'))}"
        + (f" (skipped: {escape(str(schedule['last_skip_reason']))})" if schedule.get("last_skip_reason") else "")
    )
    report = monitor.last_report
    if report is None:
        console.print("  no drift report yet")
        return
    verdict = "drift" if report.drift_detected else "decay" if report.decay_detected else "no drift"
    console.print(
        f"  newest report {report.id} ({when(report.created_at)} UTC): {verdict}, "
        f"{report.drifted_share:.0%} of columns drifted {escape(', '.join(report.drifted_columns))}"
    )
    if report.actions:
        table = Table("ACTION", "EVENT", "STATUS", "DELIVERY / JOB", "DETAIL")
        for action in report.actions:
            table.add_row(
                str(action.get("action")),
                str(action.get("event")),
                str(action.get("status")),
                str(action.get("delivery_id") or action.get("job_id") or "-"),
                escape(str(action.get("detail") or "")),
            )
        console.print(table)


def _at(value: Any) -> str:
    return f"{when(datetime.fromisoformat(str(value)))} UTC" if value else "-"
