"""create_app(): settings, stores, routers, middleware and exception handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.db.session import SessionFactory, create_db_engine
from app.handlers import install_handlers
from app.middleware import EdgeMiddleware
from app.observability import HttpMetrics
from app.ops.router import router as ops_router
from app.registry.router import router as registry_router
from app.settings import Settings, get_settings
from app.storage import create_store
from app.tracking.router import router as tracking_router

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details, with a stable machine-readable code.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_db_engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Shipyard",
        version="0.1.0",
        description="Self-hosted MLOps: tracking, registry, jobs, deployments and monitoring.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = SessionFactory(engine)
    app.state.store = create_store(settings)
    app.state.http_metrics = HttpMetrics()

    for router in (auth_router, audit_router, tracking_router, registry_router, ops_router):
        app.include_router(router)
    install_handlers(app)
    app.add_middleware(
        EdgeMiddleware,
        metrics=app.state.http_metrics,
        max_json_body_bytes=settings.max_json_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    _add_problem_schema(app)
    return app


def _add_problem_schema(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
