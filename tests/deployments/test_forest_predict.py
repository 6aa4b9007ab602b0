"""A random forest behind a deployment answers, through HTTP, exactly what the forest answers in
this process: the same classes and the same probabilities to the bit, for single rows and many,
and the forest's own refusal for a value it cannot take."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from tests.deployments.conftest import deploy, new_name, register, write_model_folder, zip_folder

API = "/api/v1"


def _forest_zip(root: Path, forest: Any, features: np.ndarray, names: list[str], output: str) -> bytes:
    overrides = {
        "signature": {
            "inputs": [{"name": name, "type": "double"} for name in names],
            "outputs": [{"name": "prediction", "type": output}],
        },
        "input_example": {"columns": names, "data": features[:2].tolist()},
    }
    return zip_folder(write_model_folder(root, forest, manifest_overrides=overrides))


@pytest.fixture(scope="module", params=["binary", "three string classes"])
def served_forest(
    request: pytest.FixtureRequest,
    client: TestClient,
    admin: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Any, np.ndarray, list[str]]:
    """A deployment of a forest fitted on a plain array, the forest, its data and column names."""
    if request.param == "binary":
        data = load_breast_cancer()
        features, target = data.data, data.target
        forest: Any = RandomForestClassifier(n_estimators=25, random_state=0)
        output = "long"
    else:
        data = load_iris()
        features, target = data.data, np.array(["setosa", "versicolor", "virginica"])[data.target]
        forest = ExtraTreesClassifier(n_estimators=15, random_state=0)
        output = "string"
    forest.fit(features, target)
    names = [f"f{i}" for i in range(features.shape[1])]
    model = new_name("rf")
    register(client, admin, model, _forest_zip(tmp_path_factory.mktemp("forest"), forest, features, names, output))
    deployment = new_name("dep-rf")
    deploy(client, admin, deployment, model, 1)
    return deployment, forest, features, names


@pytest.mark.parametrize("rows", [1, 3, 100])
def test_answers_are_the_forests_own(
    client: TestClient, viewer: dict[str, str], served_forest: tuple[str, Any, np.ndarray, list[str]], rows: int
) -> None:
    deployment, forest, features, names = served_forest
    chosen = features[-rows:]
    body = {"dataframe_split": {"columns": names, "data": chosen.tolist()}, "return_proba": True}
    answer = client.post(f"{API}/deployments/{deployment}/predict", json=body, headers=viewer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == forest.predict(chosen).tolist()
    # JSON floats round-trip exactly: equal lists are equal to the bit.
    assert answer.json()["probabilities"] == forest.predict_proba(chosen).tolist()
    plain = client.post(
        f"{API}/deployments/{deployment}/predict",
        json={"inputs": {n: chosen[:, i].tolist() for i, n in enumerate(names)}},
        headers=viewer,
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["predictions"] == forest.predict(chosen).tolist()
    assert "probabilities" not in plain.json()


def test_a_value_the_forest_refuses_is_a_model_error(
    client: TestClient, viewer: dict[str, str], served_forest: tuple[str, Any, np.ndarray, list[str]]
) -> None:
    deployment, forest, features, names = served_forest
    row = features[0].copy()
    row[0] = 1e39  # a finite number, past the float32 the trees compare in
    with pytest.raises(ValueError, match="too large"):
        forest.predict(row[np.newaxis, :])
    body = {"dataframe_split": {"columns": names, "data": [row.tolist()]}}
    answer = client.post(f"{API}/deployments/{deployment}/predict", json=body, headers=viewer)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "model_error"
    assert "too large" in answer.json()["detail"]
