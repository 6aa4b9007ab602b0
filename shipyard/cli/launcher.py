"""`shipyard server`, `db upgrade`, `worker` and `beat`: the one client module that imports `app` and
`workers`; `shipyard.cli.main` loads it only when one of these commands runs."""

import os
from pathlib import Path
from typing import Annotated

import typer

from app import server
from app.db import migrate
from shipyard.cli.common import EXIT_ERROR
from workers import celery_app

app = typer.Typer(help="Start the Shipyard server side.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("server")
def run_server(
    host: Annotated[str | None, typer.Option(help="Address to listen on (SHIPYARD_HOST, default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (SHIPYARD_PORT, default 8000).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="SQLite file, artifacts and credentials (SHIPYARD_DATA_DIR, default ./shipyard-data)."
        ),
    ] = None,
) -> None:
    """Run the API server: migrate the database, create the first admin, serve."""
    # The server reads its settings from the environment, so the options go there.
    for name, value in (("SHIPYARD_HOST", host), ("SHIPYARD_PORT", port), ("SHIPYARD_DATA_DIR", data_dir)):
        if value is not None:
            os.environ[name] = str(value)
    try:
        server.serve()
    except server.BindError as exc:
        typer.echo(f"shipyard server: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


@db_app.command("upgrade")
def upgrade_database() -> None:
    """Apply every pending migration (the server and workers also do it when they start)."""
    typer.echo(migrate.upgrade_to_head().describe())


@app.command(
    "worker",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run_worker(ctx: typer.Context) -> None:
    """Run a Celery worker (needs SHIPYARD_BROKER_URL); extra arguments go to Celery."""
    celery_app.main(list(ctx.args))


@app.command(
    "beat",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def run_beat(ctx: typer.Context) -> None:
    """Run Celery beat: it sends the schedules' and the job reconciler's passes to the workers (needs
    SHIPYARD_BROKER_URL); extra arguments go to Celery (`--schedule FILE`, default in the data dir)."""
    celery_app.beat(list(ctx.args))
