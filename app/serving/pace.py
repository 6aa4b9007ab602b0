"""Where a predict runs: on the event loop when the deployment's recent predicts were quick and the
body is small, else in the thread pool. The hop to a thread and back costs about 0.1 ms of CPU,
more than a linear model's own predict; a slow one on the loop would stall every other request."""

import sys
import threading

# A predict on the loop holds up every other request for as long as it takes; one in a thread holds
# the GIL (most of a scikit-learn predict is Python) and gives it up only every switch interval. So
# a predict quicker than that interval is on the loop no worse for the others, and saves the hop.
INLINE_MAX_SECONDS = sys.getswitchinterval()
# A body this size parses (and a model predicts its rows) well within that for plain models.
INLINE_MAX_BYTES = 64 * 1024
# A slow predict keeps a deployment off the loop while later quick ones wear it down by this factor
# each, so a slow canary taking a share of the traffic keeps it off, not every other request.
_DECAY = 0.9
_MAX_ENTRIES = 10_000


class Pace:
    """Per deployment, the CPU time of its recent predicts (a decaying maximum)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def inline(self, deployment: str, body_bytes: int) -> bool:
        """True when a predict of `body_bytes` on `deployment` may run on the loop; an unknown
        deployment (its first request, or after the table was cleared) goes to the thread pool."""
        if body_bytes > INLINE_MAX_BYTES:
            return False
        seconds = self._seconds.get(deployment)
        return seconds is not None and seconds <= INLINE_MAX_SECONDS

    def record(self, deployment: str, seconds: float) -> None:
        with self._lock:
            if len(self._seconds) >= _MAX_ENTRIES and deployment not in self._seconds:
                self._seconds.clear()  # bounded: names come from the path (only existing ones are recorded)
            self._seconds[deployment] = max(seconds, self._seconds.get(deployment, 0.0) * _DECAY)
