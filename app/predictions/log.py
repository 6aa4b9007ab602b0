"""The prediction log's buffer and flusher. The request thread samples a prediction's rows and
appends them to a bounded in-memory buffer (dropped and counted when it is full, never waited
for); a background thread writes the buffer out as Parquet segments in the artifact store, one
per deployment, model version and revision per pass, each indexed by a row in the database."""

import io
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge

from app.db.session import SessionFactory
from app.db.tables import PredictionSegment
from app.periodic import PeriodicThread
from app.predictions import repository, segments
from app.serving.payload import Batch
from app.serving.state import Route, RouteTable
from app.storage import ArtifactStore, join_key

logger = logging.getLogger(__name__)

# A segment that failed to be written is tried again on the next passes, this many times in all.
MAX_ATTEMPTS = 5


class PredictionLogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "shipyard_prediction_log_rows_total",
            "Predicted rows written to the prediction log.",
            ["deployment"],
            registry=registry,
        )
        self.dropped = Counter(
            "shipyard_prediction_log_dropped_total",
            "Sampled rows not logged: the buffer was full, or their segment failed to be written too often.",
            ["deployment"],
            registry=registry,
        )
        self.failures = Counter(
            "shipyard_prediction_log_write_failures_total",
            "Segments that failed to be written (kept for another pass until their attempts run out).",
            registry=registry,
        )
        self.buffered = Gauge(
            "shipyard_prediction_log_buffered_rows", "Logged rows waiting to be written.", registry=registry
        )


@dataclass
class _Chunk:
    """The sampled rows of one predict request."""

    deployment_id: int
    deployment: str
    route: Route
    revision: int
    predicted_at: datetime
    latency_ms: float
    base: str
    # Row numbers within the request (the `<row>` of the prediction id); None: all of them.
    row_numbers: np.ndarray | None
    rows: int
    columns: dict[str, np.ndarray]
    predictions: list[Any]
    probabilities: list[list[float]] | None
    attempts: int = field(default=0)

    @property
    def group(self) -> tuple[int, int, int]:
        return (self.deployment_id, self.route.version_id, self.revision)


class PredictionLog:
    def __init__(
        self,
        sessions: SessionFactory,
        store: ArtifactStore,
        metrics: PredictionLogMetrics,
        *,
        sample_rate: float,
        capacity_rows: int,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._metrics = metrics
        self._sample_rate = sample_rate
        self._capacity = capacity_rows
        self._chunks: deque[_Chunk] = deque()
        self._rows = 0
        self._lock = threading.Lock()
        # One pass at a time: the flusher's thread and the flush at shutdown.
        self._flush_lock = threading.Lock()
        self._rng = np.random.default_rng()
        metrics.buffered.set_function(lambda: self._rows)

    @property
    def buffered_rows(self) -> int:
        return self._rows

    def record(
        self,
        table: RouteTable,
        route: Route,
        batch: Batch,
        base: str,
        predictions: list[Any],
        probabilities: list[list[float]] | None,
        latency_seconds: float,
    ) -> None:
        """Called by the request thread once the answer is ready: no I/O, one short lock."""
        rate = self._sample_rate if table.log_sample_rate is None else table.log_sample_rate
        if rate <= 0:
            return
        columns = batch.columns
        row_numbers = None
        if rate < 1:
            row_numbers = np.flatnonzero(self._rng.random(batch.rows) < rate)
            if row_numbers.size == 0:
                return
            columns = {name: values[row_numbers] for name, values in columns.items()}
            predictions = [predictions[i] for i in row_numbers]
            if probabilities is not None:
                probabilities = [probabilities[i] for i in row_numbers]
        rows = batch.rows if row_numbers is None else int(row_numbers.size)
        chunk = _Chunk(
            deployment_id=table.deployment_id,
            deployment=table.deployment,
            route=route,
            revision=table.revision,
            predicted_at=datetime.now(UTC),
            latency_ms=latency_seconds * 1000,
            base=base,
            row_numbers=row_numbers,
            rows=rows,
            columns=columns,
            predictions=predictions,
            probabilities=probabilities,
        )
        with self._lock:
            accepted = self._rows + rows <= self._capacity
            if accepted:
                self._chunks.append(chunk)
                self._rows += rows
        if not accepted:
            self._metrics.dropped.labels(table.deployment).inc(rows)

    def flush(self) -> int:
        """Write what the buffer holds now; the number of rows written. Never raises for a failed
        write: its rows go back to the buffer (while it has room) for the next pass."""
        with self._flush_lock:
            with self._lock:
                taken = list(self._chunks)
                self._chunks.clear()
                self._rows = 0
            groups: dict[tuple[int, int, int], list[_Chunk]] = {}
            for chunk in taken:
                groups.setdefault(chunk.group, []).append(chunk)
            written = 0
            failed: list[_Chunk] = []
            for group in groups.values():
                try:
                    self._write(group)
                except Exception:
                    logger.exception("prediction log: a segment of deployment %s failed", group[0].deployment)
                    self._metrics.failures.inc()
                    failed.extend(group)
                    continue
                written += sum(c.rows for c in group)
                self._metrics.rows.labels(group[0].deployment).inc(sum(c.rows for c in group))
            if failed:
                self._requeue(failed)
            return written

    def _requeue(self, failed: Sequence[_Chunk]) -> None:
        dropped: list[_Chunk] = []
        with self._lock:
            # Back at the front, oldest first, as far as the buffer has room.
            for chunk in reversed(failed):
                chunk.attempts += 1
                if chunk.attempts >= MAX_ATTEMPTS or self._rows + chunk.rows > self._capacity:
                    dropped.append(chunk)
                    continue
                self._chunks.appendleft(chunk)
                self._rows += chunk.rows
        for chunk in dropped:
            self._metrics.dropped.labels(chunk.deployment).inc(chunk.rows)

    def _write(self, group: Sequence[_Chunk]) -> None:
        first = group[0]
        table = build_table(group)
        data = segments.encode(table)
        times = [c.predicted_at for c in group]
        key = join_key(
            "deployments",
            str(first.deployment_id),
            "predictions",
            min(times).strftime("%Y-%m-%d"),
            f"{uuid.uuid4().hex}.parquet",
        )
        self._store.put_file(key, io.BytesIO(data), if_absent=True)
        segment = PredictionSegment(
            deployment_id=first.deployment_id,
            model_version_id=first.route.version_id,
            model=first.route.model,
            version=first.route.version,
            revision=first.revision,
            first_at=min(times),
            last_at=max(times),
            row_count=table.num_rows,
            key=key,
            bytes=len(data),
        )
        try:
            with self._sessions.begin() as session:
                repository.add_segment(session, segment)
        except Exception:
            # No index row, no segment: a reader must never find a file the index does not name.
            try:
                self._store.delete(key)
            except Exception:
                logger.warning("prediction log: could not remove the unindexed segment %s", key)
            raise


def build_table(group: Sequence[_Chunk]) -> pa.Table:
    """The rows of chunks of one version as one Arrow table, in the segment layout."""
    first = group[0]
    ids: list[str] = []
    times: list[int] = []
    latencies: list[float] = []
    predictions: list[Any] = []
    probabilities: list[list[float] | None] = []
    for chunk in group:
        numbers = range(chunk.rows) if chunk.row_numbers is None else chunk.row_numbers.tolist()
        ids.extend(f"{chunk.base}-{n}" for n in numbers)
        micros = segments.micros(chunk.predicted_at)
        times.extend([micros] * chunk.rows)
        latencies.extend([chunk.latency_ms] * chunk.rows)
        predictions.extend(chunk.predictions)
        probabilities.extend(chunk.probabilities if chunk.probabilities is not None else [None] * chunk.rows)
    rows = len(ids)
    arrays: dict[str, pa.Array] = {
        "prediction_id": pa.array(ids, type=pa.string()),
        "predicted_at": pa.array(np.asarray(times, dtype=np.int64), type=pa.int64()).cast(segments.TIME_TYPE),
        "version": pa.array(np.full(rows, first.route.version, dtype=np.int32)),
        "revision": pa.array(np.asarray([c.revision for c in group for _ in range(c.rows)], dtype=np.int32)),
        "latency_ms": pa.array(np.asarray(latencies, dtype=np.float64)),
    }
    for name in first.columns:
        values = np.concatenate([c.columns[name] for c in group])
        arrays[segments.INPUT_PREFIX + name] = (
            pa.array(values, type=pa.string()) if values.dtype == object else pa.array(values)
        )
    arrays["prediction"] = segments.predictions_array(predictions)
    arrays["probabilities"] = pa.array(probabilities, type=pa.list_(pa.float64()))
    return pa.table(arrays)


class PredictionLogFlusher(PeriodicThread):
    """Flushes the log every `interval` seconds, and once more when stopped."""

    def __init__(self, log: PredictionLog, interval: float) -> None:
        super().__init__("shipyard-prediction-log", lambda: interval, log.flush)
        self._log = log

    def stop(self) -> None:
        super().stop()
        started = time.monotonic()
        written = self._log.flush()
        if written:
            logger.info("prediction log: wrote %d rows at shutdown in %.2fs", written, time.monotonic() - started)
