"""`shipyard datasets …`: upload a CSV/Parquet file as a dataset version, list datasets and versions."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, out, print_json, when
from shipyard.schemas import DatasetVersion, to_json_dict

app = typer.Typer(help="Upload and browse versioned datasets.", no_args_is_help=True)


def _shape(version: DatasetVersion) -> str:
    return f"{version.rows:,} rows, {len(version.columns)} columns"


@app.command("upload")
def upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .parquet file.")],
    name: Annotated[str, typer.Option("--name", help="The dataset (created on its first upload).")],
    as_json: JsonFlag = False,
) -> None:
    """Upload a file as the next version of a dataset; the same bytes again reuse their version."""
    with client_from(ctx) as client:
        try:
            version = client.log_dataset(file, name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    if as_json:
        print_json(to_json_dict(version))
        return
    if version.created:
        out().print(f"Uploaded {escape(version.reference)}: {_shape(version)}, sha256 {version.sha256[:16]}…")
    else:
        out().print(f"Same bytes as {escape(version.reference)} ({_shape(version)}): no new version.")


@app.command("list")
def list_datasets(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List datasets."""
    with client_from(ctx) as client:
        datasets = client.list_datasets()
    if as_json:
        print_json({"datasets": [to_json_dict(dataset) for dataset in datasets]})
        return
    table = Table("NAME", "LATEST", "UPDATED (UTC)", "DESCRIPTION")
    for dataset in datasets:
        table.add_row(
            escape(dataset.name),
            str(dataset.latest_version or "-"),
            when(dataset.updated_at),
            escape(dataset.description),
        )
    out().print(table)


@app.command("versions")
def list_versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset.")],
    as_json: JsonFlag = False,
) -> None:
    """List a dataset's versions with their shape and digest."""
    with client_from(ctx) as client:
        versions = client.list_dataset_versions(name)
    if as_json:
        print_json({"versions": [to_json_dict(version) for version in versions]})
        return
    table = Table("REFERENCE", "ROWS", "COLUMNS", "BYTES", "FORMAT", "SHA-256", "CREATED (UTC)", "BY")
    for version in versions:
        table.add_row(
            escape(version.reference),
            f"{version.rows:,}",
            str(len(version.columns)),
            f"{version.size_bytes:,}",
            version.source_format,
            version.sha256[:16] + "…",
            when(version.created_at),
            version.created_by,
        )
    out().print(table)


@app.command("show")
def show_version(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@3, NAME@latest or NAME.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a dataset version and its schema."""
    with client_from(ctx) as client:
        try:
            version = client.get_dataset_version(ref)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="REF") from exc
    if as_json:
        print_json(to_json_dict(version))
        return
    console = out()
    console.print(
        f"[bold]{escape(version.reference)}[/bold]: {_shape(version)}, {version.size_bytes:,} bytes "
        f"({version.source_format}), sha256 {version.sha256}, by {version.created_by} at {when(version.created_at)} UTC"
    )
    table = Table("COLUMN", "TYPE")
    for column in version.columns:
        table.add_row(escape(column.get("name", "")), escape(column.get("type", "")))
    console.print(table)
