"""The `shipyard` command: global options, the command groups, and `main()`."""

import importlib
import sys
from typing import Annotated, Any

import typer

from shipyard.cli import (
    datasets,
    deployments,
    drift,
    experiments,
    jobs,
    login,
    models,
    monitoring,
    runs,
    schedules,
    tokens,
    training,
    users,
    webhooks,
)
from shipyard.cli.common import EXIT_ERROR, CliState, print_error
from shipyard.errors import ShipyardError

LAUNCHER_MODULE = "shipyard.cli.launcher"
# Everything after the command name goes, unparsed, to the launcher's own command (--help too).
PASS_THROUGH: dict[Any, Any] = {"allow_extra_args": True, "ignore_unknown_options": True}
SERVER_PANEL = "Server side"

app = typer.Typer(
    name="shipyard",
    help="Shipyard: track experiments, version data and models, train and evaluate from the command line.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.app, name="models")
app.add_typer(jobs.app, name="jobs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(deployments.app, name="deployments")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(drift.app, name="drift")
app.add_typer(monitoring.app, name="monitor")
app.command("login")(login.login)
app.command("train")(training.train)
app.command("evaluate")(training.evaluate)
app.command("deploy")(deployments.deploy)
app.command("rollback")(deployments.rollback)
app.command("promote")(deployments.promote)
app.command("retrain")(monitoring.retrain)


@app.callback()
def global_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Server URL; default SHIPYARD_URL, else the one `shipyard login` saved."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="API token; default SHIPYARD_TOKEN, else the credentials files.")
    ] = None,
) -> None:
    ctx.obj = CliState(url=url, token=token)


def _launch(ctx: typer.Context) -> None:
    # Importing the server takes seconds: the launcher module is loaded only when one of its
    # commands runs, so every other command stays quick. Its typer app then parses the arguments.
    launcher = importlib.import_module(LAUNCHER_MODULE)
    launcher.app(args=[ctx.info_name or "", *ctx.args], prog_name="shipyard")


@app.command("server", context_settings=PASS_THROUGH, add_help_option=False, rich_help_panel=SERVER_PANEL)
def server(ctx: typer.Context) -> None:
    """Run the API server [--host] [--port] [--data-dir] (migrates, creates the first admin)."""
    _launch(ctx)


@app.command("db", context_settings=PASS_THROUGH, add_help_option=False, rich_help_panel=SERVER_PANEL)
def db(ctx: typer.Context) -> None:
    """Manage the metadata database: `shipyard db upgrade`."""
    _launch(ctx)


@app.command("worker", context_settings=PASS_THROUGH, add_help_option=False, rich_help_panel=SERVER_PANEL)
def worker(ctx: typer.Context) -> None:
    """Run a Celery worker for jobs (needs SHIPYARD_BROKER_URL); extra arguments go to Celery."""
    _launch(ctx)


@app.command("beat", context_settings=PASS_THROUGH, add_help_option=False, rich_help_panel=SERVER_PANEL)
def beat(ctx: typer.Context) -> None:
    """Run Celery beat: fires the schedules and the job reconciler on the workers (needs SHIPYARD_BROKER_URL)."""
    _launch(ctx)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an API error prints its detail in red on stderr and exits with code 2."""
    try:
        app(args=argv, prog_name="shipyard")
    except ShipyardError as exc:
        print_error(exc.detail)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
