"""Every SQL statement of deployments: the deployment rows, revisions, current routes and the
serving generation."""

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased

from app.db.tables import (
    Deployment,
    DeploymentRevision,
    DeploymentRoute,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    ServingGeneration,
)
from app.errors import DeploymentConflict
from app.names import fold_name

# The version a route serves, beside the version an alias points at, in one query.
ServedVersion = aliased(ModelVersion)

# PostgreSQL's lock_not_available, raised by FOR UPDATE NOWAIT on a row another transaction holds.
_LOCK_NOT_AVAILABLE = "55P03"


def add_deployment(session: Session, deployment: Deployment) -> Deployment:
    try:
        with session.begin_nested():
            session.add(deployment)
            session.flush()
    except IntegrityError as exc:
        raise DeploymentConflict(
            f"a deployment named {deployment.name!r}, or one differing only in case, already exists"
        ) from exc
    return deployment


def get_deployment(session: Session, name: str) -> Deployment | None:
    return session.scalars(select(Deployment).where(Deployment.folded_name == fold_name(name))).one_or_none()


def lock_deployment(session: Session, name: str) -> Deployment | None:
    """The deployment, its row locked for this transaction (SQLite's write lock does that already);
    DeploymentConflict at once when another route change holds it."""
    try:
        return session.scalars(
            select(Deployment).where(Deployment.folded_name == fold_name(name)).with_for_update(nowait=True)
        ).one_or_none()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise DeploymentConflict(f"another route change of deployment {name!r} is in progress; try again") from exc
        raise


def list_deployments(session: Session, *, after_id: int | None, limit: int) -> Sequence[Deployment]:
    query = select(Deployment).order_by(Deployment.id).limit(limit)
    if after_id is not None:
        query = query.where(Deployment.id > after_id)
    return session.scalars(query).all()


def add_revision(session: Session, revision: DeploymentRevision) -> DeploymentRevision:
    try:
        with session.begin_nested():
            session.add(revision)
            session.flush()
    except IntegrityError as exc:
        raise DeploymentConflict(f"revision {revision.revision} was written by another route change") from exc
    return revision


def get_revision(session: Session, deployment_id: int, number: int) -> DeploymentRevision | None:
    return session.scalars(
        select(DeploymentRevision).where(
            DeploymentRevision.deployment_id == deployment_id, DeploymentRevision.revision == number
        )
    ).one_or_none()


def list_revisions(
    session: Session, deployment_id: int, *, before: int | None, limit: int
) -> Sequence[DeploymentRevision]:
    query = (
        select(DeploymentRevision)
        .where(DeploymentRevision.deployment_id == deployment_id)
        .order_by(DeploymentRevision.revision.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(DeploymentRevision.revision < before)
    return session.scalars(query).all()


def replace_routes(session: Session, deployment_id: int, routes: Sequence[DeploymentRoute]) -> None:
    session.execute(delete(DeploymentRoute).where(DeploymentRoute.deployment_id == deployment_id))
    session.add_all(routes)
    session.flush()


def bump_generation(session: Session) -> int:
    """The next serving generation. The row lock makes route changes commit in generation order."""
    number = session.execute(
        update(ServingGeneration)
        .where(ServingGeneration.id == 1)
        .values(generation=ServingGeneration.generation + 1)
        .returning(ServingGeneration.generation)
    ).scalar_one()
    return int(number)


def current_generation(session: Session) -> int:
    return int(session.scalars(select(ServingGeneration.generation).where(ServingGeneration.id == 1)).one())


def changed_since(session: Session, generation: int) -> Sequence[Deployment]:
    return session.scalars(
        select(Deployment).where(Deployment.route_generation > generation).order_by(Deployment.id)
    ).all()


def routes_of(
    session: Session, deployment_ids: Sequence[int]
) -> Sequence[tuple[DeploymentRoute, ModelVersion, RegisteredModel]]:
    rows = session.execute(
        select(DeploymentRoute, ModelVersion, RegisteredModel)
        .join(ModelVersion, ModelVersion.id == DeploymentRoute.model_version_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(DeploymentRoute.deployment_id.in_(list(deployment_ids)))
        .order_by(DeploymentRoute.deployment_id, DeploymentRoute.position)
    )
    return [(route, version, model) for route, version, model in rows.tuples()]


def follow_candidates(session: Session) -> Sequence[tuple[Deployment, ModelVersion, ModelAlias]]:
    """Deployments whose tracked alias (on the model they serve) points at a version they have
    not acted on yet, with that version and the alias row."""
    rows = session.execute(
        select(Deployment, ModelVersion, ModelAlias)
        .join(DeploymentRoute, (DeploymentRoute.deployment_id == Deployment.id) & (DeploymentRoute.mode == "primary"))
        .join(ServedVersion, ServedVersion.id == DeploymentRoute.model_version_id)
        .join(
            ModelAlias,
            (ModelAlias.model_id == ServedVersion.model_id) & (ModelAlias.alias == Deployment.track_alias),
        )
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(
            Deployment.track_alias.is_not(None),
            (Deployment.followed_version_id.is_(None)) | (Deployment.followed_version_id != ModelAlias.version_id),
        )
        .order_by(Deployment.id)
    )
    return [(deployment, version, alias) for deployment, version, alias in rows.tuples()]


def version_with_model(session: Session, version_id: int) -> tuple[ModelVersion, RegisteredModel] | None:
    row = session.execute(
        select(ModelVersion, RegisteredModel)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.id == version_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])
