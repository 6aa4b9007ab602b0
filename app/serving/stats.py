"""Traffic counts each serving process keeps in memory for the rollout analysis, per
(deployment, revision, model, version): requests, errors, a fixed-bucket latency histogram and
shadow agreement. The hot path only adds to a dict under a lock; a flusher writes the deltas."""

import threading
from dataclasses import dataclass, field

from app.rollouts.decision import LATENCY_BUCKETS_MS, bucket_of

# (folded deployment name, revision, model, version)
StatsKey = tuple[str, int, str, int]


def _empty_buckets() -> list[int]:
    return [0] * (len(LATENCY_BUCKETS_MS) + 1)


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0
    latency_buckets: list[int] = field(default_factory=_empty_buckets)
    shadow_compared: int = 0
    shadow_agreed: int = 0
    shadow_dropped: int = 0

    def add(self, other: "Counts") -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency_buckets = [a + b for a, b in zip(self.latency_buckets, other.latency_buckets, strict=True)]
        self.shadow_compared += other.shadow_compared
        self.shadow_agreed += other.shadow_agreed
        self.shadow_dropped += other.shadow_dropped


class TrafficStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[StatsKey, Counts] = {}

    def _at(self, key: StatsKey) -> Counts:
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = Counts()
        return found

    def record(self, key: StatsKey, *, error: bool, seconds: float | None) -> None:
        with self._lock:
            counts = self._at(key)
            counts.requests += 1
            counts.errors += int(error)
            if seconds is not None:
                counts.latency_buckets[bucket_of(seconds * 1000)] += 1

    def record_shadow(self, key: StatsKey, *, compared: int, agreed: int) -> None:
        """Rows of one request the shadow answered too, and how many of its answers agreed."""
        with self._lock:
            counts = self._at(key)
            counts.shadow_compared += compared
            counts.shadow_agreed += agreed

    def record_shadow_drop(self, key: StatsKey) -> None:
        with self._lock:
            self._at(key).shadow_dropped += 1

    def take(self) -> dict[StatsKey, Counts]:
        """Everything counted since the last take, and a fresh start."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def put_back(self, taken: dict[StatsKey, Counts]) -> None:
        """Counts a flush could not write, kept for the next one."""
        with self._lock:
            for key, counts in taken.items():
                self._at(key).add(counts)
