"""Health, readiness and /metrics (no /api/v1 prefix)."""

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from app.auth.security import Role
from app.deps import HttpMetricsDep, SessionsDep, SettingsDep, StartupDep, StoreDep, optional_principal
from app.errors import Forbidden, Unauthenticated, error_responses
from app.ops import service

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", summary="Liveness check", response_model=Health)
def healthz() -> Health:
    """The process is up (it does not look at its dependencies; /readyz does)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness check",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(sessions: SessionsDep, store: StoreDep, startup: StartupDep) -> JSONResponse:
    # Its own session: the request's session dependency would fail the request before the check.
    with sessions(write=False) as session:
        checks = service.readiness(session, store, database_prepared=startup.ready)
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


@router.get("/v2/health/live", summary="Liveness check (Open Inference Protocol)", response_model=V2Live)
def v2_live() -> V2Live:
    """As /healthz, in the KServe V2 form."""
    return V2Live(live=True)


@router.get(
    "/v2/health/ready",
    summary="Readiness check (Open Inference Protocol)",
    response_model=V2Ready,
    responses={503: {"model": V2Ready, "description": "Not ready"}},
)
def v2_ready(sessions: SessionsDep, store: StoreDep, startup: StartupDep) -> JSONResponse:
    """As /readyz (database and artifact store), in the KServe V2 form; public like /readyz."""
    with sessions(write=False) as session:
        checks = service.readiness(session, store, database_prepared=startup.ready)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


async def _metrics_access(settings: SettingsDep, request: Request) -> None:
    """Public by default (Prometheus scrapes without a token); a setting makes it need a viewer."""
    if settings.metrics_public:
        return
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    if principal.predict_only or not principal.role.allows(Role.viewer):
        raise Forbidden("this needs the viewer role")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(_metrics_access)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **error_responses()},
)
def metrics(http_metrics: HttpMetricsDep) -> Response:
    return Response(generate_latest(http_metrics.registry), media_type=CONTENT_TYPE_LATEST)
