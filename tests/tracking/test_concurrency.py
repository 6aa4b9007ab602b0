"""Eight clients logging to one run at once over real HTTP lose no point."""

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

from tests.factories import make_run

CLIENTS = 8
BATCHES_PER_CLIENT = 10
POINTS_PER_BATCH = 200


def test_concurrent_writers_lose_no_point(client: TestClient, editor: dict[str, str], live_url: str) -> None:
    run = make_run(client, editor)

    def writer(worker: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=live_url, headers=editor, timeout=60) as http:
            for batch in range(BATCHES_PER_CLIENT):
                first = (worker * BATCHES_PER_CLIENT + batch) * POINTS_PER_BATCH
                metrics = [
                    {"key": "shared", "value": float(step), "step": step}
                    for step in range(first, first + POINTS_PER_BATCH)
                ]
                metrics.append({"key": f"own-{worker}", "value": float(batch), "step": batch})
                response = http.post(
                    f"/api/v1/runs/{run['id']}/log-batch",
                    json={"metrics": metrics, "tags": [{"key": "last-writer", "value": str(worker)}]},
                )
                statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [status for result in pool.map(writer, range(CLIENTS)) for status in result]
    assert statuses == [204] * (CLIENTS * BATCHES_PER_CLIENT)

    history = client.get(f"/api/v1/runs/{run['id']}/metrics/shared", headers=editor).json()["points"]
    total = CLIENTS * BATCHES_PER_CLIENT * POINTS_PER_BATCH
    assert [p["step"] for p in history] == list(range(total))
    got = client.get(f"/api/v1/runs/{run['id']}", headers=editor).json()
    assert got["metrics"]["shared"] == float(total - 1)
    assert all(got["metrics"][f"own-{w}"] == BATCHES_PER_CLIENT - 1 for w in range(CLIENTS))
