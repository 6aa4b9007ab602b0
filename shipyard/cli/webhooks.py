"""`shipyard webhooks test|deliveries|show`: check a webhook receiver, and read the deliveries the
server recorded (each attempt's status, error and duration)."""

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import EXIT_GATE_FAILED, JsonFlag, client_from, out, print_json, when
from shipyard.schemas import WebhookDelivery, to_json_dict

app = typer.Typer(help="Check webhook receivers and read the recorded deliveries.", no_args_is_help=True)


def _attempts(delivery: WebhookDelivery) -> Table:
    table = Table("#", "STARTED (UTC)", "MS", "HTTP", "ERROR")
    for attempt in delivery.attempts:
        table.add_row(
            str(attempt.number),
            when(attempt.started_at),
            f"{attempt.duration_ms:.0f}",
            str(attempt.status_code) if attempt.status_code is not None else "-",
            escape(attempt.error or ""),
        )
    return table


def _print(delivery: WebhookDelivery) -> None:
    console = out()
    colour = "green" if delivery.delivered else "red"
    console.print(
        f"[{colour}]{delivery.status}[/{colour}] {escape(delivery.event)} delivery {delivery.id} "
        f"to {escape(delivery.url)}" + ("" if delivery.signed else " (unsigned)")
    )
    if delivery.error:
        console.print(f"[red]{escape(delivery.error)}[/red]", soft_wrap=True)
    console.print(_attempts(delivery))


@app.command("test")
def send_test(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The receiver's URL (http or https).")],
    secret: Annotated[
        str | None, typer.Option("--secret", help="Sign the body with this secret (X-Shipyard-Signature).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Have the server send a `ping` event to URL; exit 0 when it was delivered, 1 when it failed."""
    with client_from(ctx) as client:
        delivery = client.test_webhook(url, secret=secret)
    if as_json:
        print_json(to_json_dict(delivery))
    else:
        _print(delivery)
    if not delivery.delivered:
        raise typer.Exit(EXIT_GATE_FAILED)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    deployment: Annotated[str | None, typer.Option("--deployment", help="Only this deployment's.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="pending, delivered or failed.")] = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event's, e.g. ping.")] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, help="At most this many.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List webhook deliveries, newest first."""
    with client_from(ctx) as client:
        found = client.list_webhook_deliveries(
            deployment=deployment, status=status, event=event, max_results=max_results
        )
    if as_json:
        print_json({"deliveries": [to_json_dict(d) for d in found], "next_page_token": found.next_page_token})
        return
    table = Table("DELIVERY ID", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "DEPLOYMENT", "URL", "CREATED (UTC)")
    for delivery in found:
        table.add_row(
            delivery.id,
            escape(delivery.event),
            delivery.status,
            str(delivery.attempt_count),
            str(delivery.response_status) if delivery.response_status is not None else "-",
            escape(delivery.deployment or "-"),
            escape(delivery.url),
            when(delivery.created_at),
        )
    out().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id (32 hex characters).")],
    as_json: JsonFlag = False,
) -> None:
    """Show one delivery and each of its attempts."""
    with client_from(ctx) as client:
        delivery = client.get_webhook_delivery(delivery_id)
    if as_json:
        print_json(to_json_dict(delivery))
        return
    _print(delivery)
