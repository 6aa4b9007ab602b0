"""Deployment use cases: create, read, update, direct rollouts and rollback. Every route change
warms the versions it routes to before its revision is written, and reaches this process's
serving state once committed (the others poll the serving generation)."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.hooks import after_commit
from app.db.tables import Deployment, DeploymentRevision, DeploymentRoute, ModelVersion, RegisteredModel
from app.deployments import repository
from app.deployments.schemas import (
    Batching,
    DeploymentCreate,
    DeploymentRead,
    DeploymentUpdate,
    RevisionRead,
    RollbackCreate,
    RouteMode,
    RouteRead,
    Strategy,
)
from app.errors import (
    AppError,
    DeploymentConflict,
    DeploymentNotFound,
    InvalidState,
    ModelNotFound,
    ModelVersionNotFound,
    PickleRefused,
    WarmupFailed,
)
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.registry import service as registry
from app.registry.schemas import VersionStatus
from app.serving.batching import BatchingConfig
from app.serving.state import Route, RouteTable, ServingState


@dataclass(frozen=True)
class ServingRules:
    """What the caller's settings say about deploying: the registry's pickle rule."""

    allow_pickle: bool


@dataclass(frozen=True)
class Target:
    model: RegisteredModel
    version: ModelVersion
    weight: int
    mode: RouteMode

    def route(self) -> Route:
        return Route(
            self.model.name,
            self.version.version,
            self.weight,
            self.mode.value,
            self.version.storage_prefix,
            version_id=self.version.id,
        )


def create_deployment(
    session: Session, state: ServingState, actor: Principal, data: DeploymentCreate, rules: ServingRules
) -> DeploymentRead:
    ref = str(data.version) if data.version is not None else str(data.alias)
    target = Target(*deployable(session, actor, data.model, ref, rules), 100, RouteMode.PRIMARY)
    if repository.get_deployment(session, data.name) is not None:
        raise DeploymentConflict(f"a deployment named {data.name!r}, or one differing only in case, already exists")
    warm(state, [target], already=set())
    deployment = repository.add_deployment(
        session,
        Deployment(
            name=data.name,
            description=data.description,
            track_alias=data.track_alias,
            default_strategy=Strategy.DIRECT.value,
            state="serving",
            current_revision=0,
            route_generation=0,
            log_sample_rate=data.log_sample_rate,
            created_by=actor.username,
            batch_max_size=data.batching.max_batch_size if data.batching else None,
            batch_max_wait_ms=data.batching.max_wait_ms if data.batching else None,
        ),
    )
    write_revision(session, state, actor, deployment, [target], Strategy.DIRECT, data.reason, "deployment.create")
    return deployment_read(deployment, [target])


def get_deployment(session: Session, name: str) -> DeploymentRead:
    deployment = get(session, name)
    return deployment_read(deployment, current_targets(session, deployment))


def list_deployments(
    session: Session, *, page_token: str | None, max_results: int
) -> tuple[list[DeploymentRead], str | None]:
    after_id = int_from_cursor(decode_page_token(page_token), "after_id")
    found = repository.list_deployments(session, after_id=after_id, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda d: {"after_id": d.id})
    targets = _targets_by_deployment(session, [d.id for d in page])
    return [deployment_read(d, targets.get(d.id, [])) for d in page], next_token


def list_revisions(
    session: Session, name: str, *, page_token: str | None, max_results: int
) -> tuple[list[RevisionRead], str | None]:
    deployment = get(session, name)
    before = int_from_cursor(decode_page_token(page_token), "before")
    found = repository.list_revisions(session, deployment.id, before=before, limit=max_results + 1)
    page, next_token = take_page(found, max_results, lambda r: {"before": r.revision})
    return [_revision_read(r) for r in page], next_token


def roll_out_directly(
    session: Session,
    state: ServingState,
    actor: Principal,
    deployment: Deployment,
    version: int,
    reason: str,
    rules: ServingRules,
) -> DeploymentRead:
    """The version takes all the traffic of the deployment (locked by the caller) at once, once
    it has warmed up."""
    current = current_targets(session, deployment)
    model_name = current[0].model.name if current else None
    if model_name is None:
        raise InvalidState(f"deployment {deployment.name!r} routes to no model")
    target = Target(*deployable(session, actor, model_name, str(version), rules), 100, RouteMode.PRIMARY)
    if [(t.version.id, t.weight) for t in current] == [(target.version.id, 100)]:
        raise DeploymentConflict(
            f"deployment {deployment.name!r} already serves version {version} of {model_name!r} with all its traffic"
        )
    warm(state, [target], already={t.version.id for t in current})
    write_revision(session, state, actor, deployment, [target], Strategy.DIRECT, reason, "deployment.rollout")
    return deployment_read(deployment, [target])


def rollback(
    session: Session,
    state: ServingState,
    actor: Principal,
    name: str,
    data: RollbackCreate,
    rules: ServingRules,
    *,
    to_revision: int | None = None,
) -> DeploymentRead:
    """Back to the routes of `to_revision` (by default the revision before the current one),
    written as a new revision."""
    deployment = lock(session, name)
    if deployment.current_revision <= 1:
        raise InvalidState(f"deployment {name!r} has no earlier revision to roll back to")
    number = to_revision if to_revision is not None else deployment.current_revision - 1
    previous = repository.get_revision(session, deployment.id, number)
    if previous is None:
        raise InvalidState(f"revision {number} of deployment {name!r} is missing")
    targets = []
    for route in previous.routes:
        try:
            found = deployable(session, actor, route["model"], str(route["version"]), rules)
        except (ModelNotFound, ModelVersionNotFound) as exc:
            raise InvalidState(
                f"revision {previous.revision} of deployment {name!r} served version {route['version']} of "
                f"{route['model']!r}, which no longer exists; roll out a version instead"
            ) from exc
        targets.append(Target(*found, int(route["weight"]), RouteMode(route["mode"])))
    current = current_targets(session, deployment)
    warm(state, targets, already={t.version.id for t in current})
    reason = data.reason or f"rollback to revision {previous.revision}"
    write_revision(
        session,
        state,
        actor,
        deployment,
        targets,
        Strategy.DIRECT,
        reason,
        "deployment.rollback",
        {"to_revision": previous.revision},
    )
    return deployment_read(deployment, targets)


@dataclass(frozen=True)
class AliasMove:
    """A deployment whose tracked alias points at a version it has not acted on."""

    deployment: str
    alias: str
    version: int
    moved_by: str


def alias_moves(session: Session) -> list[AliasMove]:
    seen: set[int] = set()
    moves = []
    for deployment, version, alias in repository.follow_candidates(session):
        if deployment.id not in seen:  # an A/B split has more than one primary route
            seen.add(deployment.id)
            moves.append(AliasMove(deployment.name, alias.alias, version.version, alias.updated_by))
    return moves


def follow_alias(session: Session, state: ServingState, move: AliasMove, rules: ServingRules) -> str:
    """Roll the alias's new version out directly (all the traffic once warmed up), once per move.
    The outcome (or why not) is kept on the deployment and in the audit log, never lost: a
    version that fails to warm keeps the old one serving, and the follower does not retry it."""
    deployment = lock(session, move.deployment)
    if deployment.track_alias != move.alias:
        return "the deployment no longer follows that alias"
    if deployment.state != "serving":
        return "a rollout is in progress; the move is taken once it ends"
    current = current_targets(session, deployment)
    model_name = current[0].model.name if current else None
    if model_name is None:
        return "the deployment routes to no model"
    model, version = registry.resolve_version(session, model_name, move.alias)
    if version.version != move.version:
        return "the alias moved again; the next pass takes it"
    if deployment.followed_version_id == version.id:
        return "another process acted on this move"
    actor = Principal.system()
    if [(t.version.id, t.weight) for t in current] == [(version.id, 100)]:
        outcome = f"alias {move.alias!r} points at version {version.version}, which it serves already"
    else:
        reason = f"alias {move.alias!r} of {model.name!r} moved to version {version.version} by {move.moved_by}"
        try:
            with session.begin_nested():
                roll_out_directly(session, state, actor, deployment, version.version, reason, rules)
            outcome = f"rolled out version {version.version} ({Strategy.DIRECT.value}): {reason}"
        except AppError as exc:
            outcome = f"did not roll out version {version.version} (alias {move.alias!r}): {exc.detail}"
            audit.record(
                session,
                actor,
                "deployment.follow_failed",
                "deployment",
                deployment.name,
                {"alias": move.alias, "version": version.version, "error": exc.code, "detail": exc.detail},
            )
    deployment.followed_version_id = version.id
    deployment.follow_status = outcome
    return outcome


def update_deployment(
    session: Session, state: ServingState, actor: Principal, name: str, data: DeploymentUpdate
) -> DeploymentRead:
    """Change the description, the log sample rate or the batching. The routes stay, so no
    revision is written; a serving change bumps the serving generation so every process takes it."""
    deployment = lock(session, name)
    changes: dict[str, object] = {}
    if data.description is not None and data.description != deployment.description:
        deployment.description = data.description
        changes["description"] = data.description
    if "batching" in data.model_fields_set:
        size = data.batching.max_batch_size if data.batching else None
        wait = data.batching.max_wait_ms if data.batching else None
        if (size, wait) != (deployment.batch_max_size, deployment.batch_max_wait_ms):
            deployment.batch_max_size, deployment.batch_max_wait_ms = size, wait
            changes["batching"] = data.batching.model_dump() if data.batching else None
    if "log_sample_rate" in data.model_fields_set and data.log_sample_rate != deployment.log_sample_rate:
        deployment.log_sample_rate = data.log_sample_rate
        changes["log_sample_rate"] = data.log_sample_rate
    targets = current_targets(session, deployment)
    if changes:
        deployment.updated_at = utcnow()
        if "batching" in changes or "log_sample_rate" in changes:
            deployment.route_generation = repository.bump_generation(session)
            table = _table(deployment, targets)
            after_commit(session, lambda: state.apply([table]))
        session.flush()
        audit.record(session, actor, "deployment.update", "deployment", deployment.name, changes)
    return deployment_read(deployment, targets)


def current_generation(session: Session) -> int:
    return repository.current_generation(session)


def route_tables_since(session: Session, generation: int) -> list[RouteTable]:
    """The route table of every deployment changed after `generation`, for the serving poller."""
    changed = repository.changed_since(session, generation)
    targets = _targets_by_deployment(session, [d.id for d in changed])
    return [_table(d, targets.get(d.id, [])) for d in changed]


# ---- shared with rollouts, and helpers ---------------------------------------------------------


def get(session: Session, name: str) -> Deployment:
    deployment = repository.get_deployment(session, name)
    if deployment is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return deployment


def lock(session: Session, name: str) -> Deployment:
    deployment = repository.lock_deployment(session, name)
    if deployment is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return deployment


def deployable(
    session: Session, actor: Principal, model_name: str, ref: str, rules: ServingRules
) -> tuple[RegisteredModel, ModelVersion]:
    model, version = registry.resolve_version(session, model_name, ref)
    if version.status != VersionStatus.READY.value:
        raise InvalidState(
            f"version {version.version} of {model.name!r} is {version.status}; only a READY version can be deployed",
            status_message=version.status_message,
        )
    if version.manifest is None:
        # A pickle the registry accepted from an admin: it was never loaded or checked.
        if not registry.pickle_allowed(actor, rules.allow_pickle):
            raise PickleRefused(
                f"version {version.version} of {model.name!r} is a pickle; deploying one needs an admin and "
                "SHIPYARD_ALLOW_PICKLE",
                files=[f["path"] for f in version.files],
            )
        raise WarmupFailed(
            f"version {version.version} of {model.name!r} is a pickle: it has no manifest input example to warm "
            "up with, nor a signature to check requests against (serving pickles is not available yet)"
        )
    return model, version


def warm(state: ServingState, targets: Sequence[Target], *, already: set[int]) -> None:
    """Load each version new to the routes fresh from the store and predict its input example;
    WarmupFailed stops the change before anything is written."""
    for target in targets:
        if target.version.id not in already or target.route().key not in state.cache:
            state.load(target.route())


def write_revision(
    session: Session,
    state: ServingState | None,
    actor: Principal,
    deployment: Deployment,
    targets: Sequence[Target],
    strategy: Strategy,
    reason: str,
    action: str,
    detail: dict[str, object] | None = None,
) -> None:
    number = deployment.current_revision + 1
    routes = [_route_read(t) for t in targets]
    repository.add_revision(
        session,
        DeploymentRevision(
            deployment_id=deployment.id,
            revision=number,
            routes=[r.model_dump(mode="json") for r in routes],
            strategy=strategy.value,
            reason=reason,
            created_by=actor.username,
        ),
    )
    repository.replace_routes(
        session,
        deployment.id,
        [
            DeploymentRoute(
                deployment_id=deployment.id,
                position=position,
                model_version_id=t.version.id,
                weight=t.weight,
                mode=t.mode.value,
            )
            for position, t in enumerate(targets)
        ],
    )
    deployment.current_revision = number
    deployment.route_generation = repository.bump_generation(session)
    deployment.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        action,
        "deployment",
        deployment.name,
        {"revision": number, "routes": [r.model_dump(mode="json") for r in routes], "reason": reason, **(detail or {})},
    )
    if state is not None:
        # A worker has no serving state: the API processes' pollers pick the change up.
        table = _table(deployment, targets)
        after_commit(session, lambda: state.apply([table]))


def target_of_version(session: Session, version_id: int, weight: int, mode: RouteMode) -> Target:
    found = repository.version_with_model(session, version_id)
    if found is None:
        raise InvalidState(f"model version {version_id} no longer exists")
    version, model = found
    return Target(model, version, weight, mode)


def current_targets(session: Session, deployment: Deployment) -> list[Target]:
    return _targets_by_deployment(session, [deployment.id]).get(deployment.id, [])


def _targets_by_deployment(session: Session, deployment_ids: Sequence[int]) -> dict[int, list[Target]]:
    found: dict[int, list[Target]] = {}
    for route, version, model in repository.routes_of(session, deployment_ids):
        found.setdefault(route.deployment_id, []).append(Target(model, version, route.weight, RouteMode(route.mode)))
    return found


def _route_read(target: Target) -> RouteRead:
    return RouteRead(model=target.model.name, version=target.version.version, weight=target.weight, mode=target.mode)


def _table(deployment: Deployment, targets: Sequence[Target]) -> RouteTable:
    return RouteTable(
        deployment=deployment.name,
        folded_name=deployment.folded_name,
        revision=deployment.current_revision,
        routes=tuple(t.route() for t in targets),
        deployment_id=deployment.id,
        log_sample_rate=deployment.log_sample_rate,
        batching=_batching_config(deployment),
    )


def _batching_config(deployment: Deployment) -> BatchingConfig | None:
    if deployment.batch_max_size is None or deployment.batch_max_wait_ms is None:
        return None
    return BatchingConfig(deployment.batch_max_size, deployment.batch_max_wait_ms)


def deployment_read(deployment: Deployment, targets: Sequence[Target]) -> DeploymentRead:
    return DeploymentRead(
        name=deployment.name,
        description=deployment.description,
        track_alias=deployment.track_alias,
        track_status=deployment.follow_status or None,
        default_strategy=deployment.default_strategy,
        state=deployment.state,
        revision=deployment.current_revision,
        routes=[_route_read(t) for t in targets],
        log_sample_rate=deployment.log_sample_rate,
        batching=(
            Batching(max_batch_size=deployment.batch_max_size, max_wait_ms=deployment.batch_max_wait_ms)
            if deployment.batch_max_size is not None and deployment.batch_max_wait_ms is not None
            else None
        ),
        created_by=deployment.created_by,
        created_at=deployment.created_at,
        updated_at=deployment.updated_at,
    )


def _revision_read(revision: DeploymentRevision) -> RevisionRead:
    return RevisionRead(
        revision=revision.revision,
        routes=[RouteRead.model_validate(r) for r in revision.routes],
        strategy=revision.strategy,
        reason=revision.reason,
        created_by=revision.created_by,
        created_at=revision.created_at,
    )
