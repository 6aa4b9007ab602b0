"""The Open Inference Protocol (KServe V2) REST routes on the deployments: server and model
metadata, model readiness and infer, also per version. Health is in app.ops.router."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.deployments.schemas import DeploymentName, VersionNumber
from app.deps import BatcherDep, PredictionLogDep, Predictor, ServingDep, ServingMetricsDep, SettingsDep
from app.errors import (
    DeploymentNotFound,
    InferenceRequestInvalid,
    ModelError,
    ModelVersionNotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    error_responses,
)
from app.serving import service, v2
from app.serving.schemas import V2_INFER_REQUEST_SCHEMA, V2InferResponse, V2ModelMetadata, V2ModelReady, V2Server
from app.serving.state import ROUTE_KEY_HEADER

router = APIRouter(prefix="/v2", tags=["open inference protocol"])
NamePath = Annotated[DeploymentName, Path(description="A deployment's name (the V2 model name).")]
VersionPath = Annotated[VersionNumber, Path(description="A model version the deployment routes to.")]
_INFER_ERRORS = error_responses(
    DeploymentNotFound, ModelVersionNotFound, InferenceRequestInvalid, ModelError, PayloadTooLarge, ServiceUnavailable
)
_INFER_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": V2_INFER_REQUEST_SCHEMA}}}}


@router.get(
    "", summary="Server metadata (Open Inference Protocol)", response_model=V2Server, responses=error_responses()
)
def server_metadata(_: Predictor) -> V2Server:
    return V2Server(name="shipyard", version="0.1.0", extensions=[])


@router.get(
    "/models/{name}",
    summary="Model metadata (Open Inference Protocol)",
    response_model=V2ModelMetadata,
    responses=error_responses(DeploymentNotFound, ModelVersionNotFound, ServiceUnavailable),
)
async def model_metadata(name: NamePath, serving: ServingDep, _: Predictor) -> dict[str, Any]:
    """The deployment's answering versions and the inputs and outputs of its signature."""
    return await run_in_threadpool(v2.model_metadata, serving, name, None)


@router.get(
    "/models/{name}/versions/{version}",
    summary="Model version metadata (Open Inference Protocol)",
    response_model=V2ModelMetadata,
    responses=error_responses(DeploymentNotFound, ModelVersionNotFound, ServiceUnavailable),
)
async def version_metadata(name: NamePath, version: VersionPath, serving: ServingDep, _: Predictor) -> dict[str, Any]:
    return await run_in_threadpool(v2.model_metadata, serving, name, version)


def _ready(serving: Any, name: str, version: int | None) -> JSONResponse:
    ready = v2.model_ready(serving, name, version)
    # The protocol's answer is the status: 200 ready, else not (503, as KServe says it).
    return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)


@router.get(
    "/models/{name}/ready",
    summary="Model readiness (Open Inference Protocol)",
    response_model=V2ModelReady,
    responses={**error_responses(DeploymentNotFound), 503: {"model": V2ModelReady, "description": "Not ready"}},
)
def model_ready(name: NamePath, serving: ServingDep, _: Predictor) -> JSONResponse:
    return _ready(serving, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="Model version readiness (Open Inference Protocol)",
    response_model=V2ModelReady,
    responses={
        **error_responses(DeploymentNotFound, ModelVersionNotFound),
        503: {"model": V2ModelReady, "description": "Not ready"},
    },
)
def version_ready(name: NamePath, version: VersionPath, serving: ServingDep, _: Predictor) -> JSONResponse:
    return _ready(serving, name, version)


async def _infer(
    request: Request,
    name: str,
    version: int | None,
    serving: Any,
    metrics: Any,
    settings: Any,
    batcher: Any,
    log: Any,
) -> JSONResponse:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InferenceRequestInvalid("the body is not JSON") from exc
    max_rows = settings.serving_max_rows
    # An unknown deployment or version is a 404 whatever the body holds.
    table = v2.check_served(serving, name, version)
    parsed = v2.parse_infer_request(body, max_rows)
    answer = await run_in_threadpool(
        service.predict,
        serving,
        metrics,
        table,
        parsed,
        max_rows=max_rows,
        log=log,
        batcher=batcher,
        parse=v2.to_batch,
        pin=version,
        route_key=request.headers.get(ROUTE_KEY_HEADER),
    )
    return JSONResponse(v2.infer_response(answer, parsed))


@router.post(
    "/models/{name}/infer",
    summary="Infer (Open Inference Protocol)",
    response_model=V2InferResponse,
    responses=_INFER_ERRORS,
    openapi_extra=_INFER_BODY,
)
async def infer(
    name: NamePath,
    request: Request,
    serving: ServingDep,
    metrics: ServingMetricsDep,
    settings: SettingsDep,
    batcher: BatcherDep,
    log: PredictionLogDep,
    _: Predictor,
) -> JSONResponse:
    """Predict on the tensors of a V2 infer request: one per signature column ([N] or [N, 1]),
    or one [N, F] tensor in signature order. Outputs `predict`, and `predict_proba` when asked
    (in `outputs`, or `parameters.return_proba`). 400 with `error` when the request does not fit."""
    return await _infer(request, name, None, serving, metrics, settings, batcher, log)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Infer with a model version (Open Inference Protocol)",
    response_model=V2InferResponse,
    responses=_INFER_ERRORS,
    openapi_extra=_INFER_BODY,
)
async def version_infer(
    name: NamePath,
    version: VersionPath,
    request: Request,
    serving: ServingDep,
    metrics: ServingMetricsDep,
    settings: SettingsDep,
    batcher: BatcherDep,
    log: PredictionLogDep,
    _: Predictor,
) -> JSONResponse:
    """As infer, answered by this version of the deployment's routes, whatever its weight."""
    return await _infer(request, name, version, serving, metrics, settings, batcher, log)
