"""`shipyard drift …`: check a deployment for drift (and, with feedback, decay), list its drift
reports, show one. `check --wait` exits 1 when drift or decay is found, 0 when not, 2 on an error."""

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import EXIT_ERROR, JsonFlag, client_from, err, number, out, print_error, print_json, when
from shipyard.cli.jobs import LOG_TAIL_LINES, TimeoutOption, print_submitted, watch
from shipyard.schemas import DriftReport, to_json_dict

app = typer.Typer(help="Check deployments for drift and decay, and read the reports.", no_args_is_help=True)

# `check --wait`: 1 when the check found drift or decay, as a failed gate does.
EXIT_DRIFT = 1
NameArgument = Annotated[str, typer.Argument(help="The deployment's name.")]


@app.command("check")
def check(
    ctx: typer.Context,
    deployment: NameArgument,
    hours: Annotated[
        float | None, typer.Option("--hours", min=0.001, help="The window: the last N hours (default 24).")
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", min=1, help="The window: the last N logged predictions.")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="name@N; default the dataset the serving version was trained on."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", help="shipyard (two-sample tests) or evidently (its preset exactly).")
    ] = None,
    drift_share: Annotated[
        float | None, typer.Option("--drift-share", help="Share of drifted columns that is dataset drift (0.5).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Judge decay: below this accuracy/f1, or above this rmse/mae."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="accuracy, f1, rmse or mae (with --threshold).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job and print the report.")] = False,
    timeout: TimeoutOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a drift check; with --wait exit 1 when drift or decay is found, 0 when not, 2 on an error."""
    if hours is not None and last is not None:
        print_error("give at most one of --hours and --last")
        raise typer.Exit(EXIT_ERROR)
    if metric is not None and threshold is None:
        print_error("--metric needs --threshold: the value below (or above) which the metric is a decay")
        raise typer.Exit(EXIT_ERROR)
    options: dict[str, Any] = {} if drift_share is None else {"drift_share": drift_share}
    performance: dict[str, Any] | None = None
    if threshold is not None:
        performance = {"threshold": threshold, **({"metric": metric} if metric else {})}
    with client_from(ctx) as client:
        job = client.check_drift(
            deployment,
            hours=hours,
            last=last,
            reference=reference,
            preset=preset,
            options=options,
            performance=performance,
        )
        if not wait:
            print_submitted(job, as_json)
            return
        job = watch(client, job.id, timeout)
        if job.status != "succeeded":
            if as_json:
                print_json(to_json_dict(job))
            print_error(f"Drift check {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
            if job.log_tail and not as_json:
                err().print(escape("\n".join(job.log_tail.splitlines()[-LOG_TAIL_LINES:])), style="dim")
            raise typer.Exit(EXIT_ERROR)
        found = client.get_drift_report(int((job.result or {})["report_id"]))
    if as_json:
        print_json(to_json_dict(found))
    else:
        print_report(out(), found)
    raise typer.Exit(EXIT_DRIFT if found.drift_detected or found.decay_detected else 0)


@app.command("reports")
def reports(
    ctx: typer.Context,
    deployment: NameArgument,
    max_results: Annotated[int, typer.Option("--max-results", min=1, help="At most this many reports.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """A deployment's drift reports, newest first."""
    with client_from(ctx) as client:
        found = client.list_drift_reports(deployment, max_results=max_results)
    if as_json:
        print_json({"reports": [to_json_dict(r) for r in found], "next_page_token": found.next_page_token})
        return
    table = Table("ID", "CHECKED (UTC)", "WINDOW (UTC)", "ROWS", "REFERENCE", "DRIFT", "SHARE", "DECAY", "DRIFTED")
    for report in found:
        table.add_row(
            str(report.id),
            when(report.created_at),
            f"{when(report.window_start)} .. {when(report.window_end)}",
            f"{report.current_rows:,}",
            escape(report.reference),
            _yes(report.drift_detected),
            f"{report.drifted_share:.0%}",
            "-" if report.decay_detected is None else _yes(report.decay_detected),
            escape(", ".join(report.drifted_columns)),
        )
    out().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    report_id: Annotated[int, typer.Argument(min=1, help="The report's id.")],
    as_json: JsonFlag = False,
) -> None:
    """A drift report: the verdicts, a table of its columns, the prediction drift and the performance."""
    with client_from(ctx) as client:
        found = client.get_drift_report(report_id)
    if as_json:
        print_json(to_json_dict(found))
        return
    print_report(out(), found)


def print_report(console: Console, report: DriftReport) -> None:
    """The report's verdicts, one row per column, the prediction drift, and the performance by version."""
    versions = ", ".join(
        f"{v.get('model')} v{v.get('version')} ({v.get('rows'):,} rows)" for v in report.model_versions
    )
    console.print(
        f"Drift report {report.id} of {escape(report.deployment)}: {report.current_rows:,} logged rows "
        f"({when(report.window_start)} .. {when(report.window_end)} UTC) against {escape(report.reference)} "
        f"({report.reference_rows:,} rows); served by {escape(versions)}"
    )
    table = Table("COLUMN", "KIND", "TEST", "STATISTIC", "P-VALUE", "THRESHOLD", "VERDICT", "MISSING (REF → NOW)")
    for column in report.columns:
        missing = column.get("missing") or {}
        table.add_row(
            escape(str(column.get("column"))),
            str(column.get("kind") or "-"),
            str(column.get("test") or "-"),
            _number(column.get("statistic")),
            _number(column.get("p_value")),
            _number(column.get("threshold")),
            _verdict(str(column.get("verdict"))),
            f"{_share(missing.get('reference_rate'))} → {_share(missing.get('current_rate'))}",
        )
    console.print(table)
    prediction = report.body.get("prediction") or {}
    if prediction.get("drifted") is None:
        console.print(f"Predictions: not compared ({escape(str(prediction.get('reason') or 'no reference side'))}).")
    else:
        against = (
            f"version {prediction.get('version')}'s predictions on the reference"
            if prediction.get("source") == "model"
            else f"the reference's {prediction.get('column')!r} column"
        )
        console.print(
            f"Predictions against {escape(against)}: {prediction.get('test')} "
            f"{_number(prediction.get('score'))} → {_verdict(str(prediction.get('verdict')))}"
        )
    dataset = report.body.get("dataset") or {}
    console.print(
        f"Dataset: {dataset.get('drifted_columns', 0)} of {dataset.get('tested_columns', 0)} columns drifted "
        f"({report.drifted_share:.0%}; drift at {dataset.get('drift_share', 0.5):.0%}): "
        + ("[red]drift[/red]" if dataset.get("drift_detected") else "[green]no drift[/green]")
    )
    _print_performance(console, report.body.get("performance"))
    if report.drift_detected or report.decay_detected:
        console.print("[red]Drift or decay found.[/red]")
    else:
        console.print("[green]No drift or decay found.[/green]")


def _print_performance(console: Console, section: dict[str, Any] | None) -> None:
    if not section:
        return
    metric = str(section.get("metric"))
    threshold = section.get("threshold")
    judged = f", decay {'above' if not section.get('higher_is_better') else 'below'} {threshold}" if threshold else ""
    if not section.get("versions"):
        console.print(f"Performance ({metric}{judged}): no prediction of the window has feedback yet.")
        return
    console.print(f"Performance from feedback ({metric}{judged}):")
    table = Table("VERSION", "LABELLED", metric.upper(), "METRICS", "VERDICT")
    for version in section.get("versions") or []:
        metrics = " ".join(f"{k}={number(v)}" for k, v in sorted((version.get("metrics") or {}).items()))
        table.add_row(
            f"{escape(str(version.get('model')))} v{version.get('version')}",
            f"{version.get('labelled', 0):,}",
            _number(version.get("value")),
            metrics,
            _verdict(str(version.get("verdict") or "-")),
        )
    console.print(table)


def _number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(value)
    return "-"


def _share(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


def _yes(value: bool) -> str:
    return "[red]yes[/red]" if value else "no"


def _verdict(verdict: str) -> str:
    colour = {"drift": "red", "decayed": "red", "no_drift": "green", "ok": "green"}.get(verdict)
    text = escape(verdict.replace("_", " "))
    return f"[{colour}]{text}[/{colour}]" if colour else text
