"""The background poller that keeps a process's route tables in step with the database: it
reads the one serving generation number and reloads the deployments changed since."""

import logging
import threading

from app.db.session import SessionFactory
from app.deployments import service as deployments
from app.errors import AppError
from app.serving.state import RouteTable, ServingState

logger = logging.getLogger(__name__)


class RoutePoller:
    """One daemon thread per process, however many times the app's lifespan starts."""

    def __init__(self, sessions: SessionFactory, state: ServingState, interval: float) -> None:
        self._sessions = sessions
        self._state = state
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="shipyard-route-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def poll(self) -> None:
        with self._sessions(write=False) as session:
            generation = deployments.current_generation(session)
            if generation == self._state.generation:
                return
            tables = deployments.route_tables_since(session, self._state.generation)
        for table in tables:
            self._preload(table)
        self._state.apply(tables)
        self._state.generation = generation

    def _preload(self, table: RouteTable) -> None:
        # Warm what a change elsewhere routes to before this process sends it traffic; a version
        # that fails here is logged, and requests to it answer with the reason.
        for route in table.routes:
            if route.key in self._state.cache:
                continue
            try:
                self._state.load(route)
            except AppError as exc:
                logger.warning("deployment %s: %s", table.deployment, exc.detail)

    def _loop(self) -> None:
        while True:
            try:
                self.poll()
            except Exception:
                logger.exception("route poll failed")
            if self._stop.wait(self._interval):
                return
