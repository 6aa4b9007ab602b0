"""create_app(): settings, stores, routers, middleware and exception handlers."""

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.auth.token_cache import TokenCache
from app.datasets.router import router as datasets_router
from app.db.session import SessionFactory, create_db_engine
from app.deployments.follower import AliasFollower
from app.deployments.router import router as deployments_router
from app.deployments.service import ServingRules
from app.docs import router as docs_router
from app.errors import PROBLEM_CONTENT_TYPE
from app.handlers import install_handlers
from app.jobs.handlers import build_runtime
from app.jobs.metrics import JobCountCollector
from app.jobs.queue import CeleryJobQueue, EmbeddedJobQueue, JobQueue
from app.jobs.router import router as jobs_router
from app.jobs.runner import Reconciler, run_job
from app.middleware import EdgeMiddleware
from app.monitoring.metrics import DriftCollector
from app.monitoring.router import router as monitoring_router
from app.observability import HttpMetrics
from app.ops.router import router as ops_router
from app.ops.startup import DatabaseGate, DatabaseStartup
from app.predictions.log import PredictionLog, PredictionLogFlusher, PredictionLogMetrics
from app.predictions.router import router as predictions_router
from app.registry.router import router as registry_router
from app.schedules.router import router as schedules_router
from app.schedules.scheduler import Scheduler
from app.serving.batching import MicroBatcher
from app.serving.flusher import StatsFlusher
from app.serving.metrics import RolloutCollector, ServingMetrics
from app.serving.poller import RoutePoller
from app.serving.router import router as serving_router
from app.serving.state import ServingState
from app.serving.v2_router import router as v2_router
from app.settings import Settings, get_settings
from app.storage import create_store
from app.tracking.router import router as tracking_router
from app.webhooks.router import router as webhooks_router
from app.webhooks.service import outbound_client

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


def create_app(settings: Settings | None = None, *, on_first_admin: Callable[[], None] | None = None) -> FastAPI:
    """The API. `on_first_admin` runs once this process has created the first admin user."""
    settings = settings or get_settings()
    engine = create_db_engine(settings)
    sessions = SessionFactory(engine)
    store = create_store(settings)
    http_metrics = HttpMetrics()
    runtime = build_runtime(sessions, store, settings, create_job_queue(settings), http_metrics.registry)
    if isinstance(runtime.queue, EmbeddedJobQueue):
        worker = f"{socket.gethostname()}:{os.getpid()}:embedded"
        runtime.queue.bind(lambda job_id: run_job(runtime, job_id, worker))
    reconciler = Reconciler(runtime)
    # With a broker, `shipyard beat` fires the schedules (through a worker), not the API processes.
    scheduler = None if settings.broker_url else Scheduler(runtime)
    startup = DatabaseStartup(sessions, settings, on_first_admin=on_first_admin)
    serving = ServingState(
        store,
        cache_size=settings.model_cache_size,
        max_ratio=settings.max_compression_ratio,
        min_bytes=settings.compression_ratio_min_bytes,
        shadow_queue_size=settings.shadow_queue_size,
    )
    follower = AliasFollower(
        sessions, serving, ServingRules(allow_pickle=settings.allow_pickle), settings.serving_poll_seconds
    )
    prediction_log = PredictionLog(
        sessions,
        store,
        PredictionLogMetrics(http_metrics.registry),
        sample_rate=settings.prediction_log_sample_rate,
        capacity_rows=settings.prediction_log_buffer_rows,
    )
    log_flusher = PredictionLogFlusher(prediction_log, settings.prediction_log_flush_seconds)
    # This process as a serving replica, in its heartbeat and its traffic counts.
    replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    poller = RoutePoller(sessions, serving, settings.serving_poll_seconds, replica)
    stats_flusher = StatsFlusher(sessions, serving.stats, settings.serving_stats_flush_seconds, replica)

    def on_database_ready() -> None:
        reconciler.start()
        if scheduler is not None:
            scheduler.start()
        poller.start()
        follower.start()
        log_flusher.start()
        stats_flusher.start()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Migrations and the first admin: now if the database answers, else in the background
        # while the API answers 503; the reconciler starts once the database is ready.
        await run_in_threadpool(startup.start, on_database_ready)
        yield
        startup.stop()
        reconciler.stop()
        if scheduler is not None:
            scheduler.stop()
        poller.stop()
        follower.stop()
        # Stopping flushes what the buffers still hold, before the engine goes.
        log_flusher.stop()
        stats_flusher.stop()
        batcher.close()
        runtime.queue.close()
        engine.dispose()

    app = FastAPI(
        title="Shipyard",
        version="0.1.0",
        description="Self-hosted MLOps: tracking, registry, jobs, deployments and monitoring.",
        lifespan=lifespan,
        # /docs is app.docs (Swagger UI from the server's own files); ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.store = store
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    app.state.job_queue = runtime.queue
    app.state.job_runtime = runtime
    app.state.scheduler = scheduler
    app.state.http_metrics = http_metrics
    app.state.startup = startup
    app.state.serving = serving
    app.state.serving_metrics = ServingMetrics(app.state.http_metrics.registry)
    app.state.prediction_log = prediction_log
    app.state.outbound = outbound_client(settings)
    app.state.batcher = batcher = MicroBatcher(app.state.serving_metrics.observe_batch)
    app.state.http_metrics.registry.register(RolloutCollector(sessions, serving))
    app.state.http_metrics.registry.register(
        JobCountCollector(sessions, runtime.handlers, settings.metrics_cache_seconds)
    )
    app.state.http_metrics.registry.register(DriftCollector(sessions, settings.metrics_cache_seconds))

    # The predict route first: routing tries the routes in order, and it is the hot path.
    for router in (
        serving_router,
        auth_router,
        audit_router,
        tracking_router,
        registry_router,
        datasets_router,
        jobs_router,
        schedules_router,
        deployments_router,
        predictions_router,
        webhooks_router,
        monitoring_router,
        v2_router,
        ops_router,
        docs_router,
    ):
        app.include_router(router)
    install_handlers(app)
    app.add_middleware(DatabaseGate, startup=startup)
    app.add_middleware(
        EdgeMiddleware,
        metrics=app.state.http_metrics,
        max_json_body_bytes=settings.max_json_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        allowed_hosts=settings.allowed_hosts,
        client_timeout_seconds=settings.client_timeout_seconds,
    )
    _add_problem_schema(app)
    return app


def create_job_queue(settings: Settings) -> JobQueue:
    """Celery on the broker when one is configured, else threads in this process."""
    if settings.broker_url:
        return CeleryJobQueue(settings.broker_url)
    return EmbeddedJobQueue(settings.job_threads)


def _add_problem_schema(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            _add_edge_responses(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_edge_responses(schema: dict[str, Any]) -> None:
    """The answers the edge gives before any route runs: 400 for a Host not served (any
    operation) or a JSON body that is not UTF-8, 408 for a body that stops arriving."""
    problem = {"content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("400", {"description": "Bad request", **problem})
            if "requestBody" in operation:
                responses.setdefault("408", {"description": "Request timeout", **problem})
