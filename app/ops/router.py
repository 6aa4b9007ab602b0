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


async def _metrics_access(settings: SettingsDep, request: Request) -> None:
    """Public by default (Prometheus scrapes without a token); a setting makes it need a viewer."""
    if settings.metrics_public:
        return
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    if not principal.role.allows(Role.viewer):
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
