"""The background poller that keeps a process's route tables in step with the database: it
reads the one serving generation number and reloads the deployments changed since; then it
records this replica's heartbeat (the generation it has applied), which rollouts wait on."""

import logging

from app.db.session import SessionFactory
from app.deployments import service as deployments
from app.errors import AppError
from app.periodic import PeriodicThread
from app.rollouts import service as rollouts
from app.serving.state import RouteTable, ServingState

logger = logging.getLogger(__name__)


class RoutePoller(PeriodicThread):
    """Polls on a daemon thread every `interval` seconds."""

    def __init__(self, sessions: SessionFactory, state: ServingState, interval: float, replica: str) -> None:
        super().__init__("shipyard-route-poller", lambda: interval, self.tick)
        self._sessions = sessions
        self._state = state
        self.replica = replica

    def tick(self) -> None:
        self.poll()
        with self._sessions.begin() as session:
            rollouts.record_heartbeat(session, self.replica, self._state.generation)

    def stop(self) -> None:
        super().stop()
        # A process that stops serving is no replica a rollout should wait for.
        try:
            with self._sessions.begin() as session:
                rollouts.forget_replica(session, self.replica)
        except Exception:
            logger.warning("replica %s: its heartbeat could not be removed", self.replica)

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
