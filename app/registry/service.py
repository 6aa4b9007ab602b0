"""Registry use cases: models, versions (validated before they are READY), aliases, lineage."""

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth.security import Role
from app.context import Principal
from app.db.base import utcnow
from app.db.hooks import after_commit, after_rollback
from app.db.tables import ModelEvaluation, ModelVersion, RegisteredModel
from app.errors import (
    AliasConflict,
    AliasNotFound,
    AppError,
    ArtifactNotFound,
    Forbidden,
    InvalidInput,
    InvalidPath,
    InvalidState,
    ModelConflict,
    ModelNotFound,
    ModelVersionNotFound,
    PayloadTooLarge,
    PickleRefused,
    UntrustedModel,
    VersionDeployed,
)
from app.jobs import idempotency
from app.ml.model_io import (
    COMPRESSION_RATIO_MIN_BYTES,
    MAX_COMPRESSION_RATIO,
    ModelFormatError,
    folder_files,
    looks_like_pickle,
    validate_model_folder,
)
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.registry import packaging, repository
from app.registry.schemas import (
    AliasRead,
    DatasetRef,
    ExperimentRef,
    Lineage,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    VersionFile,
    VersionFromRun,
    VersionRead,
    VersionStatus,
    VersionUpdate,
)
from app.storage import DEFAULT_CHUNK_SIZE, ArtifactStore, join_key, validate_relative_path
from app.tracking import service as tracking

# ---- registered models -------------------------------------------------------------------------


def create_model(session: Session, actor: Principal, data: ModelCreate) -> ModelRead:
    return _model_read(session, _add_model(session, actor, data), {})  # a new model has no aliases yet


def _add_model(session: Session, actor: Principal, data: ModelCreate) -> RegisteredModel:
    model = repository.add_model(
        session,
        RegisteredModel(name=data.name, description=data.description, model_card=data.model_card, tags=dict(data.tags)),
    )
    audit.record(session, actor, "model.create", "model", model.name)
    return model


def _get_model(session: Session, name: str) -> RegisteredModel:
    model = repository.get_model_by_name(session, name)
    if model is None:
        raise ModelNotFound(f"no registered model named {name!r}")
    return model


def get_or_create_model(session: Session, actor: Principal, name: str) -> RegisteredModel:
    model = repository.get_model_by_name(session, name)
    if model is not None:
        return model
    try:
        return _add_model(session, actor, ModelCreate(name=name))
    except ModelConflict:
        # A concurrent request registered it between the read and the insert: use theirs.
        return _get_model(session, name)


def get_model(session: Session, name: str) -> ModelRead:
    return _model_read(session, _get_model(session, name))


def list_models(
    session: Session,
    *,
    name_like: str | None,
    tags: dict[str, str],
    lifecycle_stage: str,
    page_token: str | None,
    max_results: int,
) -> tuple[list[ModelRead], str | None]:
    after_id = int_from_cursor(decode_page_token(page_token), "after_id")
    found = repository.list_models(
        session,
        name_like=name_like,
        tags=tags,
        lifecycle_stage=None if lifecycle_stage == "all" else lifecycle_stage,
        after_id=after_id,
        limit=max_results + 1,
    )
    models, next_token = take_page(found, max_results, lambda m: {"after_id": m.id})
    aliases = repository.aliases_of_model(session, [m.id for m in models])
    return [_model_read(session, m, aliases[m.id]) for m in models], next_token


def update_model(session: Session, actor: Principal, name: str, data: ModelUpdate) -> ModelRead:
    model = _get_model(session, name)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(model, field, value)
    model.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "model.update", "model", name, {"fields": sorted(changes)})
    return _model_read(session, model)


def archive_model(session: Session, actor: Principal, name: str) -> None:
    model = _get_model(session, name)
    model.lifecycle_stage = "archived"
    model.updated_at = utcnow()
    audit.record(session, actor, "model.archive", "model", name)


def _model_read(session: Session, model: RegisteredModel, aliases: dict[str, int] | None = None) -> ModelRead:
    if aliases is None:
        aliases = repository.aliases_of_model(session, [model.id])[model.id]
    return ModelRead(
        id=model.id,
        name=model.name,
        description=model.description,
        model_card=model.model_card,
        tags=model.tags,
        lifecycle_stage=model.lifecycle_stage,
        latest_version=model.latest_version,
        aliases=aliases,
        created_at=model.created_at,
        updated_at=model.updated_at,
    )


# ---- versions ----------------------------------------------------------------------------------


def _storage_prefix(model: RegisteredModel, number: int) -> str:
    return join_key("models", model.name, str(number))


def create_version_from_run(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    name: str,
    data: VersionFromRun,
    *,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    ratio_min_bytes: int = COMPRESSION_RATIO_MIN_BYTES,
) -> VersionRead:
    """Copy a run's logged model folder into the registry, validated first; with `create_model`,
    a missing model is registered in the same transaction (rolled back with a refused version)."""
    model = get_or_create_model(session, actor, name) if data.create_model else _get_model(session, name)
    run = tracking.get_run(session, data.run_id)
    source = validate_relative_path(data.path)
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        folder = Path(tmp)
        try:
            packaging.download_prefix(store, join_key("runs", run.id, "artifacts", source), folder)
        except ArtifactNotFound as exc:
            raise ArtifactNotFound(f"run {run.id} has no model at {source!r}") from exc
        version = _register_folder(
            session,
            store,
            actor,
            model,
            folder,
            run_id=run.id,
            source_path=source,
            allow_pickle=False,
            description=data.description,
            tags=dict(data.tags),
            max_ratio=max_ratio,
            ratio_min_bytes=ratio_min_bytes,
        )
    version.metrics = tracking.metrics_for_json(run.metrics)
    session.flush()
    return _version_read(session, model, version, [])  # just registered: no alias points at it yet


def create_version_idempotently(
    session: Session,
    actor: Principal,
    name: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    create: Callable[[], VersionRead],
) -> tuple[VersionRead, bool]:
    """(version, created): `create` registers it, unless the same user sent this Idempotency-Key
    with the same `request` (what identifies the body: its JSON, or its content type and SHA-256)
    before, which returns that version; the key with another request is IdempotencyKeyReused."""
    if not idempotency_key:
        return create(), True
    request_sha256 = idempotency.fingerprint(f"POST /models/{name}/versions", request)
    record, existing = idempotency.reserve(session, actor, idempotency_key, request_sha256, "model_version")
    if existing is not None:
        model_name, _, number = existing.rpartition("/")
        return get_version(session, model_name, number), False
    assert record is not None
    version = create()
    idempotency.bind(session, record, f"{version.model}/{version.version}")
    return version, True


def create_version_from_archive(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    name: str,
    archive: BinaryIO,
    *,
    max_bytes: int,
    allow_pickle: bool,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    ratio_min_bytes: int = COMPRESSION_RATIO_MIN_BYTES,
) -> VersionRead:
    """Register a directly uploaded model: a zip of the model folder."""
    model = _get_model(session, name)
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        folder = Path(tmp)
        packaging.extract_archive(archive, folder, max_bytes, max_ratio=max_ratio, ratio_min_bytes=ratio_min_bytes)
        version = _register_folder(
            session,
            store,
            actor,
            model,
            folder,
            run_id=None,
            source_path=None,
            allow_pickle=allow_pickle,
            description="",
            tags={},
            max_ratio=max_ratio,
            ratio_min_bytes=ratio_min_bytes,
        )
    return _version_read(session, model, version, [])  # just registered: no alias points at it yet


def create_version_from_file(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    name: str,
    body: BinaryIO,
    *,
    filename: str,
    allow_pickle: bool,
) -> VersionRead:
    """A bare file upload: only a pickle can come this way, and only when an admin may."""
    model = _get_model(session, name)
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        path = Path(tmp) / validate_relative_path(filename).rsplit("/", 1)[-1]
        with path.open("wb") as out:
            shutil.copyfileobj(body, out, DEFAULT_CHUNK_SIZE)
        if not _looks_like_pickle(path):
            raise UntrustedModel(
                "a bare file upload must be a pickle; upload a model folder as application/zip instead"
            )
        version = _register_folder(
            session,
            store,
            actor,
            model,
            path.parent,
            run_id=None,
            source_path=None,
            allow_pickle=allow_pickle,
            description="",
            tags={},
        )
    return _version_read(session, model, version, [])  # just registered: no alias points at it yet


def create_version_from_folder(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    name: str,
    folder: Path,
    *,
    run_id: str,
    source_path: str,
    metrics: dict[str, float],
    tags: dict[str, str],
) -> VersionRead:
    """Register a model folder written on this side (a training job's model), validated like any other."""
    model = get_or_create_model(session, actor, name)
    version = _register_folder(
        session,
        store,
        actor,
        model,
        folder,
        run_id=run_id,
        source_path=source_path,
        allow_pickle=False,
        description="",
        tags=tags,
    )
    version.metrics = tracking.metrics_for_json(metrics)
    session.flush()
    return _version_read(session, model, version, [])  # just registered: no alias points at it yet


def pickle_allowed(actor: Principal, setting: bool) -> bool:
    return setting and actor.role.allows(Role.admin)


def _register_folder(
    session: Session,
    store: ArtifactStore,
    actor: Principal,
    model: RegisteredModel,
    folder: Path,
    *,
    run_id: str | None,
    source_path: str | None,
    allow_pickle: bool,
    description: str,
    tags: dict[str, str],
    max_ratio: float = MAX_COMPRESSION_RATIO,
    ratio_min_bytes: int = COMPRESSION_RATIO_MIN_BYTES,
) -> ModelVersion:
    limits = {"max_ratio": max_ratio, "min_bytes": ratio_min_bytes}
    try:
        # Links and special files are refused before anything reads the folder's files.
        folder_files(folder)
    except ModelFormatError as exc:
        raise _refusal(exc) from exc
    files = packaging.describe_files(folder)
    status, message, manifest = VersionStatus.READY, "", None
    pickles = [f.path for f in files if _looks_like_pickle(folder / f.path, label=f.path, **limits)]
    if pickles and not allow_pickle:
        raise PickleRefused(
            f"{', '.join(pickles)}: pickle/joblib files can run code when loaded and are refused. Log the model "
            "with skops (shipyard's log_model does), or ask an admin to enable SHIPYARD_ALLOW_PICKLE and upload it",
            files=pickles,
        )
    if pickles:
        message = f"pickle accepted by admin {actor.username}; not loaded or checked"
    else:
        packaging.read_manifest_paths(folder)
        try:
            manifest = validate_model_folder(folder, max_ratio=max_ratio, min_bytes=ratio_min_bytes)
        except ModelFormatError as exc:
            if exc.kind != "format":
                raise _refusal(exc) from exc
            status, message = VersionStatus.FAILED, str(exc)
    number = repository.next_version_number(session, model.id)
    prefix = _storage_prefix(model, number)
    version = repository.add_version(
        session,
        ModelVersion(
            model_id=model.id,
            version=number,
            status=VersionStatus.PENDING.value,
            source_run_id=run_id,
            source_path=source_path,
            storage_prefix=prefix,
            created_by=actor.username,
            description=description,
            tags=tags,
            files=[],
            metrics={},
        ),
    )
    stored = packaging.upload_folder(store, folder, prefix, files) if status == VersionStatus.READY else []
    try:
        if status == VersionStatus.READY:
            version.files = [f.model_dump() for f in files]
            version.flavor = manifest.flavor if manifest else "sklearn-pickle"
            version.signature = manifest.signature.model_dump() if manifest else None
            version.manifest = manifest.model_dump(mode="json") if manifest else None
        version.status, version.status_message = status.value, message
        model.updated_at = version.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor,
            "model_version.create",
            "model_version",
            f"{model.name}/{number}",
            {"status": status.value, "run_id": run_id},
        )
    except BaseException:
        # Removed now, while this transaction still holds the version number and no other
        # registration can be writing under the same prefix.
        packaging.remove_objects(store, stored)
        raise
    # A commit that fails later leaves files no row points at: they go with the rollback. The
    # number is free again from the rollback on, so a registration taking it in the instant
    # before this callback runs could lose a file of the same name; only a failed commit opens that.
    after_rollback(session, lambda: packaging.remove_objects(store, stored))
    return version


def _looks_like_pickle(path: Path, **limits: Any) -> bool:
    try:
        return looks_like_pickle(path, **limits)
    except ModelFormatError as exc:
        raise _refusal(exc) from exc


def _refusal(exc: ModelFormatError) -> AppError:
    """The problem for a model file that could act or escape (a merely broken one is FAILED instead)."""
    if exc.kind == "untrusted":
        return UntrustedModel(str(exc), untrusted_types=exc.untrusted_types)
    if exc.kind == "pickle":
        return PickleRefused(str(exc), files=[])
    if exc.kind == "path":
        return InvalidPath(str(exc))
    if exc.kind == "too_large":
        return PayloadTooLarge(str(exc))
    if exc.kind == "unlisted":
        return InvalidInput(str(exc))
    return UntrustedModel(str(exc), untrusted_types=[])


def resolve_version(session: Session, name: str, ref: str) -> tuple[RegisteredModel, ModelVersion]:
    """`ref` is a version number, an alias, or `latest` (the newest READY version)."""
    model = _get_model(session, name)
    version: ModelVersion | None
    if ref.isdigit():
        version = repository.get_version(session, model.id, int(ref))
        if version is None:
            raise ModelVersionNotFound(f"model {name!r} has no version {ref}")
        return model, version
    if ref == "latest":
        version = repository.latest_ready_version(session, model.id)
        if version is None:
            raise ModelVersionNotFound(f"model {name!r} has no READY version")
        return model, version
    alias = repository.get_alias(session, model.id, ref)
    if alias is None:
        raise AliasNotFound(f"model {name!r} has no alias {ref!r}")
    version = repository.get_version_by_id(session, alias.version_id)
    if version is None:
        raise ModelVersionNotFound(f"alias {ref!r} points at a version that no longer exists")
    return model, version


def version_by_id(session: Session, version_id: int) -> ModelVersion | None:
    """A version by its row id (what the prediction log records), or None once it is deleted."""
    return repository.get_version_by_id(session, version_id)


def get_version(session: Session, name: str, ref: str) -> VersionRead:
    model, version = resolve_version(session, name, ref)
    return _version_read(session, model, version)


def list_versions(
    session: Session, name: str, *, status: str | None, page_token: str | None, max_results: int
) -> tuple[list[VersionRead], str | None]:
    model = _get_model(session, name)
    before = int_from_cursor(decode_page_token(page_token), "before")
    versions, next_token = take_page(
        repository.list_versions(session, model.id, status=status, before=before, limit=max_results + 1),
        max_results,
        lambda v: {"before": v.version},
    )
    aliases = _aliases_by_version(session, model)
    return [_version_read(session, model, v, aliases.get(v.version, [])) for v in versions], next_token


def update_version(session: Session, actor: Principal, name: str, ref: str, data: VersionUpdate) -> VersionRead:
    model, version = resolve_version(session, name, ref)
    if data.description is not None:
        version.description = data.description
    if data.tags is not None:
        version.tags = dict(data.tags)
    version.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "model_version.update", "model_version", f"{name}/{version.version}")
    return _version_read(session, model, version)


def delete_version(session: Session, store: ArtifactStore, actor: Principal, name: str, number: int) -> None:
    model, version = resolve_version(session, name, str(number))
    holding = _aliases_by_version(session, model).get(version.version, [])
    if holding:
        raise AliasConflict(
            f"version {number} of {name!r} is what alias {', '.join(holding)} points at; move the alias first",
            aliases=holding,
        )
    serving = repository.deployments_serving(session, version.id)
    if serving:
        raise VersionDeployed(
            f"version {number} of {name!r} is served by deployment {', '.join(serving)}; roll it out of them first",
            deployments=serving,
        )
    prefix = version.storage_prefix
    repository.delete_version(session, version)
    audit.record(session, actor, "model_version.delete", "model_version", f"{name}/{number}")
    if version.files:
        # Only once the row is gone for good: a delete that rolls back keeps a version whose files exist.
        after_commit(session, lambda: store.delete_prefix(prefix))


def set_alias(
    session: Session, actor: Principal, name: str, alias: str, number: int, protected: Sequence[str]
) -> AliasRead:
    if alias in protected and not actor.role.allows(Role.admin):
        raise Forbidden(f"alias {alias!r} is protected: only an admin can move it (that is the release approval)")
    model, version = resolve_version(session, name, str(number))
    if version.status != VersionStatus.READY.value:
        raise InvalidState(
            f"version {number} of {name!r} is {version.status}; an alias can only point at a READY version",
            status_message=version.status_message,
        )
    previous_id = repository.set_alias(session, model.id, alias, version.id, actor.username)
    previous = repository.version_numbers(session, [previous_id]).get(previous_id) if previous_id else None
    audit.record(
        session,
        actor,
        "model_alias.set",
        "model_alias",
        f"{name}@{alias}",
        {"version": number, "previous_version": previous},
    )
    return AliasRead(model=name, alias=alias, version=number, previous_version=previous)


def delete_alias(session: Session, actor: Principal, name: str, alias: str, protected: Sequence[str]) -> None:
    if alias in protected and not actor.role.allows(Role.admin):
        raise Forbidden(f"alias {alias!r} is protected: only an admin can remove it")
    model = _get_model(session, name)
    found = repository.get_alias(session, model.id, alias)
    if found is None:
        raise AliasNotFound(f"model {name!r} has no alias {alias!r}")
    previous = repository.version_numbers(session, [found.version_id]).get(found.version_id)
    repository.delete_alias(session, found)
    audit.record(session, actor, "model_alias.delete", "model_alias", f"{name}@{alias}", {"previous_version": previous})


def open_version_archive(session: Session, store: ArtifactStore, name: str, ref: str) -> tuple[BinaryIO, str]:
    model, version = resolve_version(session, name, ref)
    if version.status != VersionStatus.READY.value:
        raise InvalidState(f"version {version.version} of {name!r} is {version.status}; it has no files to download")
    files = [VersionFile.model_validate(f) for f in version.files]
    return packaging.zip_from_store(store, version.storage_prefix, files), f"{model.name}-{version.version}.zip"


def lineage(session: Session, name: str, ref: str) -> Lineage:
    _, version = resolve_version(session, name, ref)
    run = experiment = None
    datasets: list[DatasetRef] = []
    if version.source_run_id:
        run = tracking.get_run(session, version.source_run_id)
        found = tracking.get_experiment(session, run.experiment_id)
        experiment = ExperimentRef(id=found.id, name=found.name)
        datasets = [
            DatasetRef(name=d.dataset_name, version=d.dataset_version, digest=d.digest, context=d.context)
            for d in repository.run_datasets(session, run.id)
        ]
    return Lineage(
        model=name,
        version=version.version,
        source_run=run,
        experiment=experiment,
        datasets=datasets,
        evaluations=[
            {
                "job_id": e.job_id,
                "dataset": f"{e.dataset_name}@{e.dataset_version}",
                "metrics": e.metrics,
                "baseline": e.baseline,
                "deltas": e.deltas,
                "gates": e.gates,
                "passed": e.passed,
                "fairness": e.fairness,
                "created_at": e.created_at.isoformat(),
            }
            for e in repository.evaluations_of(session, version.id)
        ],
    )


def record_evaluation(
    session: Session,
    version_id: int,
    job_id: str,
    *,
    dataset: str,
    dataset_version: int,
    metrics: dict[str, Any],
    baseline: dict[str, Any] | None,
    deltas: dict[str, float] | None,
    gates: list[dict[str, Any]],
    passed: bool | None,
    fairness: dict[str, Any] | None,
) -> None:
    repository.add_evaluation(
        session,
        ModelEvaluation(
            model_version_id=version_id,
            job_id=job_id,
            dataset_name=dataset,
            dataset_version=dataset_version,
            metrics=metrics,
            baseline=baseline,
            deltas=deltas,
            gates=gates,
            passed=passed,
            fairness=fairness,
        ),
    )


def _aliases_by_version(session: Session, model: RegisteredModel) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = {}
    for alias, number in repository.aliases_of_model(session, [model.id])[model.id].items():
        by_version.setdefault(number, []).append(alias)
    return by_version


def _version_read(
    session: Session, model: RegisteredModel, version: ModelVersion, aliases: list[str] | None = None
) -> VersionRead:
    if aliases is None:
        aliases = _aliases_by_version(session, model).get(version.version, [])
    return VersionRead(
        model=model.name,
        version=version.version,
        status=VersionStatus(version.status),
        status_message=version.status_message,
        source_run_id=version.source_run_id,
        source_path=version.source_path,
        storage_location=version.storage_prefix,
        files=[VersionFile.model_validate(f) for f in version.files],
        flavor=version.flavor,
        signature=version.signature,
        metrics=version.metrics,
        description=version.description,
        tags=version.tags,
        aliases=sorted(aliases),
        created_by=version.created_by,
        created_at=version.created_at,
        updated_at=version.updated_at,
    )
