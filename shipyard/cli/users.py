"""`shipyard users …`: create and list users (admin token needed)."""

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, out, print_json, when
from shipyard.schemas import to_json_dict

app = typer.Typer(help="Manage users (needs an admin token).", no_args_is_help=True)


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"


@app.command("create")
def create_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Letters, digits and _.@- (up to 64).")],
    role: Annotated[Role, typer.Option(help="viewer < editor < admin.")] = Role.viewer,
    password: Annotated[
        str | None, typer.Option(help="12+ characters, not a common one; omit to have one generated and shown once.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user; a generated password is printed once."""
    with client_from(ctx) as client:
        user = client.create_user(username, role=role.value, password=password)
    if as_json:
        print_json(to_json_dict(user))
        return
    console = out()
    console.print(f"Created user [bold]{user.username}[/bold] (role {user.role}, id {user.id}).")
    if user.password:
        console.print("Generated password, shown only now:")
        # Plain echo: the secret alone on its line, easy to copy or to capture in a script.
        typer.echo(user.password)


@app.command("list")
def list_users(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List users."""
    with client_from(ctx) as client:
        users = client.list_users()
    if as_json:
        print_json({"users": [{k: v for k, v in to_json_dict(user).items() if k != "password"} for user in users]})
        return
    table = Table("ID", "USERNAME", "ROLE", "ACTIVE", "CREATED")
    for user in users:
        table.add_row(str(user.id), user.username, user.role, "yes" if user.is_active else "no", when(user.created_at))
    out().print(table)
