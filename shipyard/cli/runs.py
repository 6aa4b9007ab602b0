"""`shipyard runs …`: search runs and show one run's params, latest metrics and tags."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, duration, fail, metrics_cell, number, out, print_json, when
from shipyard.schemas import to_json_dict

app = typer.Typer(help="Browse runs.", no_args_is_help=True)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="An experiment name (repeatable); default all.")
    ] = None,
    filter_: Annotated[str, typer.Option("--filter", help="e.g. \"metrics.f1 > 0.8 and params.model = 'rf'\".")] = "",
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help="e.g. 'metrics.f1 DESC' (repeatable).")
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, help="At most this many runs.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Search runs, newest first unless --order-by says otherwise."""
    with client_from(ctx) as client:
        experiment_ids: list[int] = []
        for name in experiment or []:
            found = client.get_experiment_by_name(name)
            if found is None:
                fail(f"no experiment named {name!r}")
            experiment_ids.append(found.id)
        runs = client.search_runs(experiment_ids, filter=filter_, order_by=order_by, max_results=max_results)
        names = {e.id: e.name for e in client.list_experiments(lifecycle_stage="all")} if runs and not as_json else {}
    if as_json:
        print_json({"runs": [to_json_dict(run) for run in runs], "next_page_token": runs.next_page_token})
        return
    table = Table("RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED (UTC)", "DURATION", "METRICS")
    for run in runs:
        table.add_row(
            run.id,
            run.name,
            names.get(run.experiment_id, str(run.experiment_id)),
            run.status,
            when(run.start_time),
            duration(run.start_time, run.end_time),
            metrics_cell(run.metrics),
        )
    console = out()
    console.print(table)
    if runs.next_page_token:
        console.print(f"[dim]More runs match; raise --max-results (now {max_results}) to see them.[/dim]")


def _print_pairs(console: Console, title: str, values: dict[str, str]) -> None:
    console.print(f"\n[bold]{title}[/bold]")
    if not values:
        console.print("  (none)")
        return
    table = Table("KEY", "VALUE")
    for key, value in sorted(values.items()):
        table.add_row(key, value)
    console.print(table)


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id (32 hex characters).")],
    as_json: JsonFlag = False,
) -> None:
    """Show a run: its attributes, params, latest metrics and tags."""
    with client_from(ctx) as client:
        run = client.get_run(run_id)
        experiment = None if as_json else client.get_experiment(run.experiment_id)
    if as_json or experiment is None:
        print_json(to_json_dict(run))
        return
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("run", run.id),
        ("name", run.name),
        ("experiment", f"{experiment.name} (id {experiment.id})"),
        ("status", run.status),
        ("user", run.user),
        ("started", f"{when(run.start_time)} UTC"),
        ("ended", f"{when(run.end_time)} UTC" if run.end_time else "-"),
        ("duration", duration(run.start_time, run.end_time)),
        ("parent", run.parent_run_id or "-"),
        ("git commit", run.source.git_commit or "-"),
        ("entry point", run.source.entry_point or "-"),
    ):
        summary.add_row(label, value)
    console = out()
    console.print(summary)
    _print_pairs(console, "Params", run.params)
    _print_pairs(console, "Metrics (latest values)", {k: number(v) for k, v in run.metrics.items()})
    _print_pairs(console, "Tags", run.tags)
