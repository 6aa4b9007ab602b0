"""What the CLI commands share: the client from --url/--token, tables, JSON output and error exits."""

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.client import Client

# Exit codes: 1 is kept for "a gate failed" (evaluate, deploy checks); 2 is every other error.
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


@dataclass(frozen=True)
class CliState:
    """The global options, stored on the click context by the root callback."""

    url: str | None = None
    token: str | None = None


def client_from(ctx: typer.Context) -> Client:
    """A client for the server chosen by --url/--token, else SHIPYARD_URL/SHIPYARD_TOKEN and files."""
    state = ctx.find_object(CliState) or CliState()
    return Client(state.url, state.token)


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped output (scripts, grep, CI logs) would otherwise be cut at 80 columns with ellipses.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width, soft_wrap=False)


def out() -> Console:
    """A rich console on stdout."""
    return _console()


def err() -> Console:
    """A rich console on stderr: progress bars and notes that must not mix with stdout's results."""
    return _console(stderr=True)


def print_error(message: str) -> None:
    """`message` in red on stderr, never wrapped: scripts and tests read it as one line."""
    _console(stderr=True).print(f"[red]{escape(message)}[/red]", soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print `message` in red on stderr and exit with the error code."""
    print_error(message)
    raise typer.Exit(EXIT_ERROR)


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout (datetimes as ISO 8601)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def when(value: datetime | int | None) -> str:
    """A timestamp (datetime, or milliseconds since the epoch) for a table cell, in UTC."""
    if value is None:
        return "-"
    moment = datetime.fromtimestamp(value / 1000, tz=UTC) if isinstance(value, int) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start_ms: int, end_ms: int | None) -> str:
    """A run's length for a table cell: ``-`` while it runs."""
    if end_ms is None:
        return "-"
    seconds = max(0, end_ms - start_ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def number(value: float) -> str:
    return f"{value:.6g}"


# Metrics shown inline in a list; `show` and --json give them all.
LISTED_METRICS = 4


def metrics_cell(metrics: Mapping[str, float]) -> str:
    """The first few metrics by name, and how many more there are."""
    shown = [f"{key}={number(value)}" for key, value in sorted(metrics.items())[:LISTED_METRICS]]
    if len(metrics) > LISTED_METRICS:
        shown.append(f"+{len(metrics) - LISTED_METRICS}")
    return " ".join(shown)
