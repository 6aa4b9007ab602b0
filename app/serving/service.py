"""The predict use case: route table and model from this process's memory, the payload checked
against the version's signature, the answer with a prediction id per row. No database query."""

import time
from collections.abc import Callable, Sequence
from typing import Any

from app.errors import AppError, DeploymentNotFound, ModelError, ModelVersionNotFound, ServiceUnavailable, WarmupFailed
from app.names import fold_name
from app.predictions import ids
from app.predictions.log import PredictionLog
from app.serving.batching import MicroBatcher, predict_rows
from app.serving.metrics import ServingMetrics
from app.serving.payload import Batch, Column, parse_request
from app.serving.shadow import ShadowCopy
from app.serving.state import Route, RouteTable, ServingState
from app.serving.stats import StatsKey

# Turns a request body into a Batch for a signature, within a row limit (REST: parse_request; V2: app.serving.v2).
Parser = Callable[[Any, Sequence[Column], int], Batch]


def served_table(state: ServingState, name: str) -> RouteTable:
    """The route table this process holds for the deployment `name` (any case)."""
    table = state.table(fold_name(name))
    if table is None:
        raise DeploymentNotFound(f"no deployment named {name!r} is served here")
    return table


def predict(
    state: ServingState,
    metrics: ServingMetrics,
    table: RouteTable,
    body: Any,
    *,
    max_rows: int,
    log: PredictionLog | None = None,
    batcher: MicroBatcher | None = None,
    parse: Parser = parse_request,
    pin: int | None = None,
    route_key: str | None = None,
) -> dict[str, Any]:
    """Predict with the deployment of `table` (from `served_table`). `pin` pins one of its routed
    versions instead of the weighted pick; `route_key` sends the same key to the same version of a
    split (A/B rollouts)."""
    started = time.perf_counter()
    name = table.deployment
    route = table.pick(route_key) if pin is None else pinned_route(table, pin)
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
        batch = parse(body, loaded.signature, max_rows)
        predictions, probabilities = predict_rows(batcher, table.deployment, table.batching, loaded, batch)
    except ModelError:
        seconds = time.perf_counter() - started
        metrics.observe(table.deployment, version, "model_error", seconds)
        state.stats.record(_stats_key(table, route), error=True, seconds=seconds)
        raise
    except AppError:
        metrics.observe(table.deployment, version, "invalid_input", None)
        raise
    base = ids.new_base()
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
    if log is not None:
        log.record(table, route, batch, base, predictions, probabilities, seconds)
    metrics.observe(table.deployment, version, "ok", seconds)
    state.stats.record(_stats_key(table, route), error=False, seconds=seconds)
    for shadow in table.shadows:
        # Queued for a background thread, after this answer is complete: never on its path.
        count = metrics.shadow_count
        state.shadow.submit(
            ShadowCopy(table.deployment, _stats_key(table, shadow), shadow, body, max_rows, predictions, count, parse)
        )
    return answer


def pinned_route(table: RouteTable, version: int) -> Route:
    route = table.route_for(version)
    if route is None:
        raise ModelVersionNotFound(f"deployment {table.deployment!r} does not route to version {version}")
    return route


def _stats_key(table: RouteTable, route: Route) -> StatsKey:
    return (table.folded_name, table.revision, route.model, route.version)
