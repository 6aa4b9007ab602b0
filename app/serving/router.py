"""The predict endpoint: the hot path, answered from this process's memory."""

import json
from typing import Annotated

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
from app.serving import service
from app.serving.schemas import PREDICT_REQUEST_SCHEMA, PredictResponse
from app.serving.state import ROUTE_KEY_HEADER

router = APIRouter(prefix=API_PREFIX, tags=["serving"])


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
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PredictionInputInvalid("the body is not JSON") from exc
    # A/B rollouts route the same key to the same variant on every replica.
    route_key = request.headers.get(ROUTE_KEY_HEADER)
    answer = await run_in_threadpool(
        service.predict,
        serving,
        metrics,
        name,
        body,
        max_rows=settings.serving_max_rows,
        log=log,
        batcher=batcher,
        route_key=route_key,
    )
    return JSONResponse(answer)
