"""Two `shipyard server` processes on one Postgres database and one artifact folder: a
deployment and a rollout made through one are served by the other, through its poller."""

import shutil
from collections.abc import Callable
from pathlib import Path
from threading import Event

import shipyard
from tests.sdk.churn import churn_frame, fitted_pipeline
from tests.sdk.live_server import running_server


def answering_version(client: shipyard.Client, name: str, wanted: int) -> int | None:
    """The version answering on `client` once it is `wanted`; gives up after 200 tries (the
    poller applies a change within about a second)."""
    features, _ = churn_frame(rows=2, seed=4)
    found = None
    for _ in range(200):
        try:
            found = client.predict(name, features)["version"]
        except shipyard.errors.DeploymentNotFound:
            found = None
        if found == wanted:
            return found
        Event().wait(0.05)
    return found


def test_a_route_change_reaches_the_other_process(tmp_path: Path, postgres_database: Callable[[], str]) -> None:
    database = postgres_database()
    for folder in ("one", "two/data"):
        (tmp_path / folder).mkdir(parents=True)
    shared = {"SHIPYARD_ARTIFACT_URI": str(tmp_path / "artifacts")}
    with running_server(tmp_path / "one" / "data", database, **shared) as one:
        # The admin the first server created, and its token, are the second's too (one database).
        shutil.copy(one.data_dir / "credentials", tmp_path / "two" / "data" / "credentials")
        with (
            running_server(tmp_path / "two" / "data", database, **shared) as two,
            shipyard.Client(one.url, one.token) as first,
        ):
            features, label = churn_frame(rows=60, seed=2)
            run = first.create_run(first.get_or_create_experiment("replicas").id, name="notebook")
            for _ in range(2):
                pipeline = fitted_pipeline(features, label)
                first.log_model(run.id, pipeline, input_example=features[:5], register_as="replicas")
            first.deploy("replicas", "replicas", version=1)
            with shipyard.Client(two.url, one.token) as second:
                assert answering_version(second, "replicas", 1) == 1
                first.rollout("replicas", 2)
                assert answering_version(second, "replicas", 2) == 2
                assert second.get_deployment("replicas").revision == 2
