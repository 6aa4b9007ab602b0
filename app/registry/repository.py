"""Every SQL statement of the registry."""

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import (
    Deployment,
    DeploymentRoute,
    ModelAlias,
    ModelEvaluation,
    ModelVersion,
    RegisteredModel,
    RunDataset,
)
from app.errors import ModelConflict
from app.names import fold_name


def add_model(session: Session, model: RegisteredModel) -> RegisteredModel:
    try:
        # Added inside the SAVEPOINT, so a refused insert is expunged with it and the transaction
        # goes on (get_or_create_model then reads the concurrent request's model).
        with session.begin_nested():
            session.add(model)
            session.flush()
    except IntegrityError as exc:
        raise ModelConflict(f"a model named {model.name!r}, or one differing only in case, already exists") from exc
    return model


def get_model_by_name(session: Session, name: str) -> RegisteredModel | None:
    return session.scalars(select(RegisteredModel).where(RegisteredModel.folded_name == fold_name(name))).one_or_none()


def list_models(
    session: Session,
    *,
    name_like: str | None,
    tags: dict[str, str],
    lifecycle_stage: str | None,
    after_id: int | None,
    limit: int,
) -> Sequence[RegisteredModel]:
    query = select(RegisteredModel).order_by(RegisteredModel.id).limit(limit)
    if name_like:
        query = query.where(RegisteredModel.name.like(name_like))
    for key, value in tags.items():
        query = query.where(RegisteredModel.tags[key].as_string() == value)
    if lifecycle_stage:
        query = query.where(RegisteredModel.lifecycle_stage == lifecycle_stage)
    if after_id is not None:
        query = query.where(RegisteredModel.id > after_id)
    return session.scalars(query).all()


def next_version_number(session: Session, model_id: int) -> int:
    """Bump the model's counter in this transaction; the row lock (Postgres) or the write
    lock (SQLite) makes concurrent registrations take turns, so numbers never repeat or skip."""
    number = session.execute(
        update(RegisteredModel)
        .where(RegisteredModel.id == model_id)
        .values(latest_version=RegisteredModel.latest_version + 1)
        .returning(RegisteredModel.latest_version)
    ).scalar_one()
    return int(number)


def add_version(session: Session, version: ModelVersion) -> ModelVersion:
    session.add(version)
    session.flush()
    return version


def get_version(session: Session, model_id: int, number: int) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(ModelVersion.model_id == model_id, ModelVersion.version == number)
    ).one_or_none()


def get_version_by_id(session: Session, version_id: int) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def list_versions(
    session: Session, model_id: int, *, status: str | None, before: int | None, limit: int
) -> Sequence[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.model_id == model_id).order_by(ModelVersion.version.desc())
    if status:
        query = query.where(ModelVersion.status == status)
    if before is not None:
        query = query.where(ModelVersion.version < before)
    return session.scalars(query.limit(limit)).all()


def latest_ready_version(session: Session, model_id: int) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion)
        .where(ModelVersion.model_id == model_id, ModelVersion.status == "READY")
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).first()


def delete_version(session: Session, version: ModelVersion) -> None:
    session.delete(version)
    session.flush()


def aliases_of_model(session: Session, model_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """model id -> {alias: version number}."""
    rows = session.execute(
        select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.model_id.in_(list(model_ids)))
        .order_by(ModelAlias.alias)
    )
    found: dict[int, dict[str, int]] = {model_id: {} for model_id in model_ids}
    for model_id, alias, number in rows:
        found[model_id][alias] = number
    return found


def get_alias(session: Session, model_id: int, alias: str) -> ModelAlias | None:
    return session.get(ModelAlias, (model_id, alias))


def set_alias(session: Session, model_id: int, alias: str, version_id: int, actor: str) -> int | None:
    """Point `alias` at `version_id`; return the version id it pointed at before, if any.
    The row is locked first, so two moves of one alias apply one after the other."""
    current = session.scalars(
        select(ModelAlias).where(ModelAlias.model_id == model_id, ModelAlias.alias == alias).with_for_update()
    ).one_or_none()
    if current is None:
        session.add(ModelAlias(model_id=model_id, alias=alias, version_id=version_id, updated_by=actor))
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            # Another request created it a moment ago: move it instead.
            return set_alias(session, model_id, alias, version_id, actor)
        return None
    previous = current.version_id
    current.version_id = version_id
    current.updated_by = actor
    session.flush()
    return previous


def delete_alias(session: Session, alias: ModelAlias) -> None:
    session.delete(alias)
    session.flush()


def version_numbers(session: Session, version_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(select(ModelVersion.id, ModelVersion.version).where(ModelVersion.id.in_(list(version_ids))))
    return {version_id: number for version_id, number in rows}


def run_datasets(session: Session, run_id: str) -> Sequence[RunDataset]:
    return session.scalars(
        select(RunDataset).where(RunDataset.run_id == run_id).order_by(RunDataset.dataset_name)
    ).all()


def add_evaluation(session: Session, evaluation: ModelEvaluation) -> None:
    """Once per job: a duplicate attempt of the same job adds nothing."""
    exists = session.scalars(select(ModelEvaluation.id).where(ModelEvaluation.job_id == evaluation.job_id)).first()
    if exists is None:
        session.add(evaluation)
        session.flush()


def evaluations_of(session: Session, version_id: int) -> Sequence[ModelEvaluation]:
    return session.scalars(
        select(ModelEvaluation).where(ModelEvaluation.model_version_id == version_id).order_by(ModelEvaluation.id)
    ).all()


def deployments_serving(session: Session, version_id: int) -> list[str]:
    """The names of the deployments whose current routes send traffic to this version."""
    return list(
        session.scalars(
            select(Deployment.name)
            .join(DeploymentRoute, DeploymentRoute.deployment_id == Deployment.id)
            .where(DeploymentRoute.model_version_id == version_id)
            .distinct()
            .order_by(Deployment.name)
        ).all()
    )
