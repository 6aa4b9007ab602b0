"""`shipyard login [URL]`: get a token (password prompt, or --token) and save it with the URL in
``~/.shipyard/credentials``, where the SDK and every later command find both."""

import socket
import sys
from typing import Annotated

import typer

from shipyard import config
from shipyard.cli.common import CliState, fail, out
from shipyard.client import Client

TOKEN_NAME_PREFIX = "cli-login"


def _server_url(ctx: typer.Context, url: str | None) -> str:
    state = ctx.find_object(CliState) or CliState()
    chosen = (url or config.resolve(state.url).url).rstrip("/")
    if not chosen.startswith(("http://", "https://")):
        fail(f"the server URL must start with http:// or https://, got {chosen!r}")
    return chosen


def login(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Argument(help="Server URL; default --url, SHIPYARD_URL, the saved one, else http://127.0.0.1:8000."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="Save this API token (checked first) instead of logging in.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Who to log in as (prompted).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
    ] = False,
) -> None:
    """Log in to a server and save its URL and token in ~/.shipyard/credentials (mode 0600)."""
    server = _server_url(ctx, url)
    if token is None:
        username = username or typer.prompt("Username")
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else typer.prompt("Password", hide_input=True)
        with Client(server, anonymous=True) as anonymous:
            token = anonymous.create_token(
                username, name=f"{TOKEN_NAME_PREFIX}-{socket.gethostname()}"[:64], password=password
            ).token
        if not token:
            fail(f"{server} answered the login without a token")
    with Client(server, token) as client:
        identity = client.whoami()
    path = config.write_credentials(config.user_credentials_path(), server, token)
    out().print(f"Logged in to {server} as {identity.username} ({identity.role}); the URL and token are in {path}.")
