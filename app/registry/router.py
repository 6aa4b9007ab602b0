"""HTTP endpoints of the model registry."""

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from app.deps import API_PREFIX, Editor, SessionDep, SettingsDep, StoreDep, Viewer
from app.errors import (
    AliasConflict,
    AliasNotFound,
    ArtifactNotFound,
    DigestMismatch,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidPath,
    InvalidState,
    ModelConflict,
    ModelNotFound,
    ModelVersionNotFound,
    PayloadTooLarge,
    PickleRefused,
    RunNotFound,
    StorageUnavailable,
    StoredFileCorrupt,
    UnsupportedMediaType,
    UntrustedModel,
    VersionDeployed,
    error_responses,
)
from app.jobs.idempotency import KEY_MAX_LENGTH, KEY_PATTERN
from app.registry import service
from app.registry.schemas import (
    AliasName,
    AliasRead,
    AliasSet,
    Lineage,
    ModelCreate,
    ModelList,
    ModelName,
    ModelRead,
    ModelUpdate,
    VersionFromRun,
    VersionList,
    VersionRead,
    VersionStatus,
    VersionUpdate,
)
from app.storage.upload import parse_content_digest, spool_upload

router = APIRouter(prefix=API_PREFIX, tags=["registry"])
NamePath = Annotated[ModelName, Path(description="A registered model's name.")]
VersionRef = Annotated[
    str,
    Path(pattern=r"^([0-9]{1,9}|latest|[a-z0-9_-]{1,64})$", description="A version number, an alias, or `latest`."),
]
AliasPath = Annotated[AliasName, Path(description="An alias such as `production`.")]


@router.post(
    "/models",
    summary="Register a model",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelRead,
    responses=error_responses(ModelConflict),
)
def create_model(body: ModelCreate, session: SessionDep, actor: Editor) -> ModelRead:
    return service.create_model(session, actor, body)


@router.get(
    "/models", summary="List registered models", response_model=ModelList, responses=error_responses(InvalidInput)
)
def list_models(
    session: SessionDep,
    _: Viewer,
    name_like: Annotated[str | None, Query(max_length=256, description="SQL LIKE pattern, e.g. churn%.")] = None,
    tag: Annotated[list[str], Query(max_length=20, description="key=value; repeat to require several.")] = [],  # noqa: B006
    lifecycle_stage: Literal["active", "archived", "all"] = "active",
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ModelList:
    tags = {}
    for item in tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag filter {item!r} is not key=value", field="tag")
        tags[key] = value
    models, next_token = service.list_models(
        session,
        name_like=name_like,
        tags=tags,
        lifecycle_stage=lifecycle_stage,
        page_token=page_token,
        max_results=max_results,
    )
    return ModelList(models=models, next_page_token=next_token)


@router.get(
    "/models/{name}",
    summary="Get a registered model",
    response_model=ModelRead,
    responses=error_responses(ModelNotFound),
)
def get_model(name: NamePath, session: SessionDep, _: Viewer) -> ModelRead:
    return service.get_model(session, name)


@router.patch(
    "/models/{name}",
    summary="Update a registered model",
    response_model=ModelRead,
    responses=error_responses(ModelNotFound),
)
def update_model(name: NamePath, body: ModelUpdate, session: SessionDep, actor: Editor) -> ModelRead:
    return service.update_model(session, actor, name, body)


@router.delete(
    "/models/{name}",
    summary="Archive a registered model",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ModelNotFound),
)
def archive_model(name: NamePath, session: SessionDep, actor: Editor) -> None:
    """Archive the model (its versions and files are kept); PATCH lifecycle_stage=active restores it."""
    service.archive_model(session, actor, name)


@router.post(
    "/models/{name}/versions",
    summary="Register a model version",
    status_code=status.HTTP_201_CREATED,
    response_model=VersionRead,
    responses={
        200: {"model": VersionRead, "description": "This Idempotency-Key registered a version before: that version."},
        **error_responses(
            ModelNotFound,
            RunNotFound,
            ArtifactNotFound,
            InvalidPath,
            InvalidInput,
            UntrustedModel,
            PickleRefused,
            PayloadTooLarge,
            UnsupportedMediaType,
            IdempotencyKeyReused,
            DigestMismatch,
            StorageUnavailable,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/VersionFromRun"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def create_version(
    name: NamePath,
    request: Request,
    response: Response,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: Editor,
    filename: Annotated[str, Query(max_length=256, description="Name of a bare uploaded file.")] = "model.pkl",
    content_digest: Annotated[
        str | None,
        Header(max_length=1024, description="`sha-256=:<base64>:` of an uploaded body (RFC 9530): 400 on mismatch."),
    ] = None,
    idempotency_key: Annotated[str | None, Header(max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)] = None,
) -> VersionRead:
    """Register a version: JSON `{run_id, path}` copies a run's logged model; an `application/zip`
    body is a model folder uploaded directly. The files are checked (skops with trusted types
    only, complete manifest) before the version is READY; otherwise it is FAILED with the reason.
    The same Idempotency-Key and body again answer 200 with the version they first registered."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            data = VersionFromRun.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        version, created = await run_in_threadpool(
            service.create_version_idempotently,
            session,
            actor,
            name,
            idempotency_key,
            {"json": data.model_dump(mode="json")},
            lambda: service.create_version_from_run(
                session,
                store,
                actor,
                name,
                data,
                max_ratio=settings.max_compression_ratio,
                ratio_min_bytes=settings.compression_ratio_min_bytes,
            ),
        )
    else:
        version, created = await _create_version_from_upload(
            request, media, session, store, settings, actor, name, filename, content_digest, idempotency_key
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return version


async def _create_version_from_upload(
    request: Request,
    media: str,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    actor: Editor,
    name: str,
    filename: str,
    content_digest: str | None,
    idempotency_key: str | None,
) -> tuple[VersionRead, bool]:
    allow_pickle = service.pickle_allowed(actor, settings.allow_pickle)
    declared = parse_content_digest([content_digest] if content_digest is not None else [])
    with await spool_upload(request.stream(), settings.max_upload_bytes, declared) as upload:
        if media in ("application/zip", "application/x-zip-compressed"):
            return await run_in_threadpool(
                service.create_version_idempotently,
                session,
                actor,
                name,
                idempotency_key,
                {"content_type": "application/zip", "sha256": upload.sha256},
                lambda: service.create_version_from_archive(
                    session,
                    store,
                    actor,
                    name,
                    upload.file,
                    max_bytes=settings.max_upload_bytes,
                    allow_pickle=allow_pickle,
                    max_ratio=settings.max_compression_ratio,
                    ratio_min_bytes=settings.compression_ratio_min_bytes,
                ),
            )
        if media == "application/octet-stream":
            return await run_in_threadpool(
                service.create_version_idempotently,
                session,
                actor,
                name,
                idempotency_key,
                {"content_type": media, "filename": filename, "sha256": upload.sha256},
                lambda: service.create_version_from_file(
                    session, store, actor, name, upload.file, filename=filename, allow_pickle=allow_pickle
                ),
            )
    raise UnsupportedMediaType(f"send application/json (from a run) or application/zip (a model folder), not {media}")


@router.get(
    "/models/{name}/versions",
    summary="List a model's versions",
    response_model=VersionList,
    responses=error_responses(ModelNotFound, InvalidInput),
)
def list_versions(
    name: NamePath,
    session: SessionDep,
    _: Viewer,
    status_filter: Annotated[VersionStatus | None, Query(alias="status")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VersionList:
    versions, next_token = service.list_versions(
        session,
        name,
        status=status_filter.value if status_filter else None,
        page_token=page_token,
        max_results=max_results,
    )
    return VersionList(versions=versions, next_page_token=next_token)


@router.get(
    "/models/{name}/versions/{ref}",
    summary="Get a model version",
    response_model=VersionRead,
    responses=error_responses(ModelNotFound, ModelVersionNotFound, AliasNotFound),
)
def get_version(name: NamePath, ref: VersionRef, session: SessionDep, _: Viewer) -> VersionRead:
    return service.get_version(session, name, ref)


@router.patch(
    "/models/{name}/versions/{ref}",
    summary="Update a model version",
    response_model=VersionRead,
    responses=error_responses(ModelNotFound, ModelVersionNotFound, AliasNotFound),
)
def update_version(
    name: NamePath, ref: VersionRef, body: VersionUpdate, session: SessionDep, actor: Editor
) -> VersionRead:
    return service.update_version(session, actor, name, ref, body)


@router.delete(
    "/models/{name}/versions/{ref}",
    summary="Delete a model version",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ModelNotFound, ModelVersionNotFound, AliasConflict, VersionDeployed),
)
def delete_version(
    name: NamePath,
    # Named `ref` like the GET and PATCH of this path (OpenAPI has one template per path), but
    # only a version number: a delete never goes through an alias.
    ref: Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number.")],
    session: SessionDep,
    store: StoreDep,
    actor: Editor,
) -> None:
    """Delete a version and its files; refused while an alias points at it or a deployment serves it."""
    service.delete_version(session, store, actor, name, ref)


@router.get(
    "/models/{name}/versions/{ref}/download",
    summary="Download a model version as a zip",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}},
        **error_responses(
            ModelNotFound, ModelVersionNotFound, AliasNotFound, InvalidState, StoredFileCorrupt, StorageUnavailable
        ),
    },
)
def download_version(
    name: NamePath, ref: VersionRef, session: SessionDep, store: StoreDep, _: Viewer
) -> StreamingResponse:
    """The version's files as a zip, each checked against the SHA-256 listed on the version
    before anything is sent (500 `stored_file_corrupt` when one was damaged in the store)."""
    archive, filename = service.open_version_archive(session, store, name, ref)

    def chunks() -> object:
        with archive:
            while chunk := archive.read(1024 * 1024):
                yield chunk

    return StreamingResponse(
        chunks(),  # type: ignore[arg-type]
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/models/{name}/versions/{ref}/lineage",
    summary="Get a model version's lineage",
    response_model=Lineage,
    responses=error_responses(ModelNotFound, ModelVersionNotFound, AliasNotFound),
)
def get_lineage(name: NamePath, ref: VersionRef, session: SessionDep, _: Viewer) -> Lineage:
    return service.lineage(session, name, ref)


@router.put(
    "/models/{name}/aliases/{alias}",
    summary="Point an alias at a version",
    response_model=AliasRead,
    responses=error_responses(ModelNotFound, ModelVersionNotFound, InvalidState),
)
def set_alias(
    name: NamePath, alias: AliasPath, body: AliasSet, session: SessionDep, settings: SettingsDep, actor: Editor
) -> AliasRead:
    """Point the alias at a READY version (moved atomically; protected aliases need an admin)."""
    return service.set_alias(session, actor, name, alias, body.version, settings.protected_aliases)


@router.delete(
    "/models/{name}/aliases/{alias}",
    summary="Remove an alias",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ModelNotFound, AliasNotFound),
)
def delete_alias(name: NamePath, alias: AliasPath, session: SessionDep, settings: SettingsDep, actor: Editor) -> None:
    service.delete_alias(session, actor, name, alias, settings.protected_aliases)
