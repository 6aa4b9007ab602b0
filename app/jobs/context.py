"""What a running job's code sees: progress reports that renew the lease and are the
checkpoints where a cancel or a lost lease stops the job, and a log whose tail is kept."""

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.context import Principal


class JobCancelled(Exception):
    """A cancel was requested; raised at the next progress checkpoint."""


class LeaseLost(Exception):
    """Another worker holds the job now (our lease expired); this attempt must not commit."""


@dataclass
class JobContext:
    job_id: str
    job_type: str
    spec: dict[str, Any]
    attempt: int
    token: int
    actor: Principal
    # Writes progress/message/log tail and renews the lease; returns whether a cancel was
    # requested, or None when the token is stale.
    _report: Callable[[float, str, str], bool | None]
    _log: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    cancel_seen: bool = False

    def log(self, line: str) -> None:
        with self._lock:
            self._log.append(line.rstrip()[:500])

    def log_tail(self) -> str:
        with self._lock:
            return "\n".join(self._log)

    def progress(self, fraction: float, message: str) -> None:
        """Report progress (0..1); raises JobCancelled or LeaseLost at this checkpoint."""
        self.log(f"[{fraction:4.0%}] {message}")
        outcome = self._report(max(0.0, min(1.0, fraction)), message[:1000], self.log_tail())
        if outcome is None:
            raise LeaseLost(f"job {self.job_id} is no longer ours (fencing token {self.token} is stale)")
        if outcome or self.cancel_seen:
            self.cancel_seen = True
            raise JobCancelled(f"job {self.job_id} was cancelled")
