"""Small typed factories over the HTTP API."""

import uuid
from typing import Any

from fastapi.testclient import TestClient


def make_experiment(
    client: TestClient, headers: dict[str, str], name: str | None = None, **fields: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/experiments", json={"name": name or f"exp-{uuid.uuid4().hex[:10]}", **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def make_run(
    client: TestClient, headers: dict[str, str], experiment_id: int | None = None, **fields: Any
) -> dict[str, Any]:
    if experiment_id is None:
        experiment_id = make_experiment(client, headers)["id"]
    response = client.post(f"/api/v1/experiments/{experiment_id}/runs", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def log_batch(client: TestClient, headers: dict[str, str], run_id: str, **batch: Any) -> None:
    response = client.post(f"/api/v1/runs/{run_id}/log-batch", json=batch, headers=headers)
    assert response.status_code == 204, response.text
