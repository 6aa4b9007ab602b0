"""`shipyard deploy`, `rollback`, `promote` and `shipyard deployments list|status|revisions`: a
registered model behind a prediction endpoint, from CI."""

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.common import JsonFlag, client_from, fail, out, print_json, when
from shipyard.errors import DeploymentNotFound
from shipyard.schemas import Deployment, Route, to_json_dict

app = typer.Typer(help="List deployments and read their status and revisions.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The deployment's name.")]


def _routes(routes: list[Route]) -> str:
    return ", ".join(f"{r.model}/{r.version} {r.weight}% {r.mode}" for r in routes) or "-"


def _print(deployment: Deployment, verb: str) -> None:
    out().print(
        f"{verb} [bold]{escape(deployment.name)}[/bold] at revision {deployment.revision}: "
        f"{escape(_routes(deployment.routes))}"
    )


def deploy(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[int | None, typer.Option("--version", min=1, help="The version number to deploy.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Deploy the version this alias points at.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The deployment; default: the model's name.")] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="Only `direct` for now.")] = "direct",
    reason: Annotated[str, typer.Option("--reason", help="Why, kept with the revision.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Deploy a version: creates the deployment, or rolls the version out on it when it exists.
    Exit code 0 once it serves, 2 on any error."""
    if (version is None) == (alias is None):
        fail("give exactly one of --version and --alias")
    target = name or model
    with client_from(ctx) as client:
        try:
            client.get_deployment(target)
            exists = True
        except DeploymentNotFound:
            exists = False
        if not exists:
            deployment = client.deploy(target, model, version=version, alias=alias, reason=reason)
            verb = "Deployed"
        else:
            number = version if version is not None else client.get_model_version(model, str(alias)).version
            deployment = client.rollout(target, number, strategy=strategy, reason=reason)
            verb = "Rolled out"
    if as_json:
        print_json(to_json_dict(deployment))
        return
    _print(deployment, verb)


def rollback(
    ctx: typer.Context,
    name: NameArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, kept with the revision.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Back to the previous revision's routes, as a new revision."""
    with client_from(ctx) as client:
        deployment = client.rollback(name, reason=reason)
    if as_json:
        print_json(to_json_dict(deployment))
        return
    _print(deployment, "Rolled back")


def promote(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """Promote the rollout in progress (a direct rollout has nothing to promote: exit code 2)."""
    with client_from(ctx) as client:
        deployment = client.promote(name)
    if as_json:
        print_json(to_json_dict(deployment))
        return
    _print(deployment, "Promoted")


@app.command("list")
def list_deployments(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List deployments with the routes they serve."""
    with client_from(ctx) as client:
        found = client.list_deployments()
    if as_json:
        print_json({"deployments": [to_json_dict(d) for d in found]})
        return
    table = Table("NAME", "REVISION", "ROUTES", "STATE", "UPDATED (UTC)")
    for deployment in found:
        table.add_row(
            escape(deployment.name),
            str(deployment.revision),
            escape(_routes(deployment.routes)),
            deployment.state,
            when(deployment.updated_at),
        )
    out().print(table)


@app.command("status")
def status(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """A deployment's current revision and routes."""
    with client_from(ctx) as client:
        deployment = client.get_deployment(name)
    if as_json:
        print_json(to_json_dict(deployment))
        return
    _print(deployment, "Deployment")
    out().print(f"state {deployment.state}; created {when(deployment.created_at)} UTC by {deployment.created_by}")


@app.command("revisions")
def revisions(ctx: typer.Context, name: NameArgument, as_json: JsonFlag = False) -> None:
    """A deployment's revisions, newest first: routes, strategy, who, when and why."""
    with client_from(ctx) as client:
        found = client.list_revisions(name)
    if as_json:
        print_json({"revisions": [to_json_dict(r) for r in found]})
        return
    table = Table("REVISION", "ROUTES", "STRATEGY", "BY", "WHEN (UTC)", "REASON")
    for revision in found:
        table.add_row(
            str(revision.revision),
            escape(_routes(revision.routes)),
            revision.strategy,
            escape(revision.created_by),
            when(revision.created_at),
            escape(revision.reason),
        )
    out().print(table)
