"""The shadow queue is bounded: while the shadow is busy, copies past the queue's size are
dropped and counted, and the caller never waits."""

import threading
import time
from typing import Any

from app.errors import WarmupFailed
from app.serving.shadow import ShadowCopy, ShadowQueue, same
from app.serving.stats import TrafficStats

KEY = ("dep", 3, "model", 2)


def test_copies_past_the_queue_are_dropped_and_counted() -> None:
    stats = TrafficStats()
    entered, release = threading.Event(), threading.Event()
    counted: list[str] = []

    def slow_load(_: Any) -> Any:
        entered.set()
        release.wait(10)
        raise WarmupFailed("the shadow version does not load")

    shadow = ShadowQueue(1, stats, slow_load)

    def copy() -> ShadowCopy:
        return ShadowCopy("dep", KEY, None, {"inputs": []}, 10, [1], lambda d, v, outcome: counted.append(outcome))

    shadow.submit(copy())
    assert entered.wait(5)  # the one thread is busy with the first copy
    started = time.monotonic()
    for _ in range(4):
        shadow.submit(copy())
    assert time.monotonic() - started < 0.5  # nothing waited for the shadow
    release.set()
    assert shadow.drain()
    counts = stats.take()[KEY]
    assert counts.shadow_dropped == 3
    assert counts.errors == 2  # the two copies the shadow did take
    assert counted.count("dropped") == 3
    assert counted.count("error") == 2


def test_answers_agree_when_equal_or_numerically_close() -> None:
    assert same(1, 1)
    assert same("yes", "yes")
    assert same(0.1 + 0.2, 0.3)
    assert not same(1, 2)
    assert not same(0.3, 0.31)
    assert not same("a", 1.0)
