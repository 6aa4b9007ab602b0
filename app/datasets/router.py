"""HTTP endpoints for datasets, their versions, and run lineage links."""

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from app.datasets import service
from app.datasets.schemas import (
    DatasetCreate,
    DatasetList,
    DatasetName,
    DatasetRead,
    DatasetVersionList,
    DatasetVersionRead,
    RunDatasetLink,
    RunDatasetRead,
)
from app.deps import API_PREFIX, Editor, SessionDep, SettingsDep, StoreDep, Viewer
from app.errors import (
    DatasetConflict,
    DatasetNotFound,
    DigestMismatch,
    InvalidInput,
    PayloadTooLarge,
    RunNotFound,
    StorageUnavailable,
    UnsupportedMediaType,
    error_responses,
)
from app.storage.upload import parse_content_digest, save_upload

router = APIRouter(prefix=API_PREFIX, tags=["datasets"])
NamePath = Annotated[DatasetName, PathParam(description="A dataset's name.")]
RefPath = Annotated[str, PathParam(pattern=r"^(latest|[0-9]{1,9})$", description="A version number or `latest`.")]
_FORMATS = {"text/csv": "csv", "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet"}


@router.post(
    "/datasets",
    summary="Create a dataset",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetRead,
    responses=error_responses(DatasetConflict),
)
def create_dataset(body: DatasetCreate, session: SessionDep, actor: Editor) -> DatasetRead:
    return service.create_dataset(session, actor, body)


@router.get("/datasets", summary="List datasets", response_model=DatasetList, responses=error_responses(InvalidInput))
def list_datasets(
    session: SessionDep,
    _: Viewer,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DatasetList:
    datasets, next_token = service.list_datasets(session, page_token, max_results)
    return DatasetList(datasets=datasets, next_page_token=next_token)


@router.get(
    "/datasets/{name}", summary="Get a dataset", response_model=DatasetRead, responses=error_responses(DatasetNotFound)
)
def get_dataset(name: NamePath, session: SessionDep, _: Viewer) -> DatasetRead:
    return service.get_dataset(session, name)


@router.post(
    "/datasets/{name}/versions",
    summary="Upload a dataset version",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetVersionRead,
    responses={
        200: {"model": DatasetVersionRead, "description": "The same bytes were uploaded before: that version."},
        **error_responses(InvalidInput, PayloadTooLarge, UnsupportedMediaType, DigestMismatch, StorageUnavailable),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload_version(
    name: NamePath,
    request: Request,
    response: Response,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: Editor,
    format: Annotated[Literal["csv", "parquet"] | None, Query(description="Overrides the Content-Type.")] = None,
    content_digest: Annotated[
        str | None, Header(max_length=1024, description="`sha-256=:<base64>:` (RFC 9530): 400 on mismatch.")
    ] = None,
) -> DatasetVersionRead:
    """Upload CSV or Parquet as the next version (streamed to disk, converted to Parquet in
    chunks, profiled). The dataset is created on its first upload."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = format or _FORMATS.get(media)
    if fmt is None:
        raise UnsupportedMediaType(
            f"send text/csv or application/vnd.apache.parquet (or ?format=), not {media or 'nothing'}"
        )
    declared = parse_content_digest([content_digest] if content_digest is not None else [])
    with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as tmp:
        source = Path(tmp) / f"upload.{fmt}"
        size, sha256 = await save_upload(request.stream(), settings.max_upload_bytes, source, declared)
        if size == 0:
            raise InvalidInput("the upload is empty")
        version, created = await run_in_threadpool(
            lambda: service.upload_version(session, store, actor, name, source, fmt=fmt, size=size, sha256=sha256)
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return version


@router.get(
    "/datasets/{name}/versions",
    summary="List a dataset's versions",
    response_model=DatasetVersionList,
    responses=error_responses(DatasetNotFound),
)
def list_versions(name: NamePath, session: SessionDep, _: Viewer) -> DatasetVersionList:
    return DatasetVersionList(versions=service.list_versions(session, name))


@router.get(
    "/datasets/{name}/versions/{version}",
    summary="Get a dataset version",
    response_model=DatasetVersionRead,
    responses=error_responses(DatasetNotFound),
)
def get_version(name: NamePath, version: RefPath, session: SessionDep, _: Viewer) -> DatasetVersionRead:
    return service.get_version(session, f"{name}@{version}")


@router.get(
    "/datasets/{name}/versions/{version}/download",
    summary="Download a dataset version",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/vnd.apache.parquet": {}}}, **error_responses(DatasetNotFound)},
)
def download_version(
    name: NamePath, version: RefPath, session: SessionDep, store: StoreDep, _: Viewer
) -> StreamingResponse:
    chunks, size, filename = service.open_version(session, store, f"{name}@{version}")
    return StreamingResponse(
        chunks,
        media_type="application/vnd.apache.parquet",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/runs/{run_id}/datasets",
    summary="Record a run's input dataset",
    tags=["runs"],
    status_code=status.HTTP_201_CREATED,
    response_model=RunDatasetRead,
    responses=error_responses(RunNotFound, DatasetNotFound),
)
def link_run_dataset(
    run_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")],
    body: RunDatasetLink,
    session: SessionDep,
    actor: Editor,
) -> RunDatasetRead:
    """Record that the run read this dataset version (lineage)."""
    return service.link_run(session, actor, run_id, body.dataset, body.context)
