"""HTTP endpoints of deployments: create, list, read, revisions, rollouts (start, history, abort),
rollback, promote."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from app.deployments import service
from app.deployments.schemas import (
    DeploymentCreate,
    DeploymentList,
    DeploymentName,
    DeploymentRead,
    DeploymentUpdate,
    RevisionList,
    RollbackCreate,
    RolloutCreate,
)
from app.deps import API_PREFIX, Editor, JobQueueDep, PageDep, ServingDep, SessionDep, SettingsDep, Viewer
from app.errors import (
    AliasNotFound,
    DeploymentConflict,
    DeploymentNotFound,
    InvalidInput,
    InvalidState,
    ModelNotFound,
    ModelVersionNotFound,
    NoRolloutInProgress,
    NothingToPromote,
    PickleRefused,
    RolloutInProgress,
    StorageUnavailable,
    WarmupFailed,
    error_responses,
)
from app.rollouts import service as rollouts
from app.rollouts.schemas import AbortCreate, RolloutList

router = APIRouter(prefix=API_PREFIX, tags=["deployments"])
NamePath = Annotated[DeploymentName, Path(description="A deployment's name.")]


async def _serving_rules(settings: SettingsDep) -> service.ServingRules:
    return service.ServingRules(allow_pickle=settings.allow_pickle)


RulesDep = Annotated[service.ServingRules, Depends(_serving_rules)]
_CHANGE_ERRORS = (
    DeploymentNotFound,
    DeploymentConflict,
    ModelNotFound,
    ModelVersionNotFound,
    InvalidState,
    PickleRefused,
    WarmupFailed,
    StorageUnavailable,
    RolloutInProgress,
)


@router.post(
    "/deployments",
    summary="Deploy a model version",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentRead,
    responses=error_responses(*_CHANGE_ERRORS, AliasNotFound),
)
def create_deployment(
    body: DeploymentCreate, session: SessionDep, serving: ServingDep, rules: RulesDep, actor: Editor
) -> DeploymentRead:
    """Create a deployment serving one READY version (by number or alias) with all its traffic,
    as revision 1. The version is loaded and predicts its input example first (422 `warmup_failed`)."""
    return service.create_deployment(session, serving, actor, body, rules)


@router.get(
    "/deployments", summary="List deployments", response_model=DeploymentList, responses=error_responses(InvalidInput)
)
def list_deployments(session: SessionDep, _: Viewer, page: PageDep) -> DeploymentList:
    found, next_token = service.list_deployments(session, page_token=page.token, max_results=page.max_results)
    return DeploymentList(deployments=found, next_page_token=next_token)


@router.get(
    "/deployments/{name}",
    summary="Get a deployment",
    response_model=DeploymentRead,
    responses=error_responses(DeploymentNotFound),
)
def get_deployment(name: NamePath, session: SessionDep, _: Viewer) -> DeploymentRead:
    """The routes serving now and the rollout in progress: state, step, weight, last analysis."""
    return rollouts.read_deployment(session, name)


@router.patch(
    "/deployments/{name}",
    summary="Update a deployment",
    response_model=DeploymentRead,
    responses=error_responses(DeploymentNotFound, DeploymentConflict),
)
def update_deployment(
    name: NamePath, body: DeploymentUpdate, session: SessionDep, serving: ServingDep, actor: Editor
) -> DeploymentRead:
    """Change the description, the prediction-log sample rate (null: the server's setting) or the
    micro-batching (`batching: null` turns it off); the routes stay as they are, so no revision is
    written."""
    return service.update_deployment(session, serving, actor, name, body)


@router.get(
    "/deployments/{name}/revisions",
    summary="List a deployment's revisions",
    response_model=RevisionList,
    responses=error_responses(DeploymentNotFound, InvalidInput),
)
def list_revisions(name: NamePath, session: SessionDep, _: Viewer, page: PageDep) -> RevisionList:
    """Newest first: each revision's route table, strategy, reason, author and time."""
    found, next_token = service.list_revisions(session, name, page_token=page.token, max_results=page.max_results)
    return RevisionList(revisions=found, next_page_token=next_token)


@router.post(
    "/deployments/{name}/rollouts",
    summary="Roll out a version",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentRead,
    responses=error_responses(*_CHANGE_ERRORS),
)
def create_rollout(
    name: NamePath,
    body: RolloutCreate,
    session: SessionDep,
    serving: ServingDep,
    queue: JobQueueDep,
    rules: RulesDep,
    actor: Editor,
) -> DeploymentRead:
    """`direct`: the version takes all the traffic at once, once warmed up. `canary` and
    `blue_green` start an analysis job (`rollout.job_id`) that advances, promotes or rolls back by
    itself; `shadow` and `ab` end by promote or rollback. A second rollout while one is in
    progress is a 409 `rollout_in_progress`."""
    return rollouts.start_rollout(session, serving, queue, actor, name, body, rules)


@router.get(
    "/deployments/{name}/rollouts",
    summary="List a deployment's rollouts",
    response_model=RolloutList,
    responses=error_responses(DeploymentNotFound, InvalidInput),
)
def list_rollouts(name: NamePath, session: SessionDep, _: Viewer, page: PageDep) -> RolloutList:
    """Newest first, each with its state, step, the reason of its last decision and its last analysis."""
    found, next_token = rollouts.list_rollouts(session, name, page_token=page.token, max_results=page.max_results)
    return RolloutList(rollouts=found, next_page_token=next_token)


@router.post(
    "/deployments/{name}/rollouts/abort",
    summary="Abort the rollout in progress",
    response_model=DeploymentRead,
    responses=error_responses(DeploymentNotFound, DeploymentConflict, NoRolloutInProgress, InvalidState),
)
def abort_rollout(
    name: NamePath, session: SessionDep, serving: ServingDep, actor: Editor, body: AbortCreate | None = None
) -> DeploymentRead:
    """The primary takes all the traffic back, as a new revision; the rollout is `aborted` and can be started again."""
    return rollouts.abort(session, serving, actor, name, (body or AbortCreate()).reason)


@router.post(
    "/deployments/{name}/rollback",
    summary="Roll back to the previous revision",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentRead,
    responses=error_responses(*_CHANGE_ERRORS),
)
def rollback(
    name: NamePath,
    session: SessionDep,
    serving: ServingDep,
    rules: RulesDep,
    actor: Editor,
    body: RollbackCreate | None = None,
) -> DeploymentRead:
    """During a rollout: the primary takes all the traffic back (the rollout is `rolled_back`).
    After a promoted rollout: the routes from before it. Else: the revision before the current one.
    Warmed up again, as a new revision."""
    return rollouts.rollback(session, serving, actor, name, body or RollbackCreate(), rules)


@router.post(
    "/deployments/{name}/promote",
    summary="Promote a rollout in progress",
    response_model=DeploymentRead,
    responses=error_responses(DeploymentNotFound, DeploymentConflict, NothingToPromote, InvalidState),
)
def promote(name: NamePath, session: SessionDep, serving: ServingDep, actor: Editor) -> DeploymentRead:
    """The rollout's candidate takes all the traffic as the primary (the rollout is `promoted`).
    A direct rollout has nothing to promote (409 `nothing_to_promote`)."""
    return rollouts.promote(session, serving, actor, name)
