"""Bad input reads as one human sentence per error, with a suggestion for a typo, and never
pydantic's dump or its URLs; the machine-readable `errors` list keeps each `loc`."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

ID_WORDS = "an id of 32 lowercase hex characters, as the server gave it"
NAME_WORDS = "a name of 1 to 128 letters, digits, `_`, `.` or `-` that starts with a letter or digit"


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "pydantic" not in response.text
    problem: dict[str, Any] = response.json()
    for error in problem.get("errors", []):
        assert set(error) == {"loc", "msg", "type"}, error
    return problem


def test_a_field_typo_is_one_sentence_with_a_suggestion(client: TestClient, editor: dict[str, str]) -> None:
    problem = refused(client.post("/api/v1/experiments", json={"nam": "x"}, headers=editor))
    assert problem["detail"] == "field `name` is required; field `nam` is not a known field; did you mean `name`?"
    assert [error["loc"] for error in problem["errors"]] == [["body", "name"], ["body", "nam"]]

    nested = refused(client.post("/api/v1/runs/search", json={"experiment_ids": [1], "order_bi": []}, headers=editor))
    assert nested["detail"] == "field `order_bi` is not a known field; did you mean `order_by`?"


def test_a_typo_inside_a_list_item_suggests_the_item_field(client: TestClient, editor: dict[str, str]) -> None:
    body = {"params": [{"key": "lr", "valeu": "0.1"}]}
    problem = refused(client.post(f"/api/v1/runs/{'0' * 32}/log-batch", json=body, headers=editor))
    assert problem["detail"] == (
        "field `params.0.value` is required; field `params.0.valeu` is not a known field; did you mean `value`?"
    )


def test_an_unknown_choice_suggests_the_closest_one(client: TestClient, editor: dict[str, str]) -> None:
    problem = refused(client.post("/api/v1/jobs", json={"type": "trian", "spec": {}}, headers=editor))
    assert problem["detail"] == "field `type`: unknown value 'trian'; did you mean 'train'?"


@pytest.mark.parametrize(
    ("spec", "detail", "field"),
    [
        (
            {"dataset": "d@1", "target": "y", "estimater": "random_forest"},
            "field `estimator` is required; field `estimater` is not a known field; did you mean `estimator`?",
            "estimator",
        ),
        (
            {"dataset": "d@1", "target": "y", "estimator": "ridge", "split": {"test_sise": 0.3}},
            "field `split.test_sise` is not a known field; did you mean `test_size`?",
            "split.test_sise",
        ),
        (
            {"dataset": "d@1", "target": "y", "estimator": "ridge", "search": {"kind": "grdi", "space": {"a": [1]}}},
            "field `search.kind`: unknown value 'grdi'; did you mean 'grid'?",
            "search.kind",
        ),
    ],
)
def test_a_train_spec_typo_is_one_sentence(
    client: TestClient, editor: dict[str, str], spec: dict[str, Any], detail: str, field: str
) -> None:
    problem = refused(client.post("/api/v1/jobs", json={"type": "train", "spec": spec}, headers=editor), 400)
    assert problem["code"] == "invalid_spec"
    assert problem["detail"] == detail
    assert problem["field"] == field
    assert client.get("/api/v1/jobs", headers=editor).status_code == 200


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/jobs/not-a-job", f"path parameter `job_id` must be {ID_WORDS}; got 'not-a-job'"),
        ("/api/v1/runs/XYZ", f"path parameter `run_id` must be {ID_WORDS}; got 'XYZ'"),
        (
            "/api/v1/experiments/abc",
            "path parameter `experiment_id` must be an experiment id (a whole number from 1); got 'abc'",
        ),
        (
            "/api/v1/experiments/0",
            "path parameter `experiment_id` must be an experiment id (a whole number from 1); got '0'",
        ),
        ("/api/v1/models/bad%20name!", f"path parameter `name` must be {NAME_WORDS}; got 'bad name!'"),
        ("/api/v1/datasets/-dash", f"path parameter `name` must be {NAME_WORDS}; got '-dash'"),
    ],
)
def test_a_malformed_id_or_name_in_the_path_is_one_sentence(
    client: TestClient, viewer: dict[str, str], path: str, detail: str
) -> None:
    assert refused(client.get(path, headers=viewer))["detail"] == detail


def test_a_malformed_name_in_a_body_is_the_same_sentence(client: TestClient, editor: dict[str, str]) -> None:
    problem = refused(client.post("/api/v1/models", json={"name": "bad name"}, headers=editor))
    assert problem["detail"] == f"field `name` must be {NAME_WORDS}; got 'bad name'"


def test_many_errors_name_the_first_and_count_the_rest(client: TestClient, editor: dict[str, str]) -> None:
    body = {"params": [{"key": 1, "value": 2}] * 3}
    problem = refused(client.post(f"/api/v1/runs/{'0' * 32}/log-batch", json=body, headers=editor))
    assert len(problem["errors"]) == 6
    assert problem["detail"].endswith("(and 3 more in `errors`)")
    assert problem["detail"].count("field `params.") == 3


def test_invalid_json_says_so(client: TestClient, editor: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/experiments", content=b'{"name": ', headers={**editor, "Content-Type": "application/json"}
    )
    problem = refused(response)
    assert problem["detail"].startswith("the body is not valid JSON")
    json.dumps(problem)
