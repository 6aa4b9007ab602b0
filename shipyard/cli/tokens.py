"""`shipyard tokens …`: mint, list and revoke API tokens (admin token needed)."""

from typing import Annotated, Any

import typer
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, fail, out, print_json, when
from shipyard.schemas import Token, to_json_dict

app = typer.Typer(help="Manage API tokens (needs an admin token).", no_args_is_help=True)


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _state(token: Token) -> str:
    return "revoked" if token.revoked_at else "active"


@app.command("create")
def create_token(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "default",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, max=3650, help="Lifetime in days; default never.")
    ] = None,
    predict_only: Annotated[
        bool, typer.Option("--predict-only", help="The token may only predict on the --deployment(s).")
    ] = False,
    deployments: Annotated[
        list[str] | None,
        typer.Option("--deployment", help="A deployment a --predict-only token may predict on (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Mint a token for a user; the secret is printed once."""
    if predict_only != bool(deployments):
        fail("--predict-only needs at least one --deployment, and --deployment needs --predict-only")
    with client_from(ctx) as client:
        token = client.create_token(
            user, name=name, expires_in_days=expires_days, predict_on=deployments if predict_only else None
        )
    if as_json:
        print_json(to_json_dict(token))
        return
    expiry = f"expires {when(token.expires_at)} UTC" if token.expires_at else "never expires"
    scope = f", predict-only on {', '.join(token.deployments or [])}" if token.scope == "predict" else ""
    out().print(f"Token {token.id} [bold]{token.name}[/bold] for {token.username} ({expiry}{scope}). Shown only now:")
    typer.echo(token.token)


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List tokens (never their secrets)."""
    with client_from(ctx) as client:
        tokens = client.list_tokens(user)
    if as_json:
        # A listing never holds secrets; the `token` field only means something on create.
        print_json({"tokens": [_without(to_json_dict(token), "token") for token in tokens]})
        return
    table = Table("ID", "NAME", "USER", "PREFIX", "SCOPE", "CREATED", "EXPIRES", "STATE")
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.username,
            token.prefix,
            f"predict: {', '.join(token.deployments or [])}" if token.scope == "predict" else "full",
            when(token.created_at),
            when(token.expires_at) if token.expires_at else "never",
            _state(token),
        )
    out().print(table)


@app.command("revoke")
def revoke_token(ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    with client_from(ctx) as client:
        client.revoke_token(token_id)
    out().print(f"Revoked token {token_id}.")
