"""`shipyard schedules …`: create, list, show, pause, resume and delete schedules, which submit a
job at every tick of an interval or a cron expression (UTC)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, fail, out, print_json, when
from shipyard.cli.training import read_spec
from shipyard.schemas import Schedule, to_json_dict

app = typer.Typer(help="Submit jobs on a schedule: every 1h, or a cron expression.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The schedule's name.")]
SHOWN_TICKS = 10


def _timing(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"cron {schedule.cron}"
    return f"every {_duration(schedule.every_seconds or 0)}"


def _duration(seconds: int) -> str:
    """3600 as 1h, 5400 as 1h30m, 45 as 45s."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _state(schedule: Schedule) -> str:
    return "enabled" if schedule.enabled else "paused"


def _last(schedule: Schedule) -> str:
    if schedule.last_run_at is None:
        return "-"
    outcome = schedule.last_job_id or f"skipped: {schedule.last_skip_reason}"
    return f"{when(schedule.last_run_at)} {outcome}"


def _print(schedule: Schedule, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(to_json_dict(schedule))
        return
    upcoming = f"next run {when(schedule.next_run_at)} UTC" if schedule.next_run_at else "paused"
    out().print(
        f"{verb} schedule [bold]{escape(schedule.name)}[/bold]: {schedule.job_type} "
        f"{escape(_timing(schedule))}, {upcoming}"
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArgument,
    job_type: Annotated[str, typer.Option("--job-type", help="train or evaluate.")],
    spec_file: Annotated[
        Path,
        typer.Option("--spec", exists=True, dir_okay=False, help="The job's spec, YAML or JSON (as `shipyard train`)."),
    ],
    every: Annotated[
        str | None, typer.Option("--every", help="An interval: 90s, 15m, 1h, 1h30m, 1d (10 s to 366 days).")
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help='A cron expression in UTC, e.g. "*/5 * * * *" or "0 6 * * mon-fri".')
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (`schedules resume` starts it).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a schedule; the spec is checked now. Interval ticks fall on multiples of the interval
    since midnight UTC of 1970-01-01 (every 1h fires on the hour)."""
    if (every is None) == (cron is None):
        fail("give exactly one of --every and --cron")
    spec = read_spec(spec_file)
    with client_from(ctx) as client:
        schedule = client.create_schedule(name, job_type, spec, every=every, cron=cron, enabled=not paused)
    _print(schedule, "Created", as_json)


@app.command("list")
def list_schedules(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List schedules: timing, state, next run and the last tick's job or why it was skipped."""
    with client_from(ctx) as client:
        schedules = client.list_schedules()
    if as_json:
        print_json({"schedules": [to_json_dict(s) for s in schedules], "next_page_token": schedules.next_page_token})
        return
    table = Table("NAME", "JOB TYPE", "TIMING", "STATE", "NEXT RUN (UTC)", "LAST RUN (UTC)", "RUNS AS", "MANAGED BY")
    for schedule in schedules:
        table.add_row(
            escape(schedule.name),
            schedule.job_type,
            escape(_timing(schedule)),
            _state(schedule),
            when(schedule.next_run_at),
            escape(_last(schedule)),
            escape(schedule.run_as),
            escape(schedule.managed_by or "-"),
        )
    out().print(table)


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """Show a schedule, its spec and its latest ticks (each one's job, or why it was skipped)."""
    with client_from(ctx) as client:
        schedule = client.get_schedule(name)
        ticks = client.list_schedule_ticks(name, max_results=SHOWN_TICKS)
    if as_json:
        print_json({**to_json_dict(schedule), "ticks": [to_json_dict(tick) for tick in ticks]})
        return
    console = out()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("schedule", schedule.name),
        ("job type", schedule.job_type),
        ("timing", _timing(schedule)),
        ("state", _state(schedule)),
        ("next run", f"{when(schedule.next_run_at)} UTC" if schedule.next_run_at else "-"),
        ("runs as", schedule.run_as),
        ("managed by", schedule.managed_by or "-"),
        ("created", f"{when(schedule.created_at)} UTC by {schedule.created_by}"),
        ("spec", json.dumps(schedule.spec, sort_keys=True)),
    ):
        summary.add_row(label, escape(value))
    console.print(summary)
    if ticks:
        table = Table("TICK (UTC)", "JOB", "SKIPPED BECAUSE")
        for tick in ticks:
            table.add_row(when(tick.tick_at), tick.job_id or "-", escape(tick.skip_reason or ""))
        console.print(table)


@app.command("pause")
def pause(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """Stop submitting jobs until `schedules resume`."""
    with client_from(ctx) as client:
        schedule = client.pause_schedule(name)
    _print(schedule, "Paused", as_json)


@app.command("resume")
def resume(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """Submit jobs again from the next tick (the ticks missed while paused stay missed)."""
    with client_from(ctx) as client:
        schedule = client.resume_schedule(name)
    _print(schedule, "Resumed", as_json)


@app.command("delete")
def delete(ctx: typer.Context, name: NameArgument) -> None:
    """Delete a schedule; the jobs it submitted stay."""
    with client_from(ctx) as client:
        client.delete_schedule(name)
    out().print(f"Deleted schedule [bold]{escape(name)}[/bold].")
