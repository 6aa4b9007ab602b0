"""Adaptive micro-batching: concurrent predicts on one deployment's version are queued and a worker
thread per version predicts them together. A batch is formed from what is already queued, so a
lone request never waits; a model error in a batch is retried request by request."""

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.serving.loading import LoadedModel
from app.serving.payload import Batch

Answer = tuple[list[Any], list[list[float]] | None]
# Called with (deployment, version, rows) for every batch formed.
BatchObserver = Callable[[str, int, int], None]
# A worker with nothing to do for this long ends; the next request starts another.
IDLE_SECONDS = 30.0


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int
    max_wait_ms: int


@dataclass
class _Item:
    loaded: LoadedModel
    batch: Batch
    config: BatchingConfig
    future: "Future[Answer]" = field(default_factory=Future)

    def joins(self, first: "_Item") -> bool:
        return self.loaded is first.loaded and self.batch.return_proba == first.batch.return_proba


_STOP = object()


def run_batch(loaded: LoadedModel, batches: Sequence[Batch]) -> list[Answer | Exception]:
    """Predict the batches as one and split the answers back, one per batch in order; when the
    merged prediction fails, each batch is predicted alone so only the culprit gets the error."""
    if len(batches) == 1:
        return [_alone(loaded, batches[0])]
    merged = Batch(
        {name: np.concatenate([b.columns[name] for b in batches]) for name in batches[0].columns},
        sum(b.rows for b in batches),
        batches[0].return_proba,
    )
    try:
        predictions, probabilities = loaded.predict(merged)
    except Exception:
        return [_alone(loaded, b) for b in batches]
    answers: list[Answer | Exception] = []
    start = 0
    for b in batches:
        end = start + b.rows
        answers.append((predictions[start:end], probabilities[start:end] if probabilities is not None else None))
        start = end
    return answers


def _alone(loaded: LoadedModel, batch: Batch) -> Answer | Exception:
    try:
        return loaded.predict(batch)
    except Exception as exc:  # handed to the request's future, raised there
        return exc


class _Lane:
    """One deployment version's queue and the worker thread that empties it."""

    def __init__(self, batcher: "MicroBatcher", key: tuple[str, str, int]) -> None:
        self.key = key
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.alive = True
        self._batcher = batcher
        self._thread = threading.Thread(target=self._run, name=f"shipyard-batch-{key[0]}-{key[2]}", daemon=True)
        self._thread.start()

    def _next(self, carry: list[_Item]) -> _Item | None:
        if carry:
            return carry.pop(0)
        while True:
            try:
                got = self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self._batcher.retire(self):
                    return None
                continue
            return None if got is _STOP else got

    def _run(self) -> None:
        carry: list[_Item] = []
        while True:
            first = self._next(carry)
            if first is None:
                for item in carry:  # stopping: answer what is left, alone
                    self._finish([item])
                return
            items, rows = [first], first.batch.rows
            limit = first.config.max_batch_size
            waiting, carry = carry, []
            for item in waiting:
                if item.joins(first) and rows + item.batch.rows <= limit:
                    items.append(item)
                    rows += item.batch.rows
                else:
                    carry.append(item)
            deadline = time.monotonic() + first.config.max_wait_ms / 1000
            while rows < limit and time.monotonic() < deadline:
                try:
                    got = self.queue.get_nowait()
                except queue.Empty:
                    break  # nobody else is waiting: predict now
                if got is _STOP:
                    self.queue.put(_STOP)
                    break
                if got.joins(first) and rows + got.batch.rows <= limit:
                    items.append(got)
                    rows += got.batch.rows
                else:
                    carry.append(got)  # a request's rows are never split across batches
                    if got.joins(first):
                        break
            self._finish(items)

    def _finish(self, items: list[_Item]) -> None:
        self._batcher.observe(self.key[0], self.key[2], sum(i.batch.rows for i in items))
        try:
            answers = run_batch(items[0].loaded, [i.batch for i in items])
        except Exception as exc:  # never leave a request waiting on a dead future
            answers = [exc] * len(items)
        for item, answer in zip(items, answers, strict=True):
            if isinstance(answer, Exception):
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)


class MicroBatcher:
    """The lanes of this process, one per (deployment, model, version) with batching on."""

    def __init__(self, observe: BatchObserver) -> None:
        self.observe = observe
        self._lanes: dict[tuple[str, str, int], _Lane] = {}
        self._lock = threading.Lock()

    def submit(self, deployment: str, loaded: LoadedModel, batch: Batch, config: BatchingConfig) -> "Future[Answer]":
        item = _Item(loaded, batch, config)
        key = (deployment, loaded.model_name, loaded.version)
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None or not lane.alive:
                lane = self._lanes[key] = _Lane(self, key)
            lane.queue.put(item)
        return item.future

    def predict(self, deployment: str, loaded: LoadedModel, batch: Batch, config: BatchingConfig) -> Answer:
        return self.submit(deployment, loaded, batch, config).result()

    def retire(self, lane: _Lane) -> bool:
        """Whether an idle lane may end: only with nothing queued, and under the lock submit
        takes, so no request is put on a lane that has gone."""
        with self._lock:
            if not lane.queue.empty():
                return False
            lane.alive = False
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
            return True

    def close(self) -> None:
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
            for lane in lanes:
                lane.alive = False
                lane.queue.put(_STOP)


def predict_rows(
    batcher: MicroBatcher | None, deployment: str, config: BatchingConfig | None, loaded: LoadedModel, batch: Batch
) -> Answer:
    """The request's predictions: through the deployment's batcher when batching is on."""
    if batcher is None or config is None or (batch.return_proba and not hasattr(loaded.estimator, "predict_proba")):
        # Also the request the model cannot answer as asked: LoadedModel.predict says why.
        return loaded.predict(batch)
    return batcher.predict(deployment, loaded, batch, config)
