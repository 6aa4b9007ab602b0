"""HTTP endpoints for experiments, runs, logging, search and run artifacts."""

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic_core import to_json
from starlette.convertors import StringConvertor, register_url_convertor

from app.deps import API_PREFIX, Editor, SessionDep, SettingsDep, StoreDep, Viewer, in_transaction
from app.errors import (
    ArtifactExists,
    ArtifactNotFound,
    DigestMismatch,
    ExperimentConflict,
    ExperimentNotFound,
    InvalidFilter,
    InvalidInput,
    InvalidPath,
    InvalidState,
    LimitExceeded,
    MetricNotFound,
    ParamConflict,
    PayloadTooLarge,
    RunNotFound,
    StorageUnavailable,
    error_responses,
)
from app.storage.upload import parse_content_digest, spool_upload
from app.tracking import artifacts, service
from app.tracking.schemas import (
    ArtifactList,
    ArtifactStored,
    ExperimentCreate,
    ExperimentList,
    ExperimentRead,
    ExperimentUpdate,
    LogBatch,
    MetricHistory,
    RunCreate,
    RunList,
    RunRead,
    RunSearch,
    RunUpdate,
)


class _RunIdSegment(StringConvertor):
    """Any segment but `search`: /runs/search is the search resource, so a GET or PATCH of it is a 405,
    not a 422 for a malformed run id. Other malformed ids still reach the route's 422."""

    regex = "(?!search$)[^/]+"


register_url_convertor("run_id", _RunIdSegment())
router = APIRouter(prefix=API_PREFIX)
RunIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A run id (32 hex characters).")]
# Ids are 32-bit columns: a larger number would fail in PostgreSQL instead of being a 404.
ExperimentIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="An experiment id (a whole number from 1).")]


@router.post(
    "/experiments",
    summary="Create an experiment",
    tags=["experiments"],
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentRead,
    responses=error_responses(ExperimentConflict),
)
def create_experiment(body: ExperimentCreate, session: SessionDep, actor: Editor) -> ExperimentRead:
    return ExperimentRead.model_validate(service.create_experiment(session, actor, body))


@router.get(
    "/experiments",
    summary="List experiments",
    tags=["experiments"],
    response_model=ExperimentList,
    responses=error_responses(InvalidInput),
)
def list_experiments(
    session: SessionDep,
    _: Viewer,
    name: Annotated[str | None, Query(max_length=256, description="Exact name.")] = None,
    lifecycle_stage: Literal["active", "archived", "all"] = "active",
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ExperimentList:
    experiments, next_token = service.list_experiments(
        session, name=name, lifecycle_stage=lifecycle_stage, page_token=page_token, max_results=max_results
    )
    return ExperimentList(
        experiments=[ExperimentRead.model_validate(e) for e in experiments], next_page_token=next_token
    )


@router.get(
    "/experiments/{experiment_id}",
    summary="Get an experiment",
    tags=["experiments"],
    response_model=ExperimentRead,
    responses=error_responses(ExperimentNotFound),
)
def get_experiment(experiment_id: ExperimentIdPath, session: SessionDep, _: Viewer) -> ExperimentRead:
    return ExperimentRead.model_validate(service.get_experiment(session, experiment_id))


@router.patch(
    "/experiments/{experiment_id}",
    summary="Update an experiment",
    tags=["experiments"],
    response_model=ExperimentRead,
    responses=error_responses(ExperimentNotFound, ExperimentConflict),
)
def update_experiment(
    experiment_id: ExperimentIdPath, body: ExperimentUpdate, session: SessionDep, actor: Editor
) -> ExperimentRead:
    return ExperimentRead.model_validate(service.update_experiment(session, actor, experiment_id, body))


@router.delete(
    "/experiments/{experiment_id}",
    summary="Archive an experiment",
    tags=["experiments"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ExperimentNotFound),
)
def archive_experiment(experiment_id: ExperimentIdPath, session: SessionDep, actor: Editor) -> None:
    """Archive the experiment (its runs are kept); PATCH lifecycle_stage=active restores it."""
    service.archive_experiment(session, actor, experiment_id)


@router.post(
    "/experiments/{experiment_id}/runs",
    summary="Start a run",
    tags=["runs"],
    status_code=status.HTTP_201_CREATED,
    response_model=RunRead,
    responses=error_responses(ExperimentNotFound, RunNotFound, InvalidState, LimitExceeded),
)
async def create_run(experiment_id: ExperimentIdPath, body: RunCreate, request: Request, actor: Editor) -> RunRead:
    """Start a run, with its first params, tags and metric points if given, all or nothing."""
    return await in_transaction(request, service.create_run, actor, experiment_id, body)


@router.post(
    "/runs/search",
    summary="Search runs",
    tags=["runs"],
    response_model=RunList,
    responses=error_responses(InvalidFilter, InvalidInput),
)
def search_runs(body: RunSearch, session: SessionDep, _: Viewer) -> RunList:
    runs, next_token = service.search_runs(session, body)
    return RunList(runs=runs, next_page_token=next_token)


@router.get(
    "/runs/{run_id:run_id}",
    summary="Get a run",
    tags=["runs"],
    response_model=RunRead,
    responses=error_responses(RunNotFound),
)
def get_run(run_id: RunIdPath, session: SessionDep, _: Viewer) -> RunRead:
    return service.get_run(session, run_id)


@router.patch(
    "/runs/{run_id:run_id}",
    summary="Update or end a run",
    tags=["runs"],
    response_model=RunRead,
    responses=error_responses(RunNotFound, InvalidInput),
)
def update_run(run_id: RunIdPath, body: RunUpdate, session: SessionDep, actor: Editor) -> RunRead:
    return service.update_run(session, actor, run_id, body)


@router.post(
    "/runs/{run_id}/log-batch",
    summary="Log metrics, params and tags",
    tags=["runs"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RunNotFound, LimitExceeded, ParamConflict, InvalidState),
)
async def log_batch(run_id: RunIdPath, body: LogBatch, request: Request, actor: Editor) -> None:
    """Log up to 1,000 metrics, 100 params and 100 tags at once, all or nothing."""
    await in_transaction(request, service.log_batch, actor, run_id, body)


@router.get(
    "/runs/{run_id}/metrics/{key:path}",
    summary="Get a metric's history",
    tags=["runs"],
    response_model=MetricHistory,
    responses=error_responses(RunNotFound, MetricNotFound),
)
def get_metric_history(
    run_id: RunIdPath,
    key: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-. /:]{1,250}$", description="A metric key.")],
    session: SessionDep,
    _: Viewer,
    max_points: Annotated[
        int | None, Query(ge=1, le=100_000, description="Thin the history to this many points.")
    ] = None,
) -> Response:
    points, downsampled = service.metric_history(session, run_id, key, max_points)
    # Serialised straight to JSON: a 10k-point history through pydantic models costs 10x more.
    body = {
        "key": key,
        "points": [{"step": step, "value": value, "timestamp": stamp} for step, value, stamp in points],
        "downsampled": downsampled,
    }
    # NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity", like MetricValueOut.
    return Response(to_json(body, inf_nan_mode="strings"), media_type="application/json")


@router.get(
    "/runs/{run_id}/artifacts",
    summary="List a run's artifacts",
    tags=["artifacts"],
    response_model=ArtifactList,
    responses=error_responses(RunNotFound, InvalidPath),
)
def list_artifacts(
    run_id: RunIdPath,
    session: SessionDep,
    store: StoreDep,
    _: Viewer,
    path: Annotated[str | None, Query(max_length=1024, description="A folder inside the run's artifacts.")] = None,
) -> ArtifactList:
    return artifacts.list_artifacts(session, store, run_id, path)


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    summary="Upload an artifact",
    tags=["artifacts"],
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactStored,
    responses=error_responses(
        RunNotFound, InvalidPath, InvalidInput, DigestMismatch, ArtifactExists, PayloadTooLarge, StorageUnavailable
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_artifact(
    run_id: RunIdPath,
    path: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: Editor,
    if_none_match: Annotated[
        str | None, Header(max_length=64, description="`*`: refuse (412) when the artifact exists.")
    ] = None,
    content_digest: Annotated[
        str | None, Header(max_length=1024, description="`sha-256=:<base64>:` (RFC 9530): refused (400) on mismatch.")
    ] = None,
) -> ArtifactStored:
    """Store the raw request body as the artifact at `path`, streamed, replacing any earlier one
    (unless `If-None-Match: *`); a declared Content-Digest is checked before anything is stored."""
    declared = parse_content_digest([content_digest] if content_digest is not None else [])
    if_absent = artifacts.parse_if_none_match(if_none_match)
    # A bad path or an existing artifact is refused before a byte of the body is read.
    await run_in_threadpool(artifacts.check_writable, store, run_id, path, if_absent=if_absent)
    # The body is read before the database is touched: on SQLite a writer holds the write lock
    # from its first statement, and a slow upload must not hold it.
    with await spool_upload(request.stream(), settings.max_upload_bytes, declared) as upload:
        return await run_in_threadpool(
            lambda: artifacts.store_artifact(session, store, actor, run_id, path, upload, if_absent=if_absent)
        )


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    summary="Download an artifact",
    tags=["artifacts"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **error_responses(RunNotFound, ArtifactNotFound, InvalidPath),
    },
)
def download_artifact(
    run_id: RunIdPath, path: str, session: SessionDep, store: StoreDep, _: Viewer
) -> StreamingResponse:
    chunks, size = artifacts.open_artifact(session, store, run_id, path)
    filename = path.rsplit("/", 1)[-1]
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
        },
    )
