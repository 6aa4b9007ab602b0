"""Shadow traffic off the response path: a bounded queue of request copies that one daemon
thread predicts with the shadow version and compares with the primary's answer. A full queue
drops the copy and counts it; a prediction never waits for a shadow."""

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.errors import AppError
from app.serving.payload import parse_request
from app.serving.stats import StatsKey, TrafficStats

logger = logging.getLogger(__name__)

# (deployment, version label, outcome) -> a counter increment, for the Prometheus counter.
Count = Callable[[str, str, str], None]


@dataclass(frozen=True)
class ShadowCopy:
    deployment: str
    key: StatsKey
    route: Any  # app.serving.state.Route (not imported: the state imports this module)
    body: Any
    max_rows: int
    answer: list[Any]
    count: Count
    # The request's own parser (REST or V2), so the shadow reads the body as the primary did.
    parse: Callable[[Any, Any, int], Any] = parse_request


def same(a: Any, b: Any) -> bool:
    """Two predictions agree: equal, or for numbers within a relative 1e-6."""
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


class ShadowQueue:
    def __init__(self, size: int, stats: TrafficStats, load: Callable[[Any], Any]) -> None:
        self._queue: queue.Queue[ShadowCopy] = queue.Queue(maxsize=size)
        self._stats = stats
        self._load = load
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, copy: ShadowCopy) -> None:
        self._start()
        try:
            self._queue.put_nowait(copy)
        except queue.Full:
            self._stats.record_shadow_drop(copy.key)
            copy.count(copy.deployment, str(copy.key[3]), "dropped")

    def drain(self, timeout: float = 5) -> bool:
        """Wait until every queued copy was compared (for tests and shutdown); whether it was."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shipyard-shadow", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            copy = self._queue.get()
            try:
                self._compare(copy)
            except Exception:
                logger.exception("shadow of %s: the comparison failed", copy.deployment)
            finally:
                self._queue.task_done()

    def _compare(self, copy: ShadowCopy) -> None:
        version = str(copy.key[3])
        started = time.perf_counter()
        try:
            loaded = self._load(copy.route)
            batch = copy.parse(copy.body, loaded.signature, copy.max_rows)
            predictions, _ = loaded.predict(batch)
        except AppError as exc:
            self._stats.record(copy.key, error=True, seconds=None)
            self._stats.record_shadow(copy.key, compared=len(copy.answer), agreed=0)
            copy.count(copy.deployment, version, "error")
            logger.info("shadow of %s: %s", copy.deployment, exc.detail)
            return
        self._stats.record(copy.key, error=False, seconds=time.perf_counter() - started)
        agreed = sum(1 for a, b in zip(predictions, copy.answer, strict=False) if same(a, b))
        self._stats.record_shadow(copy.key, compared=len(copy.answer), agreed=agreed)
        copy.count(copy.deployment, version, "agree" if agreed == len(copy.answer) else "disagree")
