"""`shipyard experiments …`: list experiments."""

from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, out, print_json, when
from shipyard.schemas import to_json_dict

app = typer.Typer(help="Browse experiments.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    ctx: typer.Context,
    include_archived: Annotated[bool, typer.Option("--all", help="Include archived experiments.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List experiments, oldest first."""
    with client_from(ctx) as client:
        experiments = client.list_experiments(lifecycle_stage="all" if include_archived else "active")
    if as_json:
        print_json({"experiments": [to_json_dict(experiment) for experiment in experiments]})
        return
    table = Table("ID", "NAME", "STAGE", "CREATED", "DESCRIPTION")
    for experiment in experiments:
        table.add_row(
            str(experiment.id),
            experiment.name,
            experiment.lifecycle_stage,
            when(experiment.created_at),
            experiment.description,
        )
    out().print(table)
