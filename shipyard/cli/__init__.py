"""The `shipyard` command line: typer commands over the SDK, plus the launchers of the server side."""
