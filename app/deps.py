"""Annotated dependency aliases used by routers: the session, the caller, the stores."""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.security import Role, hash_token
from app.auth.token_cache import TokenCache
from app.context import Principal
from app.db.session import SessionFactory
from app.errors import Unauthenticated
from app.jobs.queue import JobQueue
from app.observability import HttpMetrics
from app.ops.startup import DatabaseStartup
from app.outbound import OutboundClient
from app.predictions.log import PredictionLog
from app.serving.batching import MicroBatcher
from app.serving.metrics import ServingMetrics
from app.serving.state import ServingState
from app.settings import Settings
from app.storage import ArtifactStore

API_PREFIX = "/api/v1"
P = ParamSpec("P")
T = TypeVar("T")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: commit when the endpoint returns, roll back when it raises."""
    with request.app.state.sessions.begin(write=request.method not in _READ_METHODS) as session:
        yield session


# scope="function": commit right after the endpoint returns and before the response is sent,
# so a failed commit is reported to the client instead of after a 2xx went out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _from_app_state(attribute: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving `request.app.state.<attribute>`, which the lifespan set up. Async:
    FastAPI runs a plain `def` dependency in the thread pool, and a hop there and back costs more
    than the whole lookup (predict took four hops, not one)."""

    async def from_app_state(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    from_app_state.__name__ = f"get_{attribute}"
    return from_app_state


SettingsDep = Annotated[Settings, Depends(_from_app_state("settings"))]
StoreDep = Annotated[ArtifactStore, Depends(_from_app_state("store"))]
StartupDep = Annotated[DatabaseStartup, Depends(_from_app_state("startup"))]
# The session factory itself, for an endpoint that opens its own short session (readiness).
SessionsDep = Annotated[SessionFactory, Depends(_from_app_state("sessions"))]
JobQueueDep = Annotated[JobQueue, Depends(_from_app_state("job_queue"))]
HttpMetricsDep = Annotated[HttpMetrics, Depends(_from_app_state("http_metrics"))]
ServingDep = Annotated[ServingState, Depends(_from_app_state("serving"))]
BatcherDep = Annotated[MicroBatcher, Depends(_from_app_state("batcher"))]
ServingMetricsDep = Annotated[ServingMetrics, Depends(_from_app_state("serving_metrics"))]
PredictionLogDep = Annotated[PredictionLog, Depends(_from_app_state("prediction_log"))]
# The one client for outbound HTTP (webhooks), with the settings' allow-list.
OutboundDep = Annotated[OutboundClient, Depends(_from_app_state("outbound"))]


@dataclass(frozen=True)
class Page:
    """Which page a list route answers: after `token` (a previous page's `next_page_token`), at most
    `max_results` items."""

    token: str | None
    max_results: int


async def _page(
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page:
    return Page(page_token, max_results)


PageDep = Annotated[Page, Depends(_page)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def _authenticate(request: Request, token: str) -> Principal:
    """The token's principal: from the app's token cache, else looked up in the database."""
    cache: TokenCache = request.app.state.token_cache
    token_hash = hash_token(token)
    cached = cache.get(token_hash)
    if cached is not None:
        return cached
    generation = cache.generation()
    principal, expires_at = await run_in_threadpool(_look_up_token, request, token_hash)
    cache.put(token_hash, principal, expires_at, generation)
    return principal


def _look_up_token(request: Request, token_hash: str) -> tuple[Principal, datetime | None]:
    # A short read session of its own: on SQLite the request's write session holds the write
    # lock from its first statement, and a token lookup need not be inside that.
    with request.app.state.sessions(write=False) as session:
        return auth_service.authenticate_token(session, token_hash)


# Declares the bearer token in the OpenAPI schema (docs, SDK, schemathesis' ignored_auth check);
# the header itself is read by _bearer_token, which refuses a malformed one with a 401.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="An API token: `Bearer shp_...`.")
BearerDeclared = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


# The auth dependencies are async: a cached token then costs no hop to the thread pool.
async def optional_principal(request: Request, _: BearerDeclared = None) -> Principal | None:
    token = _bearer_token(request)
    return await _authenticate(request, token) if token else None


async def current_principal(request: Request, _: BearerDeclared = None) -> Principal:
    token = _bearer_token(request)
    if token is None:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    return await _authenticate(request, token)


def _role_checker(role: Role):  # type: ignore[no-untyped-def]
    # Calls current_principal itself rather than depending on it: one level of dependency
    # solving less on every guarded request.
    async def check(request: Request, _: BearerDeclared = None) -> Principal:
        principal = await current_principal(request)
        auth_service.require_role(principal, role)
        return principal

    check.__name__ = f"require_{role.value}"
    return check


async def require_predictor(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A viewer, or a predict-only token naming the deployment in the path (`name`); a route without
    one (the V2 server metadata) takes any token that may predict somewhere."""
    name = request.path_params.get("name")
    if name is not None:
        auth_service.require_predict(principal, str(name))
    elif not principal.predict_only:
        auth_service.require_role(principal, Role.viewer)
    return principal


async def require_feedback_sender(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """An editor, or a predict-only token naming the deployment in the path."""
    auth_service.require_feedback(principal, str(request.path_params.get("name", "")))
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
Viewer = Annotated[Principal, Depends(_role_checker(Role.viewer))]
Editor = Annotated[Principal, Depends(_role_checker(Role.editor))]
Admin = Annotated[Principal, Depends(_role_checker(Role.admin))]
# The predict routes (REST and V2): a viewer, or a predict-only token for that deployment.
Predictor = Annotated[Principal, Depends(require_predictor)]
FeedbackSender = Annotated[Principal, Depends(require_feedback_sender)]


async def in_transaction(
    request: Request, use_case: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """`use_case(session, ...)` in the request's unit of work, committed before the response is sent,
    like SessionDep, but in one hop to the thread pool: a SessionDep route takes three (open the
    session, run the endpoint, commit), and on a busy server each hop waits for a thread."""

    def unit() -> T:
        with request.app.state.sessions.begin(write=request.method not in _READ_METHODS) as session:
            return use_case(session, *args, **kwargs)

    return await run_in_threadpool(unit)
