"""The Open Inference Protocol (KServe V2) routes on SQLite and Postgres, driven by hand-written
payloads as the KServe and Triton docs show them: health, model metadata and readiness, infer with
one tensor per column or one [N, F] tensor, the same answers as REST predict, and `{"error"}` 4xx."""

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from app.settings import Settings
from tests.deployments.conftest import deploy, new_name, register, rows
from tests.registry.conftest import write_model_folder, zip_folder

API = "/api/v1"


def numeric_zip(root: Path) -> bytes:
    """A logistic regression fitted on a plain array of two double columns."""
    rng = np.random.default_rng(3)
    features = rng.uniform(0, 10, (80, 2))
    target = (features[:, 0] > features[:, 1]).astype(int)
    manifest = {
        "signature": {
            "inputs": [{"name": "x1", "type": "double"}, {"name": "x2", "type": "double"}],
            "outputs": [{"name": "prediction", "type": "long"}],
        },
        "input_example": {"columns": ["x1", "x2"], "data": features[:2].tolist()},
    }
    return zip_folder(write_model_folder(root, LogisticRegression().fit(features, target), manifest_overrides=manifest))


@pytest.fixture(scope="module")
def served(
    client: TestClient, admin: dict[str, str], model_zips: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    names = {}
    bodies = {**model_zips, "numeric": numeric_zip(tmp_path_factory.mktemp("v2-numeric"))}
    for kind in ("strict", "numeric"):
        model = new_name(kind)
        register(client, admin, model, bodies[kind])
        names[kind] = new_name(f"v2-{kind}")
        deploy(client, admin, names[kind], model, 1)
    return names


def infer(client: TestClient, headers: dict[str, str], name: str, body: Any, version: int | None = None) -> Any:
    path = f"/v2/models/{name}/versions/{version}/infer" if version else f"/v2/models/{name}/infer"
    return client.post(path, json=body, headers=headers)


def test_health_is_public(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True}


def test_model_metadata_follows_the_signature(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    name = served["strict"]
    metadata = client.get(f"/v2/models/{name}", headers=viewer)
    assert metadata.status_code == 200, metadata.text
    body = metadata.json()
    assert body["name"] == name
    assert body["versions"] == ["1"]
    assert body["platform"] == "sklearn"
    assert body["inputs"] == [
        {"name": "age", "datatype": "FP64", "shape": [-1]},
        {"name": "plan", "datatype": "BYTES", "shape": [-1]},
    ]
    assert body["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert client.get(f"/v2/models/{name}/versions/1", headers=viewer).json() == body
    assert client.get(f"/v2/models/{name}/ready", headers=viewer).json() == {"name": name, "ready": True}
    assert client.get(f"/v2/models/{name}/versions/1/ready", headers=viewer).status_code == 200
    assert client.get("/v2", headers=viewer).json()["name"] == "shipyard"


def test_infer_as_the_kserve_docs_show_it(client: TestClient, viewer: dict[str, str], served: dict[str, str]) -> None:
    name = served["strict"]
    # The V2 examples' form: an id, [N, 1] tensors with nested data, the outputs asked for.
    body = {
        "id": "req-42",
        "inputs": [
            {"name": "age", "shape": [3, 1], "datatype": "FP32", "data": [[20.0], [50.0], [33.5]]},
            {"name": "plan", "shape": [3], "datatype": "BYTES", "data": ["basic", "pro", "basic"]},
        ],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    answer = infer(client, viewer, name, body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["model_name"] == name
    assert result["model_version"] == "1"
    assert result["id"] == "req-42"
    predict, proba = result["outputs"]
    assert predict["name"] == "predict"
    assert predict["shape"] == [3]
    assert predict["datatype"] == "INT64"
    assert proba["name"] == "predict_proba"
    assert proba["shape"] == [3, 2]
    assert proba["datatype"] == "FP64"
    assert len(proba["data"]) == 6
    assert math.isclose(sum(proba["data"][:2]), 1.0)
    assert len(result["parameters"]["prediction_ids"]) == 3

    # The same rows through REST predict answer the same.
    records = [{"age": 20.0, "plan": "basic"}, {"age": 50.0, "plan": "pro"}, {"age": 33.5, "plan": "basic"}]
    rest = client.post(
        f"{API}/deployments/{name}/predict", json={"inputs": records, "return_proba": True}, headers=viewer
    ).json()
    assert predict["data"] == rest["predictions"]
    assert proba["data"] == [p for row in rest["probabilities"] for p in row]


def test_only_predict_unless_probabilities_are_asked(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 60]},
            {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "pro"]},
        ]
    }
    plain = infer(client, viewer, served["strict"], body).json()
    assert [o["name"] for o in plain["outputs"]] == ["predict"]
    assert "id" not in plain
    asked = infer(client, viewer, served["strict"], {**body, "parameters": {"return_proba": True}}).json()
    assert [o["name"] for o in asked["outputs"]] == ["predict", "predict_proba"]


def test_one_matrix_tensor_in_signature_order(
    client: TestClient, viewer: dict[str, str], served: dict[str, str]
) -> None:
    name = served["numeric"]
    matrix = {"inputs": [{"name": "input-0", "shape": [3, 2], "datatype": "FP64", "data": [1, 9, 8, 2, 5, 5.5]}]}
    nested = {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP32", "data": [[1, 9], [8, 2], [5, 5.5]]}]}
    columns = {
        "inputs": [
            {"name": "x1", "shape": [3], "datatype": "FP64", "data": [1, 8, 5]},
            {"name": "x2", "shape": [3, 1], "datatype": "FP64", "data": [9, 2, 5.5]},
        ]
    }
    answers = [infer(client, viewer, name, body) for body in (matrix, nested, columns)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    outputs = [a.json()["outputs"][0]["data"] for a in answers]
    assert outputs[0] == outputs[1] == outputs[2] == [0, 1, 0]


def _tensor(name: str, datatype: str, data: list[Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "shape": shape if shape is not None else [len(data)], "datatype": datatype, "data": data}


AGE = _tensor("age", "FP64", [30.0])
PLAN = _tensor("plan", "BYTES", ["pro"])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"inputs": [AGE, _tensor("plan", "INT64", [3])]}, "datatype INT64 does not fit column 'plan'"),
        ({"inputs": [_tensor("age", "BYTES", ["30"]), PLAN]}, "datatype BYTES does not fit column 'age'"),
        ({"inputs": [AGE, _tensor("plan", "BYTES", ["pro", "basic"], [1])]}, "holds 1 values, data has 2"),
        ({"inputs": [AGE, _tensor("plan", "BYTES", [7])]}, "value 0 is not a BYTES"),
        ({"inputs": [_tensor("age", "INT8", [300]), PLAN]}, "value 0 is not a INT8"),
        ({"inputs": [_tensor("age", "FP128", [1.0]), PLAN]}, "datatype 'FP128'"),
        ({"inputs": [AGE]}, "missing 'plan'"),
        ({"inputs": [AGE, PLAN, _tensor("zip", "BYTES", ["1000"])]}, "'zip' is not in it"),
        ({"inputs": [AGE, _tensor("plan", "BYTES", ["pro", "pro"])]}, "different numbers of rows"),
        ({"inputs": [_tensor("m", "FP64", [1, 2, 3], [1, 3])]}, "signature has 2 columns"),
        ({"inputs": [AGE, PLAN], "outputs": [{"name": "scores"}]}, "outputs[0] must name"),
        ({"inputs": [AGE, PLAN], "parameters": {"return_proba": "yes"}}, "return_proba"),
        ({"inputs": [AGE, PLAN], "model": "x"}, "unknown field 'model'"),
        ({"inputs": []}, "non-empty list"),
        ([AGE], "JSON object"),
    ],
)
def test_requests_that_do_not_fit_are_400_with_error(
    client: TestClient, viewer: dict[str, str], served: dict[str, str], body: Any, words: str
) -> None:
    answer = infer(client, viewer, served["strict"], body)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert words in problem["error"]
    assert problem["error"] == problem["detail"]
    assert problem["code"] == "invalid_inference_request"


def test_not_json_row_limit_unknown_and_model_error(
    client: TestClient, viewer: dict[str, str], served: dict[str, str], settings: Settings
) -> None:
    name = served["strict"]
    garbled = client.post(
        f"/v2/models/{name}/infer", content=b"{inputs", headers={**viewer, "Content-Type": "application/json"}
    )
    assert garbled.status_code == 400
    assert "not JSON" in garbled.json()["error"]

    n = settings.serving_max_rows + 1
    big = {"inputs": [_tensor("age", "FP64", [1.0] * n), _tensor("plan", "BYTES", ["pro"] * n)]}
    too_many = infer(client, viewer, name, big)
    assert too_many.status_code == 413
    assert "rows" in too_many.json()["error"]

    missing = infer(client, viewer, new_name("nowhere"), {"inputs": [AGE, PLAN]})
    assert missing.status_code == 404
    assert missing.json()["code"] == "deployment_not_found"
    assert "error" in missing.json()
    unrouted = infer(client, viewer, name, {"inputs": [AGE, PLAN]}, version=9)
    assert unrouted.status_code == 404
    assert unrouted.json()["code"] == "model_version_not_found"
    assert client.get(f"/v2/models/{name}/versions/9/ready", headers=viewer).status_code == 404

    # The strict model raises on a plan it never saw: the protocol's error body, the server goes on.
    raised = infer(client, viewer, name, {"inputs": [AGE, _tensor("plan", "BYTES", ["gold"])]})
    assert raised.status_code == 422
    assert raised.json()["code"] == "model_error"
    assert raised.json()["error"]
    assert infer(client, viewer, name, {"inputs": [AGE, PLAN]}, version=1).status_code == 200

    anonymous = client.post(f"/v2/models/{name}/infer", json={"inputs": [AGE, PLAN]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]


def counted(client: TestClient, name: str, outcome: str) -> float:
    pattern = rf'shipyard_predictions_total\{{deployment="{name}",outcome="{outcome}",version="1"\}} (\S+)'
    found = re.search(pattern, client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def test_v2_predictions_are_counted(client: TestClient, viewer: dict[str, str], served: dict[str, str]) -> None:
    name = served["numeric"]
    before = counted(client, name, "ok"), counted(client, name, "invalid_input")
    for _ in range(2):
        assert infer(client, viewer, name, {"inputs": [_tensor("m", "FP64", [1, 2], [1, 2])]}).status_code == 200
    assert infer(client, viewer, name, {"inputs": [_tensor("m", "FP64", [1, 2, 3], [1, 3])]}).status_code == 400
    assert counted(client, name, "ok") == before[0] + 2
    assert counted(client, name, "invalid_input") == before[1] + 1


def test_rest_rows_still_answer(client: TestClient, viewer: dict[str, str], served: dict[str, str]) -> None:
    # The REST route is untouched by the V2 one on the same deployment.
    answer = client.post(f"{API}/deployments/{served['strict']}/predict", json={"inputs": rows(2)}, headers=viewer)
    assert answer.status_code == 200
