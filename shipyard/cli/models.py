"""`shipyard models …`: browse registered models and versions with their lineage, move aliases,
and download a version's files (checked against their SHA-256)."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, fail, metrics_cell, number, out, print_json, when
from shipyard.errors import ModelVersionNotFound
from shipyard.models import parse_model_uri
from shipyard.schemas import Lineage, ModelVersion, RegisteredModel, to_json_dict

app = typer.Typer(help="Browse the model registry, move aliases, download versions.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="NAME@ALIAS, NAME/3, models:/NAME@ALIAS, or NAME (newest READY).")]


def _ref(ref: str) -> tuple[str, str]:
    try:
        return parse_model_uri(ref)
    except ValueError as exc:
        fail(str(exc))


def _aliases(model: RegisteredModel) -> str:
    return ", ".join(f"{alias}→{version}" for alias, version in sorted(model.aliases.items())) or "-"


@app.command("list")
def list_models(
    ctx: typer.Context,
    include_archived: Annotated[bool, typer.Option("--all", help="Include archived models.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List registered models with their aliases."""
    with client_from(ctx) as client:
        models = client.list_models(lifecycle_stage="all" if include_archived else "active")
    if as_json:
        print_json({"models": [to_json_dict(model) for model in models]})
        return
    table = Table("NAME", "LATEST", "ALIASES", "STAGE", "UPDATED (UTC)", "DESCRIPTION")
    for model in models:
        table.add_row(
            escape(model.name),
            str(model.latest_version or "-"),
            escape(_aliases(model)),
            model.lifecycle_stage,
            when(model.updated_at),
            escape(model.description),
        )
    out().print(table)


def _grid(console: Console, rows: list[tuple[str, str]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, escape(value))
    console.print(grid)


def _print_version(console: Console, version: ModelVersion, lineage: Lineage) -> None:
    console.print(f"\n[bold]Version {version.version}[/bold]")
    run = lineage.source_run
    experiment = lineage.experiment or {}
    rows = [
        ("status", version.status + (f": {version.status_message}" if version.status_message else "")),
        ("aliases", ", ".join(version.aliases) or "-"),
        ("flavor", version.flavor or "-"),
        ("created", f"{when(version.created_at)} UTC by {version.created_by}"),
        ("run", f"{run.id} ({run.name}, {run.status})" if run else version.source_run_id or "-"),
        ("experiment", f"{experiment.get('name')} (id {experiment.get('id')})" if experiment else "-"),
        ("datasets", ", ".join(f"{d.reference} ({d.context})" for d in lineage.datasets) or "-"),
        ("inputs", ", ".join(f"{c['name']}:{c['type']}" for c in (version.signature or {}).get("inputs", [])) or "-"),
    ]
    _grid(console, rows)
    if version.metrics:
        table = Table("METRIC", "VALUE")
        for key, value in sorted(version.metrics.items()):
            table.add_row(escape(key), number(value))
        console.print(table)
    if version.files:
        table = Table("FILE", "SIZE", "SHA-256")
        for item in version.files:
            table.add_row(escape(item.path), str(item.size), item.sha256[:16] + "…")
        console.print(table)
    if lineage.evaluations:
        table = Table("EVALUATION JOB", "DATASET", "RESULT", "WHEN (UTC)")
        for evaluation in lineage.evaluations:
            passed = evaluation.get("passed")
            result = "no gates" if passed is None else "passed" if passed else "a gate failed"
            table.add_row(
                str(evaluation.get("job_id")),
                str(evaluation.get("dataset")),
                result,
                str(evaluation.get("created_at", ""))[:19].replace("T", " "),
            )
        console.print(table)


@app.command("show")
def show_model(ctx: typer.Context, ref: RefArgument, as_json: JsonFlag = False) -> None:
    """Show a model (aliases, latest version) and one version with its lineage: run, experiment,
    dataset versions and evaluations. A bare NAME shows the newest READY version."""
    name, version_ref = _ref(ref)
    version: ModelVersion | None = None
    lineage: Lineage | None = None
    with client_from(ctx) as client:
        model = client.get_model(name)
        try:
            version = client.get_model_version(name, version_ref)
        except ModelVersionNotFound:
            if version_ref != "latest":
                raise  # a bare name may have no READY version yet; a named one must exist
        if version is not None:
            lineage = client.get_model_lineage(name, version.version)
    if as_json:
        data: dict[str, Any] = {"model": to_json_dict(model)}
        data["version"] = to_json_dict(version) if version else None
        data["lineage"] = to_json_dict(lineage) if lineage else None
        print_json(data)
        return
    console = out()
    _grid(
        console,
        [
            ("model", model.name),
            ("description", model.description or "-"),
            ("latest version", str(model.latest_version or "-")),
            ("aliases", _aliases(model)),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())) or "-"),
            ("stage", model.lifecycle_stage),
        ],
    )
    if version is not None and lineage is not None:
        _print_version(console, version, lineage)
    else:
        console.print("\nNo READY version yet.")


@app.command("versions")
def list_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    status: Annotated[str | None, typer.Option(help="Only PENDING, READY or FAILED versions.")] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, help="At most this many versions.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List a model's versions, newest first."""
    with client_from(ctx) as client:
        versions = client.list_model_versions(name, status=status, max_results=max_results)
    if as_json:
        print_json({"versions": [to_json_dict(v) for v in versions], "next_page_token": versions.next_page_token})
        return
    table = Table("VERSION", "STATUS", "ALIASES", "RUN", "CREATED (UTC)", "BY", "METRICS")
    for version in versions:
        status_text = version.status + (f": {version.status_message}" if version.status != "READY" else "")
        table.add_row(
            str(version.version),
            escape(status_text),
            ", ".join(version.aliases) or "-",
            version.source_run_id or "-",
            when(version.created_at),
            version.created_by,
            metrics_cell(version.metrics),
        )
    out().print(table)


@app.command("alias")
def set_alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered model.")],
    alias: Annotated[str, typer.Argument(help="e.g. candidate, production (protected: admins only).")],
    version: Annotated[int | None, typer.Argument(help="The version number to point the alias at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Point an alias at a READY version (`models alias churn production 3`), or remove it with --delete."""
    if delete == (version is not None):
        fail("give a VERSION to point the alias at, or --delete to remove it (not both)")
    with client_from(ctx) as client:
        if delete:
            client.delete_alias(name, alias)
            if as_json:
                print_json({"model": name, "alias": alias, "deleted": True})
            else:
                out().print(f"Removed alias {escape(alias)} of {escape(name)}.")
            return
        assert version is not None
        change = client.set_alias(name, alias, version)
    if as_json:
        print_json(to_json_dict(change))
        return
    was = f" (was version {change.previous_version})" if change.previous_version else ""
    out().print(f"{escape(name)}@{escape(alias)} → version {change.version}{was}.")


@app.command("download")
def download_model(
    ctx: typer.Context,
    ref: RefArgument,
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False, help="The folder to write the files to.")],
    as_json: JsonFlag = False,
) -> None:
    """Download a version's files into a folder, each checked against its registered SHA-256."""
    _ref(ref)
    with client_from(ctx) as client:
        version = client.download_model(ref, output)
    if as_json:
        print_json({"version": to_json_dict(version), "path": str(output)})
        return
    out().print(
        f"Downloaded {escape(version.model)} version {version.version} "
        f"({len(version.files)} files, SHA-256 checked) to {escape(str(output))}"
    )
