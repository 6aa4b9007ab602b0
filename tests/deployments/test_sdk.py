"""The SDK's deployment methods over the in-process app (both databases): a model logged by the
SDK deployed, predicted with a DataFrame and with records, rolled out and back, and the error
classes for the new codes."""

import uuid

import pytest
from fastapi.testclient import TestClient

import shipyard
from shipyard import errors
from tests.sdk.churn import churn_frame, fitted_pipeline


@pytest.fixture
def sdk(client: TestClient, admin_token: str) -> shipyard.Client:
    return shipyard.Client(token=admin_token, http_client=client)


@pytest.fixture
def logged(sdk: shipyard.Client) -> str:
    """A model with two READY versions logged by the SDK."""
    name = f"sdk-deploy-{uuid.uuid4().hex[:8]}"
    features, label = churn_frame(rows=60, seed=3)
    run = sdk.create_run(sdk.get_or_create_experiment(name).id, name="notebook")
    for _ in range(2):
        version = sdk.log_model(run.id, fitted_pipeline(features, label), input_example=features[:5], register_as=name)
        assert version is not None
        assert version.status == "READY"
    return name


def test_deploy_predict_rollout_and_rollback(sdk: shipyard.Client, logged: str) -> None:
    name = f"{logged}-svc"
    deployment = sdk.deploy(name, logged, version=1)
    assert deployment.revision == 1
    assert deployment.routes == [shipyard.schemas.Route(model=logged, version=1, weight=100, mode="primary")]

    features, _ = churn_frame(rows=7, seed=9)
    answer = sdk.predict(name, features, return_proba=True)
    assert len(answer["predictions"]) == 7
    assert len(answer["probabilities"]) == 7
    assert answer["version"] == 1
    records = features.head(3).to_dict(orient="records")
    assert sdk.predict(name, records)["predictions"] == answer["predictions"][:3]

    assert sdk.rollout(name, 2).revision == 2
    assert sdk.predict(name, records)["version"] == 2
    back = sdk.rollback(name)
    assert (back.revision, back.routes[0].version) == (3, 1)
    assert sdk.get_deployment(name).revision == 3
    assert [r.revision for r in sdk.list_revisions(name)] == [3, 2, 1]
    assert name in [d.name for d in sdk.list_deployments()]


def test_error_classes(sdk: shipyard.Client, logged: str) -> None:
    name = f"{logged}-svc"
    sdk.deploy(name, logged, version=1)
    with pytest.raises(errors.DeploymentConflict):
        sdk.deploy(name, logged, version=1)
    with pytest.raises(errors.DeploymentNotFound):
        sdk.get_deployment(f"{name}-missing")
    sdk.rollout(name, 2, strategy="ab", weight=10)
    with pytest.raises(errors.RolloutInProgress):
        sdk.rollout(name, 2, strategy="canary")
    sdk.abort_rollout(name)
    with pytest.raises(errors.NoRolloutInProgress):
        sdk.abort_rollout(name)
    with pytest.raises(errors.NothingToPromote):
        sdk.promote(name)
    # The SDK has no version delete: the class is what a client gets for the server's code.
    assert isinstance(errors.error_for(409, {"code": "version_deployed"}), errors.VersionDeployed)
    with pytest.raises(errors.PredictionInputInvalid) as invalid:
        sdk.predict(name, [{"nothing": 1}])
    assert invalid.value.problem["column"] == "nothing"
    with pytest.raises(ValueError, match="exactly one"):
        sdk.deploy(f"{name}-2", logged)


def test_batching_set_at_deploy_and_changed(sdk: shipyard.Client, logged: str) -> None:
    name = f"{logged}-batched"
    batching = shipyard.schemas.Batching(max_batch_size=32, max_wait_ms=2)
    assert sdk.deploy(name, logged, version=1, batching=batching).batching == batching
    features, _ = churn_frame(rows=4, seed=2)
    assert len(sdk.predict(name, features)["predictions"]) == 4
    off = sdk.set_batching(name, None)
    assert (off.batching, off.revision) == (None, 1)
    assert sdk.get_deployment(name).batching is None
    with pytest.raises(errors.DeploymentNotFound):
        sdk.set_batching(f"{name}-nope", batching)
