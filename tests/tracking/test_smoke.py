"""Quick end-to-end check of the tracking API on both backends."""

from fastapi.testclient import TestClient

from tests.factories import log_batch, make_run


def test_log_and_read_back(client: TestClient, editor: dict[str, str]) -> None:
    run = make_run(client, editor)
    log_batch(
        client,
        editor,
        run["id"],
        metrics=[{"key": "acc", "value": 0.9, "step": 1}],
        params=[{"key": "m", "value": "rf"}],
    )
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert got["metrics"] == {"acc": 0.9}
    assert got["params"] == {"m": "rf"}
