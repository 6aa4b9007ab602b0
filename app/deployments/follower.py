"""The alias follower: a deployment created with `track_alias` rolls out the version its alias
moves to. It polls rather than hooking the registry, so a move made anywhere (a request on
another replica, an evaluation job's gate on a worker) is followed, and a pass missed while
the database was away is made up on the next one."""

import logging

from app.db.session import SessionFactory
from app.deployments import service
from app.errors import DeploymentConflict
from app.periodic import PeriodicThread
from app.serving.state import ServingState

logger = logging.getLogger(__name__)


class AliasFollower(PeriodicThread):
    def __init__(
        self, sessions: SessionFactory, state: ServingState, rules: service.ServingRules, interval: float
    ) -> None:
        super().__init__("shipyard-alias-follower", lambda: interval, self.follow)
        self._sessions = sessions
        self._state = state
        self._rules = rules

    def follow(self) -> list[str]:
        """One pass; returns what came of each move (for logs and tests)."""
        with self._sessions(write=False) as session:
            moves = service.alias_moves(session)
        outcomes = []
        for move in moves:
            try:
                # One transaction per deployment: one that fails leaves the others to roll out.
                with self._sessions.begin() as session:
                    outcome = service.follow_alias(session, self._state, move, self._rules)
            except DeploymentConflict:
                continue  # another replica or a person is changing it; the next pass looks again
            logger.info("deployment %s: %s", move.deployment, outcome)
            outcomes.append(outcome)
        return outcomes
