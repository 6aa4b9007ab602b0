"""The background flusher of each serving process's traffic counts (app.serving.stats) into the
serving_stats rows the rollout analysis reads, about once a second."""

import logging

from app.db.base import utcnow
from app.db.session import SessionFactory
from app.periodic import PeriodicThread
from app.rollouts import service as rollouts
from app.serving.stats import TrafficStats

logger = logging.getLogger(__name__)


class StatsFlusher(PeriodicThread):
    """Writes each second's counts of this process as rows the rollout analysis sums; counts a
    failed write could not store are kept for the next pass."""

    def __init__(self, sessions: SessionFactory, stats: TrafficStats, interval: float, replica: str) -> None:
        super().__init__("shipyard-stats-flusher", lambda: interval, self.flush)
        self._sessions = sessions
        self._stats = stats
        self._replica = replica

    def flush(self) -> None:
        taken = self._stats.take()
        if not taken:
            return
        try:
            with self._sessions.begin() as session:
                rollouts.record_stats(session, self._replica, taken, utcnow())
        except BaseException:
            self._stats.put_back(taken)
            raise

    def stop(self) -> None:
        super().stop()
        try:
            self.flush()  # what the last second counted
        except Exception:
            logger.warning("the last traffic counts could not be written")
