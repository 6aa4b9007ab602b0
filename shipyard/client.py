"""`shipyard.Client`: the REST API as typed methods over one keep-alive `httpx.Client`.

Any `httpx.Client` can be injected (Starlette's TestClient runs the server in-process in tests)."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from shipyard import config
from shipyard._base import (
    API_PREFIX,
    DEFAULT_TIMEOUT,
    MAX_PAGE_SIZE,
    SDK_VERSION,
    STREAM_CHUNK_BYTES,
    ClientBase,
    join_path,
    relpath,
    segment,
    text,
)
from shipyard._datasets import DatasetsMixin
from shipyard._deployments import DeploymentsMixin
from shipyard._jobs import JobsMixin
from shipyard._monitoring import MonitoringMixin
from shipyard._registry import RegistryMixin
from shipyard._schedules import SchedulesMixin
from shipyard._webhooks import WebhooksMixin
from shipyard.errors import ExperimentConflict
from shipyard.schemas import (
    ArtifactFile,
    Experiment,
    Identity,
    Metric,
    MetricPoint,
    Page,
    Run,
    RunStatus,
    StoredArtifact,
    Token,
    User,
)

__all__ = [
    "API_PREFIX",
    "MAX_BATCH_METRICS",
    "MAX_BATCH_PARAMS",
    "MAX_BATCH_TAGS",
    "MAX_PAGE_SIZE",
    "SDK_VERSION",
    "STREAM_CHUNK_BYTES",
    "Client",
]

# What one log-batch request may carry (the server's limits).
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100


class Client(
    RegistryMixin,
    DatasetsMixin,
    MonitoringMixin,
    JobsMixin,
    SchedulesMixin,
    DeploymentsMixin,
    WebhooksMixin,
    ClientBase,
):
    """A client of one Shipyard server.

    Args:
        url: the server's base URL; default ``SHIPYARD_URL``, else the ``url`` in the credentials
            file the token came from, else ``http://127.0.0.1:8000`` (with an injected
            `http_client` that has a ``base_url``, that one).
        token: the API token; default ``SHIPYARD_TOKEN``, else ``~/.shipyard/credentials``
            (written by ``shipyard login``), else ``<SHIPYARD_DATA_DIR or ./shipyard-data>/credentials``.
        http_client: an `httpx.Client` to send the requests with (not closed by `close`);
            by default the client opens its own keep-alive connection pool.
        timeout: seconds (or an `httpx.Timeout`) per request; default 30 s, or the
            injected client's own timeout.
        anonymous: send no token at all, whatever the environment and files hold (a password
            login with `create_token`, ``GET /healthz``).

    Every method raises a `shipyard.errors.ShipyardError` subclass chosen by the problem
    ``code`` of an error answer, or `TransportError` when the server cannot be reached.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        timeout: float | httpx.Timeout | None = None,
        anonymous: bool = False,
    ) -> None:
        injected_base = str(http_client.base_url).rstrip("/") if http_client is not None else ""
        resolved = config.resolve(url, token)
        self.url = resolved.url if url or not injected_base else injected_base
        self._token = None if anonymous else resolved.token
        self._token_source = None if anonymous else resolved.token_source
        self._looked_in = [] if anonymous else resolved.looked_in
        # The connection pool's own timeout applies unless the caller set one for this client.
        self._timeout = None
        if timeout is not None and http_client is not None:
            self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._owns_http = http_client is None
        self._http = (
            http_client
            if http_client is not None
            else httpx.Client(timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
        )

    def __repr__(self) -> str:
        return f"<shipyard.Client url={self.url!r}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool, unless the `httpx.Client` was injected (its owner closes it)."""
        if self._owns_http:
            self._http.close()

    # -- operations -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's liveness answer (``GET /healthz``, no token needed).

        Returns:
            The JSON body, ``{"status": "ok"}`` when the server is up.

        Raises:
            TransportError: the server cannot be reached.
        """
        result: dict[str, Any] = self._request("GET", "/healthz", prefix="").json()
        return result

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(
        self, name: str, *, description: str = "", tags: Mapping[str, object] | None = None
    ) -> Experiment:
        """Create an experiment.

        Args:
            name: unique name (1..256 characters).
            description: free text.
            tags: string tags; values are converted with ``str``.

        Returns:
            The new `Experiment`.

        Raises:
            ExperimentConflict: an experiment (active or archived) already has this name.
            Forbidden: the token's role is below editor.
        """
        body = {"name": name, "description": description, "tags": {k: text(v) for k, v in (tags or {}).items()}}
        return Experiment.from_json(self._request("POST", "/experiments", json=body).json())

    def get_experiment(self, experiment_id: int) -> Experiment:
        """Fetch an experiment by id.

        Returns:
            The `Experiment`.

        Raises:
            ExperimentNotFound: no experiment has this id.
        """
        return Experiment.from_json(self._request("GET", f"/experiments/{int(experiment_id)}").json())

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Find an experiment by its exact name, archived ones included.

        Returns:
            The `Experiment`, or None when no experiment has this name.
        """
        found = self.list_experiments(name=name, lifecycle_stage="all", max_results=1)
        return found[0] if found else None

    def list_experiments(
        self,
        *,
        name: str | None = None,
        lifecycle_stage: str = "active",
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Experiment]:
        """List experiments, oldest first, following the server's pages.

        Args:
            name: only the experiment with this exact name.
            lifecycle_stage: ``active`` (default), ``archived`` or ``all``.
            max_results: stop after this many; None fetches them all.
            page_token: continue a listing from an earlier `Page.next_page_token`.

        Returns:
            A `Page` of experiments; its ``next_page_token`` is set when more remain.

        Raises:
            InvalidInput: a malformed page token or stage.
        """
        items, token = self._paginate(
            "/experiments", "experiments", {"name": name, "lifecycle_stage": lifecycle_stage}, max_results, page_token
        )
        return Page([Experiment.from_json(item) for item in items], token)

    def get_or_create_experiment(
        self, name: str, *, description: str = "", tags: Mapping[str, object] | None = None
    ) -> Experiment:
        """The experiment named `name`, created (with `description` and `tags`) when missing.

        Safe against a concurrent creator: a conflict on create falls back on the lookup.

        Returns:
            The existing or new `Experiment` (an archived one is returned as it is).
        """
        existing = self.get_experiment_by_name(name)
        if existing is not None:
            return existing
        try:
            return self.create_experiment(name, description=description, tags=tags)
        except ExperimentConflict:
            found = self.get_experiment_by_name(name)
            if found is None:
                raise
            return found

    def update_experiment(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, object] | None = None,
        lifecycle_stage: str | None = None,
    ) -> Experiment:
        """Change an experiment's name, description, tags (replaced as a whole) or stage.

        Returns:
            The updated `Experiment`.

        Raises:
            ExperimentNotFound: no experiment has this id.
            ExperimentConflict: the new name is taken.
        """
        body: dict[str, Any] = {"name": name, "description": description, "lifecycle_stage": lifecycle_stage}
        if tags is not None:
            body["tags"] = {k: text(v) for k, v in tags.items()}
        body = {k: v for k, v in body.items() if v is not None}
        return Experiment.from_json(self._request("PATCH", f"/experiments/{int(experiment_id)}", json=body).json())

    def archive_experiment(self, experiment_id: int) -> None:
        """Archive an experiment (its runs are kept; ``update_experiment(id, lifecycle_stage="active")`` restores it).

        Raises:
            ExperimentNotFound: no experiment has this id.
        """
        self._request("DELETE", f"/experiments/{int(experiment_id)}")

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        tags: Mapping[str, object] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        source: Mapping[str, str | None] | None = None,
        environment: Mapping[str, Any] | None = None,
        params: Mapping[str, object] | None = None,
        metrics: Sequence[Metric] = (),
    ) -> Run:
        """Start a run (status RUNNING) in an experiment, with its first params and metrics.

        The run, its tags, and up to 100 params and 1,000 metric points are one request and one
        transaction: a value the server refuses leaves no run behind. Params and points beyond
        those limits follow in log-batch requests once the run exists.

        Args:
            experiment_id: the experiment to log into.
            name: a display name; the server picks one when None.
            tags: string tags (at most 100).
            parent_run_id: the run this one is nested in.
            start_time: milliseconds since the epoch; default the server's clock.
            source: ``{"git_commit": ..., "entry_point": ...}``.
            environment: Python version, platform, package versions.
            params: parameter values (converted with ``str``).
            metrics: `Metric` points.

        Returns:
            The new `Run`, with the params, latest metric values and tags it was created with.

        Raises:
            ExperimentNotFound: no experiment has this id.
            RunNotFound: the parent run does not exist.
            InvalidState: the experiment is archived.
            ValidationError: a key or value the server refuses (nothing is created).
        """
        param_items = list((params or {}).items())
        metric_list = list(metrics)
        body: dict[str, Any] = {"tags": {k: text(v) for k, v in (tags or {}).items()}}
        if param_items:
            body["params"] = {k: text(v) for k, v in param_items[:MAX_BATCH_PARAMS]}
        if metric_list:
            body["metrics"] = [metric.to_json() for metric in metric_list[:MAX_BATCH_METRICS]]
        optional = {
            "name": name,
            "parent_run_id": parent_run_id,
            "start_time": start_time,
            "source": {k: v for k, v in source.items() if v is not None} if source else None,
            "environment": dict(environment) if environment is not None else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        run = Run.from_json(self._request("POST", f"/experiments/{int(experiment_id)}/runs", json=body).json())
        rest_params = dict(param_items[MAX_BATCH_PARAMS:])
        rest_metrics = metric_list[MAX_BATCH_METRICS:]
        if rest_params or rest_metrics:
            self.log_batch(run.id, rest_metrics, rest_params)
            run = self.get_run(run.id)
        return run

    def get_run(self, run_id: str) -> Run:
        """Fetch a run with its params, latest metrics and tags.

        Raises:
            RunNotFound: no run has this id.
        """
        return Run.from_json(self._request("GET", f"/runs/{segment(run_id)}").json())

    def update_run(
        self, run_id: str, *, status: RunStatus | None = None, end_time: int | None = None, name: str | None = None
    ) -> Run:
        """Change a run's status, end time or name; a terminal status sets the end time if absent.

        Returns:
            The updated `Run`.

        Raises:
            RunNotFound: no run has this id.
            InvalidInput: the change is not allowed.
        """
        body = {k: v for k, v in {"status": status, "end_time": end_time, "name": name}.items() if v is not None}
        return Run.from_json(self._request("PATCH", f"/runs/{segment(run_id)}", json=body).json())

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> None:
        """Log metrics, params and tags to a run.

        Within the server's limits (1,000 metrics, 100 params, 100 tags) this is one
        all-or-nothing request; beyond them it is split into several requests in order.

        Args:
            run_id: the run.
            metrics: `Metric` points.
            params: parameter values (converted with ``str``); a param is written once.
            tags: tag values (converted with ``str``); a tag may be overwritten.

        Raises:
            RunNotFound: no run has this id.
            ParamConflict: a param was logged before with a different value.
            LimitExceeded, ValidationError: a key or value the server refuses.
        """
        metric_items = [metric.to_json() for metric in metrics]
        param_items = [{"key": k, "value": text(v)} for k, v in (params or {}).items()]
        tag_items = [{"key": k, "value": text(v)} for k, v in (tags or {}).items()]
        requests = max(
            -(-len(metric_items) // MAX_BATCH_METRICS),
            -(-len(param_items) // MAX_BATCH_PARAMS),
            -(-len(tag_items) // MAX_BATCH_TAGS),
        )
        for i in range(requests):
            body = {
                "metrics": metric_items[i * MAX_BATCH_METRICS : (i + 1) * MAX_BATCH_METRICS],
                "params": param_items[i * MAX_BATCH_PARAMS : (i + 1) * MAX_BATCH_PARAMS],
                "tags": tag_items[i * MAX_BATCH_TAGS : (i + 1) * MAX_BATCH_TAGS],
            }
            self._request("POST", f"/runs/{segment(run_id)}/log-batch", json=body)

    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> list[MetricPoint]:
        """Every point logged for a metric, ordered by step then timestamp.

        Args:
            run_id: the run.
            key: the metric's key.
            max_points: thin the history to at most this many points (server-side).

        Returns:
            The `MetricPoint` list.

        Raises:
            RunNotFound: no run has this id.
            MetricNotFound: the run has no such metric.
        """
        data = self._request(
            "GET", f"/runs/{segment(run_id)}/metrics/{relpath(key)}", params={"max_points": max_points}
        ).json()
        return [MetricPoint.from_json(point) for point in data["points"]]

    def search_runs(
        self,
        experiment_ids: Sequence[int] | None = None,
        filter: str = "",
        order_by: Sequence[str] | str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[Run]:
        """Find runs, fetching as many server pages as `max_results` needs.

        Args:
            experiment_ids: the experiments to search; None or empty searches all.
            filter: e.g. ``"metrics.f1 > 0.8 and params.model = 'rf' and attributes.status = 'FINISHED'"``.
            order_by: e.g. ``["metrics.f1 DESC", "attributes.start_time ASC"]``.
            max_results: at most this many runs (any number; pages hold 1,000).
            page_token: continue from an earlier `Page.next_page_token`.

        Returns:
            A `Page` of runs; ``next_page_token`` is set when more match.

        Raises:
            InvalidFilter: the filter or order_by is malformed (the detail gives the position).
        """
        if max_results < 1:
            raise ValueError("max_results must be at least 1")
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        runs: list[Run] = []
        token = page_token
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [int(i) for i in experiment_ids or []],
                "filter": filter or "",
                "order_by": orders,
                "max_results": min(max_results - len(runs), MAX_PAGE_SIZE),
            }
            if token:
                body["page_token"] = token
            data = self._request("POST", "/runs/search", json=body).json()
            runs.extend(Run.from_json(item) for item in data["runs"])
            token = data.get("next_page_token")
            if not token or len(runs) >= max_results:
                return Page(runs, token)

    # -- artifacts --------------------------------------------------------------------------

    def log_artifact(
        self,
        run_id: str,
        local_path: str | os.PathLike[str],
        artifact_path: str | None = None,
        *,
        overwrite: bool = True,
    ) -> StoredArtifact:
        """Upload a file to a run's artifacts, streamed from disk, with its SHA-256 for the
        server to check.

        Args:
            run_id: the run.
            local_path: the file to upload.
            artifact_path: the folder inside the run's artifacts; the file keeps its name.
            overwrite: False refuses to replace an artifact already at that path.

        Returns:
            What the server stored: path, size and SHA-256.

        Raises:
            FileNotFoundError: `local_path` is not a file.
            InvalidPath: the artifact path is refused.
            PayloadTooLarge: the file exceeds the server's upload limit.
            ArtifactExists: `overwrite` is False and the run has an artifact at that path.
            DigestMismatch: the bytes changed on the way (or the file changed while it was sent).
            StorageUnavailable: the server's artifact store is down for now; retry later.
        """
        source = Path(local_path)
        if not source.is_file():
            raise FileNotFoundError(f"not a file: {source}")
        destination = join_path(artifact_path, source.name)
        response = self._upload(
            "PUT",
            f"/runs/{segment(run_id)}/artifacts/{relpath(destination)}",
            source,
            "application/octet-stream",
            None if overwrite else {"If-None-Match": "*"},
        )
        return StoredArtifact.from_json(response.json())

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[StoredArtifact]:
        """Upload every file under a folder, keeping the relative layout.

        Args:
            run_id: the run.
            local_dir: the folder to upload (symlinked folders are not followed).
            artifact_path: the folder inside the run's artifacts to put them in.

        Returns:
            One `StoredArtifact` per file, in path order.

        Raises:
            NotADirectoryError: `local_dir` is not a folder.
            InvalidPath, PayloadTooLarge: as for `log_artifact`.
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(f"not a directory: {root}")
        stored: list[StoredArtifact] = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            relative = Path(folder).relative_to(root).as_posix()
            target = join_path(artifact_path, relative) if relative != "." else artifact_path
            for name in sorted(files):
                stored.append(self.log_artifact(run_id, Path(folder) / name, target))
        return stored

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactFile]:
        """The files and folders directly inside a folder of a run's artifacts.

        Args:
            run_id: the run.
            path: the folder; None for the root.

        Returns:
            `ArtifactFile` entries whose paths are relative to the artifact root.

        Raises:
            RunNotFound: no run has this id.
            InvalidPath: the path is refused.
        """
        data = self._request("GET", f"/runs/{segment(run_id)}/artifacts", params={"path": path}).json()
        return [ArtifactFile.from_json(item) for item in data["files"]]

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str] = ".") -> Path:
        """Download one artifact file, streamed to disk.

        Args:
            run_id: the run.
            path: the artifact's path inside the run's artifacts.
            dest: a folder to save into (under the artifact's file name), or a file path.

        Returns:
            The path of the written file; it only appears once complete.

        Raises:
            ArtifactNotFound: the run has no such file.
            RunNotFound: no run has this id.
        """
        target = Path(dest)
        if target.is_dir():
            target = target / path.rstrip("/").rsplit("/", 1)[-1]
        return self._download(f"/runs/{segment(run_id)}/artifacts/{relpath(path)}", target)

    # -- users and tokens -------------------------------------------------------------------

    def whoami(self) -> Identity:
        """Who the token belongs to.

        Raises:
            Unauthenticated: no token, or an unknown, expired or revoked one.
        """
        return Identity.from_json(self._request("GET", "/auth/whoami").json())

    def create_user(self, username: str, role: str = "viewer", password: str | None = None) -> User:
        """Create a user (admin only).

        Args:
            username: letters, digits and ``_.@-``, up to 64.
            role: ``viewer``, ``editor`` or ``admin``.
            password: at least 12 characters and not a common password; None has the server generate one.

        Returns:
            The new `User`; ``password`` holds the generated password, shown only here.

        Raises:
            UserConflict: the username is taken.
            Forbidden: the token is not an admin's.
        """
        body: dict[str, Any] = {"username": username, "role": role}
        if password is not None:
            body["password"] = password
        return User.from_json(self._request("POST", "/users", json=body).json())

    def list_users(self) -> list[User]:
        """Every user (admin only).

        Raises:
            Forbidden: the token is not an admin's.
        """
        return [User.from_json(item) for item in self._request("GET", "/users").json()["users"]]

    def create_token(
        self,
        username: str,
        *,
        name: str = "default",
        expires_in_days: int | None = None,
        password: str | None = None,
        predict_on: Sequence[str] | None = None,
    ) -> Token:
        """Mint an API token: with the user's `password` (a login), or as an admin for any user.

        Args:
            username: whose token it is.
            name: a label to recognise it by.
            expires_in_days: lifetime; None never expires.
            password: log in as `username` instead of using this client's admin token.
            predict_on: make it a predict-only token for these deployments (admin only): it may
                predict (REST and V2) on them and call nothing else.

        Returns:
            The `Token`; its ``token`` secret is shown only here.

        Raises:
            Unauthenticated: wrong password, or no token and no password.
            Forbidden: minting for someone else without being admin.
            UserNotFound: no such user.
        """
        body: dict[str, Any] = {"username": username, "name": name}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        if password is not None:
            body["password"] = password
        if predict_on is not None:
            body["scope"] = "predict"
            body["deployments"] = list(predict_on)
        # A refused login is a wrong password, not a bad token: the server's own words say so.
        response = self._request("POST", "/auth/tokens", json=body, explain_401=password is None)
        return Token.from_json(response.json())

    def list_tokens(self, username: str | None = None) -> list[Token]:
        """API tokens, revoked ones included (admin only); never their secrets.

        Args:
            username: only this user's tokens.

        Raises:
            UserNotFound: no such user.
            Forbidden: the token is not an admin's.
        """
        data = self._request("GET", "/auth/tokens", params={"username": username}).json()
        return [Token.from_json(item) for item in data["tokens"]]

    def revoke_token(self, token_id: int) -> None:
        """Revoke an API token (admin only); requests with it are refused from then on.

        Raises:
            TokenNotFound: no token has this id.
            Forbidden: the token is not an admin's.
        """
        self._request("DELETE", f"/auth/tokens/{int(token_id)}")
