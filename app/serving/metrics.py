"""The serving metrics, labelled by deployment and version (registered names, never raw input)."""

from prometheus_client import CollectorRegistry, Counter, Histogram


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

    def observe_batch(self, deployment: str, version: int, rows: int) -> None:
        self.batch_rows.labels(deployment, str(version)).observe(rows)

    def observe(self, deployment: str, version: str, outcome: str, seconds: float | None) -> None:
        self.predictions.labels(deployment, version, outcome).inc()
        if seconds is not None:
            self.latency.labels(deployment, version).observe(seconds)
