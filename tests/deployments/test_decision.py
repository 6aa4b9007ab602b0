"""The rollout step decision as a pure function: thresholds, holding, missing data, the last
step, the live metric, and the p95 from a fixed-bucket histogram."""

import math

import pytest

from app.rollouts.decision import LATENCY_BUCKETS_MS, StepStats, Thresholds, bucket_of, decide, percentile_ms

RULES = Thresholds(max_error_rate=0.05, max_p95_ms=50, min_requests=10, step_timeout_seconds=30)


def latencies(*milliseconds: float) -> tuple[int, ...]:
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for value in milliseconds:
        buckets[bucket_of(value)] += 1
    return tuple(buckets)


def stats(requests: int, errors: int = 0, ms: float = 3.0) -> StepStats:
    return StepStats(requests=requests, errors=errors, latency_buckets=latencies(*[ms] * requests))


def test_healthy_after_the_interval_advances_or_promotes() -> None:
    healthy = stats(20)
    assert decide(RULES, healthy, held_seconds=10, interval_seconds=5, last_step=False).action == "advance"
    assert decide(RULES, healthy, held_seconds=10, interval_seconds=5, last_step=True).action == "promote"


def test_holds_the_interval_before_judging_healthy() -> None:
    decision = decide(RULES, stats(20), held_seconds=2, interval_seconds=5, last_step=True)
    assert decision.action == "wait"


def test_a_crossed_threshold_rolls_back_at_once() -> None:
    errors = decide(RULES, stats(20, errors=2), held_seconds=1, interval_seconds=5, last_step=False)
    assert errors.action == "rollback"
    assert "error rate 0.100" in errors.reason
    slow = decide(RULES, stats(20, ms=120), held_seconds=1, interval_seconds=5, last_step=False)
    assert slow.action == "rollback"
    assert "p95" in slow.reason


def test_thresholds_are_judged_only_on_enough_requests() -> None:
    # One error in two requests is not yet a verdict: missing data is neither healthy nor failing.
    early = decide(RULES, stats(2, errors=1), held_seconds=1, interval_seconds=5, last_step=False)
    assert early.action == "wait"


def test_too_few_requests_wait_then_fail_after_the_timeout() -> None:
    few = stats(3)
    assert decide(RULES, few, held_seconds=10, interval_seconds=5, last_step=True).action == "wait"
    failed = decide(RULES, few, held_seconds=30, interval_seconds=5, last_step=True)
    assert failed.action == "rollback"
    assert "3 requests of the 10 needed" in failed.reason
    assert decide(RULES, StepStats(), held_seconds=31, interval_seconds=5, last_step=False).action == "rollback"


def test_no_thresholds_still_needs_data() -> None:
    rules = Thresholds(max_error_rate=None, max_p95_ms=None, min_requests=5, step_timeout_seconds=10)
    assert decide(rules, stats(100, errors=100), held_seconds=6, interval_seconds=5, last_step=True).action == "promote"
    assert decide(rules, stats(0), held_seconds=11, interval_seconds=5, last_step=True).action == "rollback"


def test_live_metric_compared_with_the_primary() -> None:
    rules = Thresholds(None, None, min_requests=10, step_timeout_seconds=30, max_live_metric_drop=0.02)
    worse = decide(rules, stats(20), held_seconds=6, interval_seconds=5, last_step=True, live=((0.80, 50), (0.90, 50)))
    assert worse.action == "rollback"
    assert "live metric" in worse.reason
    close = decide(rules, stats(20), held_seconds=6, interval_seconds=5, last_step=True, live=((0.89, 50), (0.90, 50)))
    assert close.action == "promote"
    # Too few labelled rows: no verdict from the live metric.
    thin = decide(rules, stats(20), held_seconds=6, interval_seconds=5, last_step=True, live=((0.1, 3), (0.9, 50)))
    assert thin.action == "promote"


@pytest.mark.parametrize(("values", "expected"), [((1.0,) * 95 + (400.0,) * 5, 1), ((3.0,) * 90 + (40.0,) * 10, 50)])
def test_p95_is_the_upper_bound_of_its_bucket(values: tuple[float, ...], expected: float) -> None:
    assert percentile_ms(latencies(*values), 0.95) == expected


def test_p95_past_the_last_bucket_crosses_any_threshold() -> None:
    assert math.isinf(percentile_ms(latencies(60_000.0), 0.95) or 0)
    assert percentile_ms(latencies(), 0.95) is None
