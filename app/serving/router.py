"""The predict endpoint: the hot path, answered from this process's memory."""

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.deployments.schemas import DeploymentName
from app.deps import (
    API_PREFIX,
    BatcherDep,
    PredictionLogDep,
    Predictor,
    ServingDep,
    ServingMetricsDep,
    SettingsDep,
)
from app.errors import (
    DeploymentNotFound,
    ModelError,
    PayloadTooLarge,
    PredictionInputInvalid,
    ServiceUnavailable,
    error_responses,
)
from app.middleware import parsed_json_body
from app.serving import service
from app.serving.pace import Pace
from app.serving.schemas import PREDICT_REQUEST_SCHEMA, PredictResponse
from app.serving.state import ROUTE_KEY_HEADER, RouteTable, ServingState

router = APIRouter(prefix=API_PREFIX, tags=["serving"])
_pace = Pace()


@router.post(
    "/deployments/{name}/predict",
    summary="Predict with a deployment",
    response_model=PredictResponse,
    responses=error_responses(
        DeploymentNotFound, PredictionInputInvalid, ModelError, PayloadTooLarge, ServiceUnavailable
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": PREDICT_REQUEST_SCHEMA}}}
    },
)
async def predict(
    name: Annotated[DeploymentName, Path(description="A deployment's name.")],
    request: Request,
    serving: ServingDep,
    metrics: ServingMetricsDep,
    settings: SettingsDep,
    log: PredictionLogDep,
    batcher: BatcherDep,
    _: Predictor,
) -> JSONResponse:
    """Predict the rows of `inputs` (records or columns) or `dataframe_split`, checked against the
    version's signature (422 `invalid_prediction_input` naming the column); 422 `model_error` when
    the model raises on them. A viewer may predict, and a predict-only token naming the deployment.
    With an `X-Shipyard-Route-Key` header, the same key always reaches the same version of a split
    (A/B rollouts)."""
    raw = await request.body()
    # The edge has parsed the body already (checking for duplicate keys): taken from there, not parsed twice.
    body = parsed_json_body(request.scope)
    if body is None:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise PredictionInputInvalid("the body is not JSON") from exc
    # Looked up once: the table this request is answered from, whatever a route change does meanwhile.
    table = service.served_table(serving, name)
    max_rows = settings.serving_max_rows
    # A/B rollouts route the same key to the same variant on every replica.
    route_key = request.headers.get(ROUTE_KEY_HEADER)

    def timed() -> dict[str, Any]:
        # CPU time, not wall time: in the pool under load a predict also waits for the GIL, which
        # would keep a quick model off the loop for good.
        started = time.thread_time()
        try:
            return service.predict(
                serving, metrics, table, body, max_rows=max_rows, log=log, batcher=batcher, route_key=route_key
            )
        finally:
            _pace.record(table.folded_name, time.thread_time() - started)

    if _pace.inline(table.folded_name, len(raw)) and _models_in_memory(serving, table):
        answer = timed()
    else:
        answer = await run_in_threadpool(timed)
    return JSONResponse(answer)


def _models_in_memory(serving: ServingState, table: RouteTable) -> bool:
    """Whether every version the deployment routes to is loaded: one pushed out of the cache is
    fetched from the store and warmed again, which must not happen on the loop. A batching
    deployment waits for its batch, which must not happen on the loop either."""
    return table.batching is None and all(route.key in serving.cache for route in table.routes)
