"""`shipyard deploy`, `rollback`, `promote` and `shipyard deployments list|status|revisions`: a
registered model behind a prediction endpoint, from CI."""

import re
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, err, fail, out, print_json, when
from shipyard.client import Client
from shipyard.errors import DeploymentNotFound
from shipyard.schemas import Deployment, Rollout, Route, to_json_dict

app = typer.Typer(help="List deployments and read their status and revisions.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The deployment's name.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, kept with the revision.")]


def _routes(routes: list[Route]) -> str:
    return ", ".join(f"{r.model}/{r.version} {r.weight}% {r.mode}" for r in routes) or "-"


def _print(deployment: Deployment, verb: str) -> None:
    out().print(
        f"{verb} [bold]{escape(deployment.name)}[/bold] at revision {deployment.revision}: "
        f"{escape(_routes(deployment.routes))}"
    )


def _report(deployment: Deployment, verb: str, *, as_json: bool) -> None:
    """What a change left the deployment at: as JSON, or a line that starts with `verb`."""
    if as_json:
        print_json(to_json_dict(deployment))
    else:
        _print(deployment, verb)


def parse_interval(text: str) -> float:
    """`30s`, `5m`, `1h` or plain seconds, as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a duration such as 30s, 5m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a list of weights such as 10,50,100") from None
    if not steps:
        raise typer.BadParameter("give at least one weight, e.g. 10,50,100")
    return steps


def deploy(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[int | None, typer.Option("--version", min=1, help="The version number to deploy.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Deploy the version this alias points at.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The deployment; default: the model's name.")] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="direct, canary, blue_green or ab (a new deployment starts direct).")
    ] = "direct",
    steps: Annotated[str | None, typer.Option("--steps", help="Canary weights, e.g. 10,50,100.")] = None,
    interval: Annotated[str | None, typer.Option("--interval", help="How long each step is held: 30s, 5m, 1h.")] = None,
    max_error_rate: Annotated[
        float | None, typer.Option("--max-error-rate", help="Roll back above this error share.")
    ] = None,
    max_p95_ms: Annotated[float | None, typer.Option("--max-p95-ms", help="Roll back above this p95 latency.")] = None,
    min_requests: Annotated[
        int | None, typer.Option("--min-requests", min=1, help="Requests a step needs to be judged.")
    ] = None,
    step_timeout: Annotated[
        str | None, typer.Option("--step-timeout", help="A step short of --min-requests this long fails.")
    ] = None,
    weight: Annotated[int | None, typer.Option("--weight", min=1, max=99, help="ab: the candidate's share.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the rollout: exit 0 when promoted, 1 when it did not get through.")
    ] = False,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="With --wait, give up (exit 2) after this long.")
    ] = None,
    reason: ReasonOption = "",
    as_json: JsonFlag = False,
) -> None:
    """Deploy a version: creates the deployment, or rolls the version out on it when it exists.
    Exit code 0 once it serves (with --wait: once promoted), 1 when the rollout was rolled back,
    aborted or failed, 2 on any error."""
    if (version is None) == (alias is None):
        fail("give exactly one of --version and --alias")
    try:
        step_list = parse_steps(steps) if steps is not None else None
        interval_seconds = parse_interval(interval) if interval is not None else None
        timeout_seconds = parse_interval(step_timeout) if step_timeout is not None else None
        wait_seconds = parse_interval(timeout) if timeout is not None else None
    except typer.BadParameter as exc:
        fail(str(exc))
    target = name or model
    with client_from(ctx) as client:
        try:
            client.get_deployment(target)
            exists = True
        except DeploymentNotFound:
            exists = False
        if not exists:
            deployment = client.deploy(target, model, version=version, alias=alias, reason=reason)
            verb = "Deployed" if strategy == "direct" else "Deployed (a first version has nothing to roll out against)"
        else:
            number = version if version is not None else client.get_model_version(model, str(alias)).version
            deployment = client.rollout(
                target,
                number,
                strategy=strategy,
                reason=reason,
                steps=step_list,
                interval=interval_seconds,
                max_error_rate=max_error_rate,
                max_p95_ms=max_p95_ms,
                min_requests=min_requests,
                step_timeout=timeout_seconds,
                weight=weight,
            )
            verb = "Rolled out" if deployment.rollout is None else f"Started a {strategy} rollout on"
        if not as_json:
            _print(deployment, verb)
        rollout = deployment.rollout
        if not wait or rollout is None:
            if as_json:
                print_json(to_json_dict(deployment))
            return
        try:
            finished = _follow(client, target, rollout, wait_seconds, quiet=as_json)
        except TimeoutError as exc:
            fail(str(exc))
    if as_json:
        print_json(to_json_dict(finished))
    else:
        colour = "green" if finished.state == "promoted" else "red"
        out().print(f"[{colour}]Rollout {finished.state}[/{colour}]: {escape(finished.reason)}")
    raise typer.Exit(0 if finished.state == "promoted" else 1)


def _numbers(rollout: Rollout) -> str:
    candidate = (rollout.analysis or {}).get("candidate") or {}
    rate = candidate.get("error_rate")
    p95 = candidate.get("p95_ms")
    return (
        f"{candidate.get('requests', 0)} requests, error rate {'-' if rate is None else f'{rate:.3f}'}, "
        f"p95 {'-' if p95 is None else f'{p95:g} ms'}"
    )


def _follow(client: Client, name: str, rollout: Rollout, timeout: float | None, *, quiet: bool) -> Rollout:
    """Live progress of the rollout until it finishes: step, weight, requests, error rate, p95."""
    console = err() if quiet else out()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{rollout.strategy} of version {rollout.candidate_version}", total=None)

        def update(current: Rollout) -> None:
            progress.update(
                task,
                description=(
                    f"{current.strategy} of version {current.candidate_version}: step {current.step} of "
                    f"{len(current.steps)}, {current.weight}% - {_numbers(current)} - {escape(current.reason)}"
                ),
            )

        poll = max(0.2, min(2.0, rollout.interval_seconds / 4))
        return client.wait_for_rollout(name, rollout_id=rollout.id, timeout=timeout, poll=poll, on_update=update)


def rollback(ctx: typer.Context, name: NameArgument, reason: ReasonOption = "", as_json: JsonFlag = False) -> None:
    """Back to the previous revision's routes, as a new revision."""
    with client_from(ctx) as client:
        deployment = client.rollback(name, reason=reason)
    _report(deployment, "Rolled back", as_json=as_json)


def promote(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """Promote the rollout in progress (a direct rollout has nothing to promote: exit code 2)."""
    with client_from(ctx) as client:
        deployment = client.promote(name)
    _report(deployment, "Promoted", as_json=as_json)


@app.command("list")
def list_deployments(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List deployments with the routes they serve."""
    with client_from(ctx) as client:
        found = client.list_deployments()
    if as_json:
        print_json({"deployments": [to_json_dict(d) for d in found]})
        return
    table = Table("NAME", "REVISION", "ROUTES", "STATE", "UPDATED (UTC)")
    for deployment in found:
        table.add_row(
            escape(deployment.name),
            str(deployment.revision),
            escape(_routes(deployment.routes)),
            deployment.state,
            when(deployment.updated_at),
        )
    out().print(table)


@app.command("status")
def status(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """A deployment's current revision and routes."""
    with client_from(ctx) as client:
        deployment = client.get_deployment(name)
    if as_json:
        print_json(to_json_dict(deployment))
        return
    _print(deployment, "Deployment")
    out().print(f"state {deployment.state}; created {when(deployment.created_at)} UTC by {deployment.created_by}")
    rollout = deployment.rollout
    if rollout is not None:
        out().print(
            f"rollout {rollout.id} ({rollout.strategy}) of version {rollout.candidate_version}: {rollout.state}, "
            f"step {rollout.step} of {len(rollout.steps)} at {rollout.weight}%; {_numbers(rollout)}; "
            f"{escape(rollout.reason)}"
        )


@app.command("rollouts")
def rollouts(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """A deployment's rollouts, newest first: strategy, candidate, state, step and why."""
    with client_from(ctx) as client:
        found = client.list_rollouts(name)
    if as_json:
        print_json({"rollouts": [to_json_dict(r) for r in found]})
        return
    table = Table("ID", "STRATEGY", "VERSION", "STATE", "STEP", "STARTED (UTC)", "REASON")
    for rollout in found:
        table.add_row(
            str(rollout.id),
            rollout.strategy,
            f"{rollout.primary_version} -> {rollout.candidate_version}",
            rollout.state,
            f"{rollout.step}/{len(rollout.steps)} {rollout.weight}%",
            when(rollout.created_at),
            escape(rollout.reason),
        )
    out().print(table)


@app.command("abort")
def abort(ctx: typer.Context, name: NameArgument, reason: ReasonOption = "", as_json: JsonFlag = False) -> None:
    """Abort the rollout in progress: the primary takes all the traffic back."""
    with client_from(ctx) as client:
        deployment = client.abort_rollout(name, reason=reason)
    _report(deployment, "Aborted the rollout of", as_json=as_json)


@app.command("revisions")
def revisions(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """A deployment's revisions, newest first: routes, strategy, who, when and why."""
    with client_from(ctx) as client:
        found = client.list_revisions(name)
    if as_json:
        print_json({"revisions": [to_json_dict(r) for r in found]})
        return
    table = Table("REVISION", "ROUTES", "STRATEGY", "BY", "WHEN (UTC)", "REASON")
    for revision in found:
        table.add_row(
            str(revision.revision),
            escape(_routes(revision.routes)),
            revision.strategy,
            escape(revision.created_by),
            when(revision.created_at),
            escape(revision.reason),
        )
    out().print(table)
