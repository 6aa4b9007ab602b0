"""What each server process holds for serving: the route table of every deployment and an LRU
of loaded model versions. Requests read it without touching the database."""

import hashlib
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.serving.batching import BatchingConfig
from app.serving.loading import LoadedModel, load_version
from app.serving.shadow import ShadowQueue
from app.serving.stats import TrafficStats
from app.storage import ArtifactStore

ROUTE_KEY_HEADER = "X-Shipyard-Route-Key"


@dataclass(frozen=True)
class Route:
    model: str
    version: int
    weight: int
    mode: str
    storage_prefix: str
    # The model version's row id, for the prediction log's index.
    version_id: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.model, self.version)


@dataclass(frozen=True)
class RouteTable:
    deployment: str
    folded_name: str
    revision: int
    routes: tuple[Route, ...]
    deployment_id: int = 0
    # The deployment's own prediction-log sample rate; None: the server's setting.
    log_sample_rate: float | None = None
    batching: BatchingConfig | None = None
    # The routes that answer requests (primary and canary, weight above zero); shadows only listen.
    answering: tuple[Route, ...] = field(init=False)
    weights: tuple[int, ...] = field(init=False)
    shadows: tuple[Route, ...] = field(init=False)

    def __post_init__(self) -> None:
        answering = tuple(r for r in self.routes if r.mode != "shadow" and r.weight > 0)
        object.__setattr__(self, "answering", answering)
        object.__setattr__(self, "shadows", tuple(r for r in self.routes if r.mode == "shadow"))
        object.__setattr__(self, "weights", tuple(r.weight for r in answering))

    def pick(self, key: str | None = None) -> Route | None:
        """A route by weight: at random, or by `key` (sticky: the same key, the same route)."""
        if len(self.answering) == 1:
            return self.answering[0]
        if not self.answering:
            return None
        if key is None:
            return random.choices(self.answering, weights=self.weights)[0]
        # A hash every replica computes alike (Python's hash() is salted per process).
        point = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")
        point %= sum(self.weights)
        for route, weight in zip(self.answering, self.weights, strict=True):
            if point < weight:
                return route
            point -= weight
        return self.answering[-1]

    def route_for(self, version: int) -> Route | None:
        """The route of one version (a V2 versioned request), answering or not."""
        return next((r for r in self.routes if r.version == version), None)


class ModelCache:
    """Loaded versions, least recently used out first once `size` is reached."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._models: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int], threading.Lock] = {}

    def get(self, key: tuple[str, int]) -> LoadedModel | None:
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
            return found

    def put(self, loaded: LoadedModel) -> None:
        key = (loaded.model_name, loaded.version)
        with self._lock:
            self._models[key] = loaded
            self._models.move_to_end(key)
            while len(self._models) > self._size:
                self._models.popitem(last=False)

    def get_or_load(self, key: tuple[str, int], load: Callable[[], LoadedModel]) -> LoadedModel:
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        # One load per version at a time: the other requests for it wait and take its result.
        with gate:
            found = self.get(key)
            if found is None:
                found = load()
                self.put(found)
        with self._lock:
            self._loading.pop(key, None)
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def __contains__(self, key: tuple[str, int]) -> bool:
        with self._lock:
            return key in self._models


class ServingState:
    def __init__(
        self, store: ArtifactStore, *, cache_size: int, max_ratio: float, min_bytes: int, shadow_queue_size: int = 256
    ) -> None:
        self.store = store
        self.cache = ModelCache(cache_size)
        self._max_ratio = max_ratio
        self._min_bytes = min_bytes
        self._tables: dict[str, RouteTable] = {}
        self._lock = threading.Lock()
        # The serving generation this process has applied; -1 until the first poll.
        self.generation = -1
        # What the rollout analysis reads, flushed to the database by app.serving.flusher.
        self.stats = TrafficStats()
        self.shadow = ShadowQueue(shadow_queue_size, self.stats, self.model)

    def table(self, folded_name: str) -> RouteTable | None:
        return self._tables.get(folded_name)

    def tables(self) -> list[RouteTable]:
        return list(self._tables.values())

    def apply(self, tables: Iterable[RouteTable]) -> None:
        """Take these route tables, unless this process already holds a later revision."""
        with self._lock:
            updated = dict(self._tables)
            for table in tables:
                held = updated.get(table.folded_name)
                if held is None or held.revision <= table.revision:
                    updated[table.folded_name] = table
            # One reference swap: a request reads either the old dict or the new one.
            self._tables = updated

    def load(self, route: Route) -> LoadedModel:
        """A fresh load from the store (and warm-up), not from the cache; the cache then holds it."""
        loaded = load_version(
            self.store,
            route.model,
            route.version,
            route.storage_prefix,
            max_ratio=self._max_ratio,
            min_bytes=self._min_bytes,
        )
        self.cache.put(loaded)
        return loaded

    def model(self, route: Route) -> LoadedModel:
        return self.cache.get_or_load(route.key, lambda: self.load(route))
