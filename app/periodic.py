"""A daemon thread that calls one function every few seconds: the job reconciler and the
serving route poller each run on one, once per process however often an app's lifespan starts."""

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("shipyard.periodic")


class PeriodicThread:
    def __init__(self, name: str, interval: Callable[[], float], tick: Callable[[], object]) -> None:
        self._name = name
        self._interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:
                # One failed pass (the database away for a moment) must not end the thread.
                logger.exception("%s: a pass failed", self._name)
            if self._stop.wait(self._interval()):
                return
