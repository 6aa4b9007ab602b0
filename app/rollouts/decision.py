"""The analysis decision of one rollout step, as a pure function of the step's numbers: advance,
promote, roll back or keep waiting. Missing data is never healthy."""

from dataclasses import dataclass
from typing import Literal

# Upper bounds (ms) of the latency histogram every serving process keeps; the last one is open.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
)  # fmt: skip

Action = Literal["wait", "advance", "promote", "rollback"]


@dataclass(frozen=True)
class Thresholds:
    max_error_rate: float | None
    max_p95_ms: float | None
    min_requests: int
    step_timeout_seconds: float
    # How far the candidate's live metric (from feedback) may fall below the primary's.
    max_live_metric_drop: float | None = None


@dataclass(frozen=True)
class StepStats:
    requests: int = 0
    errors: int = 0
    # Counts per bucket of LATENCY_BUCKETS_MS, plus one for slower than the last bound.
    latency_buckets: tuple[int, ...] = ()
    shadow_compared: int = 0
    shadow_agreed: int = 0
    shadow_dropped: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p95_ms(self) -> float | None:
        return percentile_ms(self.latency_buckets, 0.95)

    @property
    def agreement(self) -> float | None:
        return self.shadow_agreed / self.shadow_compared if self.shadow_compared else None

    def summary(self) -> dict[str, float | int | None]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "shadow_compared": self.shadow_compared,
            "shadow_agreed": self.shadow_agreed,
            "shadow_dropped": self.shadow_dropped,
            "agreement": self.agreement,
        }


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def bucket_of(milliseconds: float) -> int:
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if milliseconds <= bound:
            return index
    return len(LATENCY_BUCKETS_MS)


def percentile_ms(buckets: tuple[int, ...], fraction: float) -> float | None:
    """The upper bound of the bucket holding the `fraction` quantile: never lower than the truth.
    Past the last bound it is infinity, which crosses any threshold."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else float("inf")
    return float("inf")


def decide(
    thresholds: Thresholds,
    candidate: StepStats,
    *,
    held_seconds: float,
    interval_seconds: float,
    last_step: bool,
    live: tuple[tuple[float, int], tuple[float, int]] | None = None,
) -> Decision:
    """`held_seconds` since the step's clock started; `live` is ((candidate value, rows),
    (primary value, rows)) of the live metric when feedback exists."""
    enough = candidate.requests >= thresholds.min_requests
    # A crossed threshold rolls back at once, without holding the rest of the interval.
    if enough and candidate.requests:
        rate = candidate.error_rate or 0.0
        if thresholds.max_error_rate is not None and rate > thresholds.max_error_rate:
            return Decision(
                "rollback",
                f"error rate {rate:.3f} over {candidate.requests} requests is above {thresholds.max_error_rate}",
            )
        p95 = candidate.p95_ms
        if thresholds.max_p95_ms is not None and p95 is not None and p95 > thresholds.max_p95_ms:
            return Decision("rollback", f"p95 latency {p95:g} ms is above {thresholds.max_p95_ms:g} ms")
    if live is not None and thresholds.max_live_metric_drop is not None:
        (value, rows), (primary_value, primary_rows) = live
        if (
            min(rows, primary_rows) >= thresholds.min_requests
            and value < primary_value - thresholds.max_live_metric_drop
        ):
            return Decision(
                "rollback",
                f"live metric {value:.4f} over {rows} rows is more than {thresholds.max_live_metric_drop} below "
                f"the primary's {primary_value:.4f}",
            )
    if held_seconds < interval_seconds:
        return Decision("wait", f"holding the step: {candidate.requests} requests so far")
    if not enough:
        if held_seconds >= thresholds.step_timeout_seconds:
            return Decision(
                "rollback",
                f"only {candidate.requests} requests of the {thresholds.min_requests} needed reached the candidate "
                f"within {thresholds.step_timeout_seconds:g} s; too little data is not healthy",
            )
        return Decision(
            "wait", f"waiting for traffic: {candidate.requests} of {thresholds.min_requests} requests needed"
        )
    if last_step:
        return Decision("promote", f"healthy at the last step over {candidate.requests} requests")
    return Decision("advance", f"healthy over {candidate.requests} requests")
