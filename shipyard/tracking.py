"""The notebook API: `start_run`, the `ActiveRun` it returns, `log_*` functions on the active run,
and `load_model` / `log_dataset` / `load_dataset` with the default client.

Metrics are buffered and sent in batches; params and tags are sent at once so conflicts surface."""

import atexit
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import httpx

from shipyard import _env
from shipyard.client import MAX_BATCH_METRICS, Client
from shipyard.errors import ExperimentNotFound, InvalidState, NoActiveRun, ServerError, ShipyardError, TransportError
from shipyard.frames import runs_to_frame
from shipyard.schemas import (
    TERMINAL_STATUSES,
    DatasetLink,
    DatasetVersion,
    Experiment,
    Metric,
    MetricPoint,
    ModelVersion,
    Page,
    Run,
    RunStatus,
    StoredArtifact,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("shipyard")

FLUSH_INTERVAL_SECONDS = 1.0
# One full log-batch request: the buffer is sent as soon as it holds this many points.
FLUSH_THRESHOLD = MAX_BATCH_METRICS
DEFAULT_EXPERIMENT = "Default"
# The server's rule for keys, checked here too: a bad key in a buffered point would otherwise only
# fail later, in a background send, far from the line that logged it.
_KEY = re.compile(r"^[A-Za-z0-9_\-. /:]{1,250}$")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _metric(key: str, value: float, step: int | None, timestamp: int | None) -> Metric:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"invalid metric key {key!r}: use 1-250 letters, digits, spaces and _-./:")
    # NaN and ±Infinity are kept (a diverging loss must not stop a training loop); float() also
    # turns numpy scalars into plain floats.
    number = float(value)
    return Metric(key, number, 0 if step is None else int(step), _now_ms() if timestamp is None else int(timestamp))


def _retryable(error: ShipyardError) -> bool:
    """Errors after which the same points may succeed later (server or network trouble)."""
    return isinstance(error, TransportError | ServerError)


class ActiveRun:
    """A run being logged to. Use it as a context manager, or call `end` yourself.

    Metric points wait in memory and go out in log-batch requests of at most 1,000 points: when
    1,000 are waiting, every ~1 s from a background thread, on `flush`, and before the run ends.
    """

    def __init__(
        self,
        client: Client,
        run: Run,
        *,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        on_end: Callable[["ActiveRun"], None] | None = None,
    ) -> None:
        self._client = client
        self._info = run
        self._flush_interval = flush_interval
        self._on_end = on_end
        self._buffer: list[Metric] = []
        self._buffer_lock = threading.Lock()
        # Held for a whole send, so batches leave in the order their points were logged.
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._deferred_error: ShipyardError | None = None
        self._ended = False

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id!r} experiment_id={self._info.experiment_id}>"

    @property
    def id(self) -> str:
        """The run's id (32 hex characters)."""
        return self._info.id

    @property
    def info(self) -> Run:
        """The run as the server reported it at start, or at `end`; `refresh` fetches it anew."""
        return self._info

    @property
    def client(self) -> Client:
        return self._client

    def refresh(self) -> Run:
        """Fetch the run from the server (after sending buffered metrics).

        Returns:
            The current `Run`, also kept as `info`.
        """
        self.flush()
        self._info = self._client.get_run(self.id)
        return self._info

    # -- context manager --------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.end("FINISHED")
            return
        status: RunStatus = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            self.end(status)
        except Exception as end_error:
            # The exception leaving the block matters more than a failure to record it.
            logger.warning("could not end run %s as %s: %s", self.id, status, end_error)

    # -- params and tags: sent at once ------------------------------------------------------

    def log_param(self, key: str, value: object) -> None:
        """Record a parameter (converted with ``str``).

        Raises:
            ParamConflict: the param was logged before with a different value.
        """
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        """Record several parameters in one request.

        Raises:
            ParamConflict: one of them was logged before with a different value.
        """
        self._check_open()
        if params:
            self._client.log_batch(self.id, params=params)

    def set_tag(self, key: str, value: object) -> None:
        """Set a tag (converted with ``str``), replacing an earlier value."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Set several tags in one request."""
        self._check_open()
        if tags:
            self._client.log_batch(self.id, tags=tags)

    # -- metrics: buffered ------------------------------------------------------------------

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
        """Buffer one metric point.

        Args:
            key: the metric's name.
            value: a number; NaN and ±Infinity are recorded as such.
            step: the training step (default 0).
            timestamp: milliseconds since the epoch (default now).

        Raises:
            ValueError: a key the server would refuse.
        """
        self._enqueue([_metric(key, value, step, timestamp)])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
        """Buffer one point per metric, all at the same step and time (NaN and ±Infinity included).

        Raises:
            ValueError: a key the server would refuse.
        """
        moment = _now_ms() if timestamp is None else timestamp
        self._enqueue([_metric(key, value, step, moment) for key, value in metrics.items()])

    def flush(self) -> None:
        """Send every buffered metric point now.

        Raises:
            ShipyardError: sending failed now, or an earlier background send lost points
                (e.g. the run was deleted); on network or server trouble points stay buffered.
        """
        self._send_buffered()
        error, self._deferred_error = self._deferred_error, None
        if error is not None:
            raise error

    def _check_open(self) -> None:
        if self._ended:
            raise InvalidState(f"run {self.id} has ended", status=409)

    def _enqueue(self, points: list[Metric]) -> None:
        self._check_open()
        with self._buffer_lock:
            self._buffer.extend(points)
            full = len(self._buffer) >= FLUSH_THRESHOLD
        if full:
            self.flush()
        else:
            self._start_timer()

    def _start_timer(self) -> None:
        if self._timer is None and not self._stop.is_set():
            self._timer = threading.Thread(target=self._flush_periodically, name=f"shipyard-run-{self.id[:8]}")
            self._timer.daemon = True
            self._timer.start()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                self._send_buffered()
            except ShipyardError as exc:
                if not _retryable(exc):
                    self._deferred_error = exc
                logger.warning("shipyard: sending metrics of run %s failed: %s", self.id, exc)
            except Exception:
                # Keep the thread alive: a later send (or the final flush) may still succeed.
                logger.exception("shipyard: unexpected error sending metrics of run %s", self.id)

    def _send_buffered(self) -> None:
        with self._send_lock:
            with self._buffer_lock:
                points, self._buffer = self._buffer, []
            sent = 0
            try:
                while sent < len(points):
                    self._client.log_batch(self.id, metrics=points[sent : sent + MAX_BATCH_METRICS])
                    sent += MAX_BATCH_METRICS
            except ShipyardError as exc:
                if _retryable(exc):
                    with self._buffer_lock:
                        self._buffer[:0] = points[sent:]
                raise

    # -- artifacts --------------------------------------------------------------------------

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> StoredArtifact:
        """Upload a file into the run's artifacts (see `Client.log_artifact`)."""
        self._check_open()
        return self._client.log_artifact(self.id, local_path, artifact_path)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[StoredArtifact]:
        """Upload a folder into the run's artifacts (see `Client.log_artifacts`)."""
        self._check_open()
        return self._client.log_artifacts(self.id, local_dir, artifact_path)

    # -- models and datasets ----------------------------------------------------------------

    def log_model(
        self,
        model: Any,
        artifact_path: str = "model",
        *,
        input_example: Any,
        register_as: str | None = None,
        alias: str | None = None,
    ) -> ModelVersion | None:
        """Save a scikit-learn estimator (skops) into the run's artifacts, and maybe register it.

        ``run.log_model(pipe, "model", input_example=X[:5], register_as="churn", alias="candidate")``
        infers the signature from the example, uploads ``model.skops`` and ``model.json``,
        registers them as the next version of ``churn`` (created if missing) and points the
        alias at it. Buffered metrics are sent first, so the version records them.

        Args:
            model: a fitted estimator or pipeline.
            artifact_path: the folder of the run's artifacts for the model files.
            input_example: a few input rows (a DataFrame keeps the column names).
            register_as: the registered model to add a version to.
            alias: an alias to point at the new version (``production`` needs an admin).

        Returns:
            The READY `ModelVersion` when `register_as` is given, else None.

        Raises:
            ModelRegistrationFailed: the registry marked the version FAILED (the detail says why).
            UntrustedModel, PickleRefused: the server refused the files.
            Forbidden: the alias is protected and the token is not an admin's.
        """
        self._check_open()
        self.flush()
        return self._client.log_model(
            self.id, model, artifact_path, input_example=input_example, register_as=register_as, alias=alias
        )

    def use_dataset(self, ref: str, context: str = "training") -> DatasetLink:
        """Record that this run reads a dataset version (``"churn-data@2"``), for lineage: the
        models it registers then show the version they came from.

        Args:
            ref: ``NAME@3``, ``NAME@latest`` (recorded by number) or ``NAME``.
            context: ``training`` (default), ``evaluation``, ``holdout`` …

        Returns:
            The `DatasetLink` recorded.

        Raises:
            DatasetNotFound: no such dataset or version.
        """
        self._check_open()
        return self._client.link_dataset(self.id, ref, context)

    # -- end --------------------------------------------------------------------------------

    def end(self, status: RunStatus = "FINISHED") -> Run:
        """Send buffered metrics, stop the background sender and mark the run `status`.

        Calling it again does nothing.

        Returns:
            The ended `Run`.

        Raises:
            ValueError: `status` is not a terminal status.
            ShipyardError: the final send of metrics failed (the status is still recorded).
        """
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"a run ends FINISHED, FAILED or KILLED, not {status!r}")
        if self._ended:
            return self._info
        self._ended = True
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        flush_error: ShipyardError | None = None
        try:
            self.flush()
        except ShipyardError as exc:
            flush_error = exc
        try:
            self._info = self._client.update_run(self.id, status=status)
        finally:
            if self._on_end is not None:
                self._on_end(self)
        if flush_error is not None:
            raise flush_error
        return self._info


class _Fluent:
    """The process-wide default client and the stack of active runs behind the module functions."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.client: Client | None = None
        self.runs: list[ActiveRun] = []

    def get_client(self) -> Client:
        with self.lock:
            if self.client is None:
                self.client = Client()
            return self.client

    def push(self, run: ActiveRun) -> None:
        with self.lock:
            self.runs.append(run)

    def remove(self, run: ActiveRun) -> None:
        with self.lock:
            if run in self.runs:
                self.runs.remove(run)

    def top(self) -> ActiveRun | None:
        with self.lock:
            return self.runs[-1] if self.runs else None


_fluent = _Fluent()


def set_tracking(url: str | None = None, token: str | None = None, http_client: httpx.Client | None = None) -> Client:
    """Point the module-level functions at a server (default: ``SHIPYARD_URL`` / ``SHIPYARD_TOKEN``).

    Args:
        url: the server's base URL.
        token: the API token.
        http_client: an `httpx.Client` to send requests with (e.g. Starlette's TestClient).

    Returns:
        The new default `Client`.
    """
    client = Client(url, token, http_client=http_client)
    with _fluent.lock:
        previous, _fluent.client = _fluent.client, client
    if previous is not None:
        previous.close()
    return client


def get_client() -> Client:
    """The default `Client` the module-level functions use, created from the environment on first use."""
    return _fluent.get_client()


def _experiment(client: Client, experiment: str | int | None) -> Experiment:
    if isinstance(experiment, int):
        return client.get_experiment(experiment)
    name = experiment or os.environ.get("SHIPYARD_EXPERIMENT") or DEFAULT_EXPERIMENT
    return client.get_or_create_experiment(name)


def start_run(
    experiment: str | int | None = None,
    name: str | None = None,
    tags: Mapping[str, object] | None = None,
    parent_run_id: str | None = None,
    params: Mapping[str, object] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> ActiveRun:
    """Start a run and make it the active one; use ``with shipyard.start_run(...) as run:``.

    The run records its source (git commit of the script's folder, entry point) and
    environment (Python, platform, versions of key ML packages). Leaving the ``with`` block
    ends it FINISHED, FAILED on an exception, KILLED on Ctrl-C. Params, tags and metrics
    given here are sent with the run in the one request that creates it.

    Args:
        experiment: an experiment name (created if missing) or id; default
            ``SHIPYARD_EXPERIMENT``, else ``"Default"``.
        name: the run's display name.
        tags: string tags.
        parent_run_id: the parent run; default the active run, so nested ``with`` blocks nest.
        params: the run's parameters (converted with ``str``), e.g. its config.
        metrics: first metric values, logged at step 0 and the current time.

    Returns:
        The `ActiveRun`.

    Raises:
        ExperimentNotFound: `experiment` is an id that does not exist.
        InvalidState: the experiment is archived.
        ValueError: a metric key the server would refuse.
        ValidationError: a param or tag the server refuses (no run is created).
    """
    moment = _now_ms()
    first_metrics = [_metric(key, value, 0, moment) for key, value in (metrics or {}).items()]
    client = get_client()
    target = _experiment(client, experiment)
    parent = _fluent.top()
    if parent_run_id is None and parent is not None:
        parent_run_id = parent.id
    run = client.create_run(
        target.id,
        name=name,
        tags=tags,
        parent_run_id=parent_run_id,
        source=_env.source(),
        environment=_env.environment(),
        params=params,
        metrics=first_metrics,
    )
    active = ActiveRun(client, run, on_end=_fluent.remove)
    _fluent.push(active)
    return active


def active_run() -> ActiveRun | None:
    """The innermost run started with `start_run` and not ended yet, or None."""
    return _fluent.top()


def _require_active() -> ActiveRun:
    run = _fluent.top()
    if run is None:
        raise NoActiveRun("no active run: call shipyard.start_run() first")
    return run


def end_run(status: RunStatus = "FINISHED") -> None:
    """End the active run with `status`; does nothing when no run is active."""
    run = _fluent.top()
    if run is not None:
        run.end(status)


def log_param(key: str, value: object) -> None:
    """`ActiveRun.log_param` on the active run (raises `NoActiveRun` without one)."""
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, object]) -> None:
    """`ActiveRun.log_params` on the active run."""
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """`ActiveRun.log_metric` on the active run."""
    _require_active().log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """`ActiveRun.log_metrics` on the active run."""
    _require_active().log_metrics(metrics, step, timestamp)


def set_tag(key: str, value: object) -> None:
    """`ActiveRun.set_tag` on the active run."""
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, object]) -> None:
    """`ActiveRun.set_tags` on the active run."""
    _require_active().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> StoredArtifact:
    """`ActiveRun.log_artifact` on the active run."""
    return _require_active().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[StoredArtifact]:
    """`ActiveRun.log_artifacts` on the active run."""
    return _require_active().log_artifacts(local_dir, artifact_path)


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    input_example: Any,
    register_as: str | None = None,
    alias: str | None = None,
) -> ModelVersion | None:
    """`ActiveRun.log_model` on the active run."""
    return _require_active().log_model(
        model, artifact_path, input_example=input_example, register_as=register_as, alias=alias
    )


def load_model(uri: str, dest: str | os.PathLike[str] | None = None, *, allow_pickle: bool = False) -> Any:
    """Download a registered model, check its files' SHA-256, and load it (`Client.load_model`).

    ``shipyard.load_model("models:/churn@production")`` or ``("models:/churn/3")`` returns the
    estimator, loaded with trusted types only. `allow_pickle` (UNSAFE) also loads a pickle version.
    """
    return get_client().load_model(uri, dest, allow_pickle=allow_pickle)


def log_dataset(data: "pd.DataFrame | str | os.PathLike[str]", name: str) -> DatasetVersion:
    """Upload a DataFrame or a CSV/Parquet file as the next version of dataset `name`
    (`Client.log_dataset`); the same bytes again give back the existing version."""
    return get_client().log_dataset(data, name)


def load_dataset(ref: str) -> "pd.DataFrame":
    """A dataset version (``"churn-data@2"``, ``"churn-data@latest"``) as a DataFrame (`Client.load_dataset`)."""
    return get_client().load_dataset(ref)


def flush() -> None:
    """Send the active run's buffered metrics now (nothing without an active run)."""
    run = _fluent.top()
    if run is not None:
        run.flush()


@overload
def search_runs(
    experiment: str | int | Sequence[str | int] | None = ...,
    filter: str = ...,
    order_by: str | Sequence[str] | None = ...,
    max_results: int = ...,
    output_format: Literal["list"] = ...,
) -> Page[Run]: ...


@overload
def search_runs(
    experiment: str | int | Sequence[str | int] | None = ...,
    filter: str = ...,
    order_by: str | Sequence[str] | None = ...,
    max_results: int = ...,
    *,
    output_format: Literal["pandas"],
) -> "pd.DataFrame": ...


def search_runs(
    experiment: str | int | Sequence[str | int] | None = None,
    filter: str = "",
    order_by: str | Sequence[str] | None = None,
    max_results: int = 1000,
    output_format: Literal["list", "pandas"] = "list",
) -> "Page[Run] | pd.DataFrame":
    """Find runs with the default client.

    Args:
        experiment: an experiment name or id, or a list of them; None searches every experiment.
        filter: e.g. ``"metrics.f1 > 0.8 and params.model = 'rf'"``.
        order_by: e.g. ``"metrics.f1 DESC"`` or a list of such.
        max_results: at most this many runs.
        output_format: ``"list"`` for `Run` records, ``"pandas"`` for a DataFrame with columns
            run_id, experiment_id, status, start_time, end_time, name, metrics.<k>, params.<k>, tags.<k>.

    Returns:
        A `Page` of runs, or a `pandas.DataFrame`.

    Raises:
        ExperimentNotFound: no experiment has one of the names.
        InvalidFilter: the filter or order_by is malformed.
    """
    if output_format not in ("list", "pandas"):
        raise ValueError(f"output_format must be 'list' or 'pandas', not {output_format!r}")
    client = get_client()
    wanted = [] if experiment is None else [experiment] if isinstance(experiment, str | int) else list(experiment)
    ids: list[int] = []
    for item in wanted:
        if isinstance(item, int):
            ids.append(item)
            continue
        found = client.get_experiment_by_name(item)
        if found is None:
            raise ExperimentNotFound(f"no experiment named {item!r}", status=404)
        ids.append(found.id)
    runs = client.search_runs(ids, filter=filter, order_by=order_by, max_results=max_results)
    return runs_to_frame(runs) if output_format == "pandas" else runs


def get_metric_history(run_id: str, key: str, max_points: int | None = None) -> list[MetricPoint]:
    """`Client.get_metric_history` with the default client."""
    return get_client().get_metric_history(run_id, key, max_points)


def _end_runs_at_exit() -> None:
    # A script that started runs without `with` still gets its metrics sent and its runs closed;
    # the interpreter leaves sys.last_value behind when the script died of an exception.
    status: RunStatus = "FAILED" if getattr(sys, "last_value", None) is not None else "FINISHED"
    while (run := _fluent.top()) is not None:
        try:
            run.end(status)
        except Exception as exc:
            logger.warning("shipyard: could not end run %s at exit: %s", run.id, exc)
            _fluent.remove(run)


atexit.register(_end_runs_at_exit)
