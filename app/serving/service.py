"""The predict use case: route table and model from this process's memory, the payload checked
against the version's signature, the answer with a prediction id per row. No database query."""

import time
import uuid
from typing import Any

from app.errors import AppError, DeploymentNotFound, ModelError, ServiceUnavailable, WarmupFailed
from app.names import fold_name
from app.serving.metrics import ServingMetrics
from app.serving.payload import parse_request
from app.serving.shadow import ShadowCopy
from app.serving.state import Route, RouteTable, ServingState
from app.serving.stats import StatsKey


def predict(
    state: ServingState,
    metrics: ServingMetrics,
    name: str,
    body: Any,
    *,
    max_rows: int,
    route_key: str | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    table = state.table(fold_name(name))
    if table is None:
        raise DeploymentNotFound(f"no deployment named {name!r} is served here")
    route = table.pick(route_key)
    if route is None:
        raise ServiceUnavailable(f"deployment {name!r} has no route taking traffic")
    version = str(route.version)
    try:
        loaded = state.model(route)
    except WarmupFailed as exc:
        # Pushed out of the cache and now failing to load (its stored files changed): nothing the
        # client can fix, and the deployment is still what an operator routed.
        metrics.observe(table.deployment, version, "unavailable", None)
        state.stats.record(_stats_key(table, route), error=True, seconds=None)
        raise ServiceUnavailable(f"deployment {name!r} cannot load its version now: {exc.detail}") from exc
    try:
        batch = parse_request(body, loaded.signature, max_rows)
        predictions, probabilities = loaded.predict(batch)
    except ModelError:
        seconds = time.perf_counter() - started
        metrics.observe(table.deployment, version, "model_error", seconds)
        state.stats.record(_stats_key(table, route), error=True, seconds=seconds)
        raise
    except AppError:
        metrics.observe(table.deployment, version, "invalid_input", None)
        raise
    base = uuid.uuid4().hex
    answer: dict[str, Any] = {
        "predictions": predictions,
        "model": route.model,
        "version": route.version,
        "deployment": table.deployment,
        "revision": table.revision,
        "prediction_ids": [f"{base}-{i}" for i in range(batch.rows)],
    }
    if probabilities is not None:
        answer["probabilities"] = probabilities
    seconds = time.perf_counter() - started
    metrics.observe(table.deployment, version, "ok", seconds)
    state.stats.record(_stats_key(table, route), error=False, seconds=seconds)
    for shadow in table.shadows:
        # Queued for a background thread, after this answer is complete: never on its path.
        count = metrics.shadow_count
        state.shadow.submit(
            ShadowCopy(table.deployment, _stats_key(table, shadow), shadow, body, max_rows, predictions, count)
        )
    return answer


def _stats_key(table: RouteTable, route: Route) -> StatsKey:
    return (table.folded_name, table.revision, route.model, route.version)
