"""Bringing the metadata database up at start without needing it there: migrations and the first
admin are retried in the background until the database answers, and until then every API call is
a 503 `database_unavailable` with Retry-After (only /healthz, /readyz and /metrics are served)."""

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import OperationalError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.bootstrap import ensure_admin
from app.db.migrate import prepare_data_dir, retry_until_reachable, upgrade_engine
from app.db.session import SessionFactory
from app.errors import PROBLEM_CONTENT_TYPE, DatabaseUnavailable
from app.settings import Settings

logger = logging.getLogger("shipyard.startup")

# Served while the database is not ready: they say what state the process is in.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"})


class DatabaseStartup:
    """Migrate to head and create the first admin, once, retrying while the database is away."""

    def __init__(
        self, sessions: SessionFactory, settings: Settings, *, on_first_admin: Callable[[], None] | None = None
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._on_first_admin = on_first_admin
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _prepare(self) -> None:
        prepare_data_dir(self._settings)
        upgrade_engine(self._sessions.engine)
        if ensure_admin(self._sessions, self._settings) and self._on_first_admin is not None:
            self._on_first_admin()
        self._ready.set()

    def start(self, on_ready: Callable[[], None]) -> None:
        """Prepare now if the database answers, else keep trying on a thread; `on_ready` runs once
        it is prepared (on this thread or that one). A failure other than the database being away
        (a broken migration) propagates: the process should not start."""
        if not self._ready.is_set():
            try:
                self._prepare()
            except OperationalError as exc:
                logger.warning("the database is not reachable (%s); serving 503 until it is", type(exc.orig).__name__)
        if self._ready.is_set():
            on_ready()
            return
        if self._thread is not None and self._thread.is_alive():
            return  # another lifespan of this app already waits for the database
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(on_ready,), name="shipyard-startup", daemon=True)
        self._thread.start()

    def _run(self, on_ready: Callable[[], None]) -> None:
        try:
            if retry_until_reachable(self._prepare, self._settings.database_retry_max_seconds, self._stop):
                logger.info("the database is ready")
                on_ready()
        except Exception:
            # Not the database being away (a failing migration): retrying will not mend it, and
            # /readyz stays 503 so the operator looks at this.
            logger.exception("preparing the database failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class DatabaseGate:
    """ASGI middleware: 503 problem+json with Retry-After for every request but OPEN_PATHS until
    the database is prepared."""

    def __init__(self, app: ASGIApp, *, startup: DatabaseStartup) -> None:
        self.app = app
        self.startup = startup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.startup.ready or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        error = DatabaseUnavailable("the metadata database is not reachable yet; retry shortly")
        response = JSONResponse(
            error.problem(scope["path"]),
            status_code=error.status,
            media_type=PROBLEM_CONTENT_TYPE,
            headers={"Retry-After": str(error.retry_after)},
        )
        await response(scope, receive, send)
