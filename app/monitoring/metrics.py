"""The drift gauges, read at scrape time from the newest stored drift report of each deployment
(so they survive restarts and agree across server processes), cached for a few seconds; a
database that does not answer leaves the last values (or none) and never fails the scrape."""

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.db.session import SessionFactory
from app.db.tables import DriftReport
from app.monitoring import service

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class _Gauges:
    """What one deployment's newest report shows."""

    deployment: str
    drifted_share: float
    dataset_drift: bool
    # (column, test, score): the p-value for a test judged by one, else its statistic.
    columns: tuple[tuple[str, str, float], ...]
    # (version, metric, value) from the performance section.
    live: tuple[tuple[str, str, float], ...]


class DriftCollector(Collector):
    """`shipyard_drift_share{deployment}`, `shipyard_dataset_drift{deployment}`,
    `shipyard_drift_column_score{deployment,column,test}` and
    `shipyard_live_metric{deployment,version,metric}`."""

    def __init__(
        self,
        sessions: SessionFactory,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._gauges: list[_Gauges] = []
        self._read_at: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauges = self._current()
        share = GaugeMetricFamily(
            "shipyard_drift_share",
            "Share of input columns that drifted in the newest drift report.",
            labels=["deployment"],
        )
        dataset = GaugeMetricFamily(
            "shipyard_dataset_drift",
            "1 when the newest drift report found dataset drift (the drifted share reached drift_share), else 0.",
            labels=["deployment"],
        )
        columns = GaugeMetricFamily(
            "shipyard_drift_column_score",
            "Each column's drift score in the newest drift report: the p-value of a test judged by one, else "
            "its statistic (distance).",
            labels=["deployment", "column", "test"],
        )
        live = GaugeMetricFamily(
            "shipyard_live_metric",
            "A version's metric from feedback in the newest drift report (accuracy, f1, rmse, mae).",
            labels=["deployment", "version", "metric"],
        )
        for entry in gauges:
            share.add_metric([entry.deployment], entry.drifted_share)
            dataset.add_metric([entry.deployment], 1.0 if entry.dataset_drift else 0.0)
            for column, test, score in entry.columns:
                columns.add_metric([entry.deployment, column, test], score)
            for version, metric, value in entry.live:
                live.add_metric([entry.deployment, version, metric], value)
        yield share
        yield dataset
        yield columns
        yield live

    def _current(self) -> list[_Gauges]:
        with self._lock:
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self._cache_seconds:
                return self._gauges
            # Stamped first: while the database is away, it is asked once per cache period, not per scrape.
            self._read_at = now
            try:
                with self._sessions(write=False) as session:
                    self._gauges = [_gauges(name, report) for name, report in service.newest_reports(session)]
            except Exception:
                logger.warning(
                    "drift reports could not be read for /metrics; showing the last ones read", exc_info=True
                )
            return self._gauges


def _gauges(deployment: str, report: DriftReport) -> _Gauges:
    body = report.body
    columns = []
    for column in body.get("columns", []):
        score = column.get("p_value")
        if score is None:
            score = column.get("statistic")
        number = _number(score)
        if number is not None and column.get("test"):
            columns.append((str(column["column"]), str(column["test"]), number))
    live = []
    for version in (body.get("performance") or {}).get("versions", []):
        for metric, value in (version.get("metrics") or {}).items():
            number = _number(value)
            if number is not None:
                live.append((str(version["version"]), str(metric), number))
    return _Gauges(
        deployment=deployment,
        drifted_share=report.drifted_share,
        dataset_drift=bool(body.get("dataset", {}).get("drift_detected", report.drift_detected)),
        columns=tuple(columns),
        live=tuple(live),
    )


def _number(value: Any) -> float | None:
    """A stored number; JSON columns keep NaN and ±Infinity as the strings "NaN", "Infinity"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isnan(number) or math.isinf(number) else None
    return None
