"""`shipyard deploy`, `rollback`, `promote` and `shipyard deployments …` as a real subprocess
against a live server: exit 0 on success, 2 on an error, with the server's reason."""

import json
import subprocess
from collections.abc import Callable

import pytest

import shipyard
from tests.sdk.churn import churn_frame, fitted_pipeline

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


@pytest.fixture
def model(admin_client: shipyard.Client, unique_name: str) -> str:
    """Versions 1 and 2 of model `unique_name`, alias `candidate` on version 2."""
    features, label = churn_frame(rows=60, seed=5)
    run = admin_client.create_run(admin_client.get_or_create_experiment(unique_name).id, name="notebook")
    for _ in range(2):
        admin_client.log_model(
            run.id, fitted_pipeline(features, label), input_example=features[:5], register_as=unique_name
        )
    admin_client.set_alias(unique_name, "candidate", 2)
    return unique_name


def test_deploy_roll_out_and_back(cli: RunCli, admin_client: shipyard.Client, model: str) -> None:
    assert "revision 1" in ok(cli("deploy", model, "--version", "1"))
    assert admin_client.get_deployment(model).routes[0].version == 1
    assert "revision 2" in ok(cli("deploy", model, "--alias", "candidate", "--strategy", "direct"))
    features, _ = churn_frame(rows=3, seed=1)
    assert admin_client.predict(model, features)["version"] == 2
    assert "Rolled back" in ok(cli("rollback", model))
    assert admin_client.predict(model, features)["version"] == 1

    status = json.loads(ok(cli("deployments", "status", model, "--json")))
    assert status["revision"] == 3
    assert model in ok(cli("deployments", "list"))
    revisions = json.loads(ok(cli("deployments", "revisions", model, "--json")))["revisions"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]

    named = ok(cli("deploy", model, "--version", "2", "--name", f"{model}-b"))
    assert f"{model}-b" in named


def test_errors_exit_2_with_the_reason(cli: RunCli, model: str) -> None:
    ok(cli("deploy", model, "--version", "1"))
    unknown = cli("deploy", model, "--version", "2", "--strategy", "big_bang")
    assert unknown.returncode == 2
    assert "strategy" in unknown.stderr
    missing = cli("rollback", f"{model}-nope")
    assert missing.returncode == 2
    assert "no deployment" in missing.stderr
    promote = cli("promote", model)
    assert promote.returncode == 2
    assert cli("deploy", model).returncode == 2  # neither --version nor --alias


def test_a_predict_only_token_for_an_application(
    cli: RunCli, admin_client: shipyard.Client, model: str, unique_name: str
) -> None:
    ok(cli("deploy", model, "--version", "1"))
    app_user = f"{unique_name}-app"
    ok(cli("users", "create", app_user, "--role", "viewer", "--password", "a-long-password"))
    minted = json.loads(
        ok(cli("tokens", "create", "--user", app_user, "--predict-only", "--deployment", model, "--json"))
    )
    assert minted["scope"] == "predict"
    assert minted["deployments"] == [model.casefold()]
    assert f"predict: {model.casefold()}" in ok(cli("tokens", "list", "--user", app_user))
    features, _ = churn_frame(rows=3, seed=1)
    with shipyard.Client(admin_client.url, minted["token"]) as app:
        assert len(app.predict(model, features)["predictions"]) == 3
        with pytest.raises(shipyard.errors.Forbidden):
            app.whoami()
    # The CLI refuses a half-given scope before asking the server.
    lone = cli("tokens", "create", "--user", app_user, "--predict-only")
    assert lone.returncode != 0
    assert "--deployment" in lone.stderr
