"""`shipyard jobs …`: list, show, watch and cancel jobs; and the progress bar and outcome report
that `train --wait` and `evaluate --wait` share with `jobs watch`."""

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shipyard.cli.common import (
    EXIT_ERROR,
    EXIT_GATE_FAILED,
    JsonFlag,
    client_from,
    err,
    number,
    out,
    print_error,
    print_json,
    when,
)
from shipyard.client import Client
from shipyard.schemas import Job, to_json_dict

app = typer.Typer(help="Follow and cancel training and evaluation jobs.", no_args_is_help=True)

POLL_SECONDS = 0.5
LOG_TAIL_LINES = 20
EXIT_INTERRUPTED = 130
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", min=1, help="Stop waiting after this many seconds (exit 2).")
]


def watch(client: Client, job_id: str, timeout: float | None) -> Job:
    """A progress bar (on stderr) fed by the job's progress and message until it finishes.

    Without a terminal (CI logs) each new message is also printed as a line."""
    console = err()
    last_message = ""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.fields[status]:<9}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=1.0, status="")

        def update(job: Job) -> None:
            nonlocal last_message
            progress.update(task, completed=job.progress, description=escape(job.message), status=job.status)
            if not console.is_terminal and job.message != last_message:
                progress.console.print(f"{job.progress:>4.0%} {escape(job.message)}")
            last_message = job.message

        try:
            return client.wait_for_job(job_id, timeout=timeout, poll_interval=POLL_SECONDS, on_update=update)
        except KeyboardInterrupt:
            progress.stop()
            console.print(f"Stopped watching; job {job_id} goes on (`shipyard jobs cancel {job_id}` stops it).")
            raise typer.Exit(EXIT_INTERRUPTED) from None


def _pairs(console: Console, title: str, rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    console.print(f"\n[bold]{title}[/bold]")
    table = Table("NAME", "VALUE")
    for key, value in rows:
        table.add_row(escape(key), escape(value))
    console.print(table)


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return number(value)
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def print_gates(console: Console, result: dict[str, Any]) -> None:
    """The evaluation's gates (✓/✗, actual, threshold, reason), then its metrics against the baseline."""
    gates = result.get("gates") or []
    if gates:
        table = Table("", "GATE", "ACTUAL", "THRESHOLD", "REASON")
        for gate in gates:
            mark = "[green]✓[/green]" if gate.get("passed") else "[red]✗[/red]"
            table.add_row(
                mark,
                escape(str(gate.get("gate", ""))),
                _value(gate.get("actual")) if gate.get("actual") is not None else "-",
                _value(gate.get("threshold")) if gate.get("threshold") is not None else "-",
                escape(str(gate.get("reason", ""))),
            )
        console.print(table)
    metrics = result.get("metrics") or {}
    baseline = result.get("baseline_metrics") or {}
    deltas = result.get("deltas") or {}
    if metrics:
        table = Table("METRIC", "VALUE", *(("BASELINE", "DELTA") if baseline else ()))
        for name, value in sorted(metrics.items()):
            cells = [escape(name), _value(value)]
            if baseline:
                cells += [_value(baseline.get(name)), _value(deltas[name]) if name in deltas else "-"]
            table.add_row(*cells)
        console.print(table)


def report(job: Job, as_json: bool) -> int:
    """Print a finished job's outcome; return the exit code: 0 succeeded (and every gate passed),
    1 an evaluation gate failed, 2 failed or cancelled."""
    if as_json:
        print_json(to_json_dict(job))
    result = job.result or {}
    if job.status != "succeeded":
        print_error(f"Job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        if job.log_tail and not as_json:
            err().print(escape("\n".join(job.log_tail.splitlines()[-LOG_TAIL_LINES:])), style="dim")
        return EXIT_ERROR
    passed = bool(result.get("passed", True))
    if job.type == "retrain":
        passed = bool((result.get("gate") or {}).get("passed", True))
    if as_json:
        return EXIT_GATE_FAILED if job.type in ("evaluate", "retrain") and not passed else 0
    console = out()
    if job.type == "retrain":
        return _report_retrain(console, job, result)
    if job.type == "evaluate":
        console.print(f"Evaluation job {job.id} of {escape(str(result.get('model')))} on {result.get('dataset')}:")
        print_gates(console, result)
        if not passed:
            console.print("[red]A gate failed.[/red]")
            return EXIT_GATE_FAILED
        console.print("[green]Every gate passed.[/green]" if result.get("gates") else "No gates to check.")
        return 0
    console.print(f"Job {job.id} succeeded.")
    if run_id := result.get("run_id"):
        console.print(f"run: {run_id}")
    if model := result.get("model"):
        console.print(f"model: {escape(str(model.get('name')))} version {model.get('version')} ({model.get('status')})")
    _pairs(console, "Metrics", [(k, _value(v)) for k, v in sorted((result.get("metrics") or {}).items())])
    return 0


def _report_retrain(console: Console, job: Job, result: dict[str, Any]) -> int:
    model = result.get("model") or {}
    baseline = result.get("baseline") or {}
    console.print(
        f"Retrain job {job.id} of {escape(str(result.get('deployment')))}: version {model.get('version')} of "
        f"{escape(str(model.get('name')))} ({model.get('status')}) trained on {result.get('dataset')}, "
        f"against version {baseline.get('version')}."
    )
    gate = result.get("gate")
    if gate:
        print_gates(
            console,
            {
                "gates": gate.get("gates"),
                "metrics": gate.get("metrics"),
                "baseline_metrics": gate.get("baseline_metrics"),
            },
        )
    if result.get("rollout_id") is not None:
        console.print(f"Rollout {result['rollout_id']} started (its analysis job {result.get('rollout_job_id')}).")
    elif result.get("promoted"):
        console.print("[green]It serves all the traffic now.[/green]")
    if result.get("rollout_skipped"):
        console.print(f"Not rolled out: {escape(str(result['rollout_skipped']))}")
    if gate and not gate.get("passed"):
        console.print("[red]A gate failed.[/red]")
        return EXIT_GATE_FAILED
    return 0


def finish(job: Job, as_json: bool) -> NoReturn:
    """`report` the job and exit with its code."""
    raise typer.Exit(report(job, as_json))


def print_submitted(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(to_json_dict(job))
        return
    out().print(f"Submitted {job.type} job {job.id} ({job.status}). Follow it: shipyard jobs watch {job.id}")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed or cancelled.")] = None,
    job_type: Annotated[
        str | None, typer.Option("--type", help="train, evaluate, retrain or rollout_analysis.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, help="At most this many jobs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    with client_from(ctx) as client:
        jobs = client.list_jobs(status=status, job_type=job_type, max_results=max_results)
    if as_json:
        print_json({"jobs": [to_json_dict(job) for job in jobs], "next_page_token": jobs.next_page_token})
        return
    table = Table("JOB ID", "TYPE", "STATUS", "PROGRESS", "MESSAGE", "CREATED (UTC)", "BY")
    for job in jobs:
        table.add_row(
            job.id,
            job.type,
            _status(job),
            f"{job.progress:.0%}",
            escape(job.error or job.message),
            when(job.created_at),
            job.created_by,
        )
    out().print(table)


def _status(job: Job) -> str:
    """The job's status; an evaluation that ran but whose gates did not pass says so, since
    "succeeded" alone reads as a model that is good to ship."""
    if job.type == "evaluate" and job.status == "succeeded" and (job.result or {}).get("passed") is False:
        return "gate failed"
    if (
        job.type == "retrain"
        and job.status == "succeeded"
        and ((job.result or {}).get("gate") or {}).get("passed") is False
    ):
        return "gate failed"
    return job.status


@app.command("show")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id (32 hex characters).")],
    as_json: JsonFlag = False,
) -> None:
    """Show a job: status, progress, spec, result or error, and the tail of its log."""
    with client_from(ctx) as client:
        job = client.get_job(job_id)
    if as_json:
        print_json(to_json_dict(job))
        return
    console = out()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("job", job.id),
        ("type", job.type),
        ("status", job.status + (" (cancel requested)" if job.cancel_requested and not job.finished else "")),
        ("progress", f"{job.progress:.0%} {job.message}"),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("created", f"{when(job.created_at)} UTC by {job.created_by}"),
        ("started", f"{when(job.started_at)} UTC" if job.started_at else "-"),
        ("finished", f"{when(job.finished_at)} UTC" if job.finished_at else "-"),
        ("spec", json.dumps(job.spec, sort_keys=True)),
    ):
        summary.add_row(label, escape(value))
    console.print(summary)
    result = job.result or {}
    if job.error:
        console.print(f"\n[bold red]Error[/bold red]\n{escape(job.error)}")
    if job.type == "evaluate" and result:
        console.print(f"\n[bold]Result[/bold]: {'passed' if result.get('passed') else 'a gate failed'}")
        print_gates(console, result)
    elif result:
        model = result.get("model") or {}
        rows = [("run", str(result.get("run_id", "-")))]
        if model:
            rows.append(("model", f"{model.get('name')} version {model.get('version')} ({model.get('status')})"))
        rows += [(f"metrics.{k}", _value(v)) for k, v in sorted((result.get("metrics") or {}).items())]
        _pairs(console, "Result", rows)
    if job.log_tail:
        console.print("\n[bold]Log (tail)[/bold]")
        console.print(escape(job.log_tail), style="dim")


@app.command("watch")
def watch_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    timeout: TimeoutOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a progress bar until the job finishes; exit 0 succeeded, 1 a gate failed, 2 failed or cancelled."""
    with client_from(ctx) as client:
        job = watch(client, job_id, timeout)
    finish(job, as_json)


@app.command("cancel")
def cancel_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a job: a queued one at once, a running one at its next checkpoint."""
    with client_from(ctx) as client:
        job = client.cancel_job(job_id)
    if as_json:
        print_json(to_json_dict(job))
        return
    if job.finished:
        out().print(f"Job {job.id} is {job.status}.")
    else:
        out().print(f"Cancel requested for job {job.id} ({job.status}); it stops at its next checkpoint.")
