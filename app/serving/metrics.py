"""The serving metrics, labelled by deployment and version (registered names, never raw input):
predictions, latency, shadow comparisons, and at scrape time the route weights this process
serves and the state of each deployment's latest rollout."""

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.db.session import SessionFactory
from app.rollouts import service as rollouts
from app.rollouts.schemas import RolloutState
from app.serving.state import ServingState

logger = logging.getLogger(__name__)


class ServingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "shipyard_predictions_total",
            "Predict requests answered, by outcome (ok, invalid_input, model_error, unavailable).",
            ["deployment", "version", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "shipyard_prediction_latency_seconds",
            "Time to parse, check and predict one request.",
            ["deployment", "version"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.batch_rows = Histogram(
            "shipyard_prediction_batch_rows",
            "Rows predicted together in one micro-batch (deployments with batching on).",
            ["deployment", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=registry,
        )
        self.shadow = Counter(
            "shipyard_shadow_comparisons_total",
            "Shadow copies of requests, by outcome (agree, disagree, error, dropped when the queue was full).",
            ["deployment", "version", "outcome"],
            registry=registry,
        )

    def observe_batch(self, deployment: str, version: int, rows: int) -> None:
        self.batch_rows.labels(deployment, str(version)).observe(rows)

    def shadow_count(self, deployment: str, version: str, outcome: str) -> None:
        self.shadow.labels(deployment, version, outcome).inc()

    def observe(self, deployment: str, version: str, outcome: str, seconds: float | None) -> None:
        self.predictions.labels(deployment, version, outcome).inc()
        if seconds is not None:
            self.latency.labels(deployment, version).observe(seconds)


class RolloutCollector(Collector):
    """`shipyard_route_weight` from this process's route tables (what it serves, not what the
    database says), and `shipyard_rollout_state` (1 for the state of each deployment's latest
    rollout) with one query per scrape."""

    def __init__(self, sessions: SessionFactory, state: ServingState) -> None:
        self._sessions = sessions
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        weights = GaugeMetricFamily(
            "shipyard_route_weight",
            "Share of a deployment's traffic (0..100) this process routes to each version.",
            labels=["deployment", "version", "mode"],
        )
        for table in self._state.tables():
            for route in table.routes:
                weights.add_metric([table.deployment, f"{route.model}/{route.version}", route.mode], route.weight)
        yield weights
        states = GaugeMetricFamily(
            "shipyard_rollout_state",
            "1 for the state of each deployment's latest rollout (progressing, promoted, rolled_back, ...).",
            labels=["deployment", "state"],
        )
        try:
            with self._sessions(write=False) as session:
                latest = rollouts.latest_states(session)
        except Exception:
            logger.warning("rollout states could not be read for /metrics", exc_info=True)
            latest = []
        for deployment, current in latest:
            for state in RolloutState:
                states.add_metric([deployment, state.value], 1.0 if state.value == current else 0.0)
        yield states
