"""Typed records the SDK sends and returns: experiments, runs, metrics, artifacts, users, tokens,
registered models and their versions, datasets, and jobs."""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Self, TypeVar

RunStatus = Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"FINISHED", "FAILED", "KILLED"})

T = TypeVar("T")


class Page(list[T]):
    """One page of a listing: the items, plus the token that fetches what follows (None at the end)."""

    def __init__(self, items: list[T] | None = None, next_page_token: str | None = None) -> None:
        super().__init__(items or [])
        self.next_page_token = next_page_token


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _str_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def to_json_dict(record: Any) -> dict[str, Any]:
    """A record as JSON-ready data (datetimes as ISO 8601 strings), e.g. for the CLI's ``--json``."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    data: dict[str, Any] = convert(asdict(record))
    return data


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    description: str
    tags: dict[str, str]
    lifecycle_stage: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            tags=_str_dict(data.get("tags")),
            lifecycle_stage=str(data.get("lifecycle_stage", "active")),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class RunSource:
    git_commit: str | None = None
    entry_point: str | None = None


@dataclass(frozen=True)
class Run:
    """A run as the server last reported it; `metrics` holds the latest value of each metric."""

    id: str
    experiment_id: int
    name: str
    status: str
    start_time: int
    end_time: int | None
    user: str
    parent_run_id: str | None
    source: RunSource
    environment: dict[str, Any] | None
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        source = data.get("source") or {}
        end_time = data.get("end_time")
        return cls(
            id=str(data["id"]),
            experiment_id=int(data["experiment_id"]),
            name=str(data.get("name") or ""),
            status=str(data["status"]),
            start_time=int(data["start_time"]),
            end_time=None if end_time is None else int(end_time),
            user=str(data.get("user") or ""),
            parent_run_id=data.get("parent_run_id"),
            source=RunSource(git_commit=source.get("git_commit"), entry_point=source.get("entry_point")),
            environment=data.get("environment"),
            lifecycle_stage=str(data.get("lifecycle_stage", "active")),
            params=_str_dict(data.get("params")),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            tags=_str_dict(data.get("tags")),
        )


def json_float(value: float) -> float | str:
    """A float for a JSON body: NaN and ±Infinity have no JSON literal, so they go as the strings
    "NaN", "Infinity" and "-Infinity" (the server's form, and MLflow's)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


@dataclass(frozen=True)
class Metric:
    """One metric point to log; `timestamp` is milliseconds since the epoch (the server's clock if None)."""

    key: str
    value: float
    step: int = 0
    timestamp: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "value": json_float(self.value), "step": self.step}
        if self.timestamp is not None:
            body["timestamp"] = self.timestamp
        return body


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float
    timestamp: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(step=int(data["step"]), value=float(data["value"]), timestamp=int(data["timestamp"]))


@dataclass(frozen=True)
class ArtifactFile:
    """An entry of an artifact listing; `path` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    size: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        size = data.get("size")
        return cls(path=str(data["path"]), is_dir=bool(data.get("is_dir")), size=None if size is None else int(size))


@dataclass(frozen=True)
class StoredArtifact:
    path: str
    size: int
    sha256: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(path=str(data["path"]), size=int(data["size"]), sha256=str(data["sha256"]))


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    is_active: bool
    created_at: datetime | None
    password: str | None = None
    """Only set on the answer to create_user, when the server generated the password."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            username=str(data["username"]),
            role=str(data["role"]),
            is_active=bool(data.get("is_active", True)),
            created_at=_time(data.get("created_at")),
            password=data.get("password"),
        )


@dataclass(frozen=True)
class Token:
    """An API token; `token` (the secret) is only set on the answer to create_token."""

    id: int
    name: str
    username: str
    prefix: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None = None
    token: str | None = None
    # "full" (the user's role) or "predict" (only predicting on `deployments`).
    scope: str = "full"
    deployments: list[str] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        deployments = data.get("deployments")
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            username=str(data["username"]),
            prefix=str(data["prefix"]),
            created_at=_time(data.get("created_at")),
            expires_at=_time(data.get("expires_at")),
            revoked_at=_time(data.get("revoked_at")),
            token=data.get("token"),
            scope=str(data.get("scope") or "full"),
            deployments=[str(d) for d in deployments] if deployments is not None else None,
        )


@dataclass(frozen=True)
class Identity:
    """Who the token belongs to."""

    id: int | None
    username: str
    role: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        user_id = data.get("id")
        return cls(id=None if user_id is None else int(user_id), username=str(data["username"]), role=str(data["role"]))


# -- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model; `aliases` maps each alias to the version number it points at."""

    id: int
    name: str
    description: str
    model_card: str
    tags: dict[str, str]
    lifecycle_stage: str
    latest_version: int
    aliases: dict[str, int]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            model_card=str(data.get("model_card") or ""),
            tags=_str_dict(data.get("tags")),
            lifecycle_stage=str(data.get("lifecycle_stage", "active")),
            latest_version=int(data.get("latest_version") or 0),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class VersionFile:
    """One file of a model version, with the SHA-256 a download is checked against."""

    path: str
    size: int
    sha256: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(path=str(data["path"]), size=int(data["size"]), sha256=str(data["sha256"]))


@dataclass(frozen=True)
class ModelVersion:
    """A version of a registered model. Only a READY version has files; a FAILED one says why
    in `status_message`."""

    model: str
    version: int
    status: str
    status_message: str
    source_run_id: str | None
    source_path: str | None
    files: list[VersionFile]
    flavor: str | None
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    description: str
    tags: dict[str, str]
    aliases: list[str]
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def uri(self) -> str:
        """``models:/NAME/N``, the reference `shipyard.load_model` takes."""
        return f"models:/{self.model}/{self.version}"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            model=str(data["model"]),
            version=int(data["version"]),
            status=str(data["status"]),
            status_message=str(data.get("status_message") or ""),
            source_run_id=data.get("source_run_id"),
            source_path=data.get("source_path"),
            files=[VersionFile.from_json(item) for item in data.get("files") or []],
            flavor=data.get("flavor"),
            signature=data.get("signature"),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            description=str(data.get("description") or ""),
            tags=_str_dict(data.get("tags")),
            aliases=[str(alias) for alias in data.get("aliases") or []],
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class AliasChange:
    """An alias as set: the version it points at now, and the one before (None if new)."""

    model: str
    alias: str
    version: int
    previous_version: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        previous = data.get("previous_version")
        return cls(
            model=str(data["model"]),
            alias=str(data["alias"]),
            version=int(data["version"]),
            previous_version=None if previous is None else int(previous),
        )


@dataclass(frozen=True)
class DatasetLink:
    """A dataset version a run read, as recorded for lineage; `context` says how (``training`` …)."""

    dataset: str
    version: int
    digest: str | None
    context: str

    @property
    def reference(self) -> str:
        return f"{self.dataset}@{self.version}"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        # The lineage calls the dataset `name`, the run-link answer calls it `dataset`.
        return cls(
            dataset=str(data.get("dataset") or data.get("name")),
            version=int(data["version"]),
            digest=data.get("digest"),
            context=str(data.get("context") or ""),
        )


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from: its run, the run's experiment, the dataset versions the
    run read, and the evaluation jobs run on the version since."""

    model: str
    version: int
    source_run: Run | None
    experiment: dict[str, Any] | None
    datasets: list[DatasetLink]
    evaluations: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        run = data.get("source_run")
        return cls(
            model=str(data["model"]),
            version=int(data["version"]),
            source_run=Run.from_json(run) if run else None,
            experiment=data.get("experiment"),
            datasets=[DatasetLink.from_json(item) for item in data.get("datasets") or []],
            evaluations=list(data.get("evaluations") or []),
        )


# -- datasets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    description: str
    latest_version: int
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            latest_version=int(data.get("latest_version") or 0),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset version: content-addressed (`sha256` of the uploaded bytes), with its schema
    (`columns`) and profile. `created` is True when this upload made it, False when the same
    bytes were uploaded before, None when it was read."""

    dataset: str
    version: int
    reference: str
    sha256: str
    source_format: str
    size_bytes: int
    rows: int
    columns: list[dict[str, str]]
    profile: dict[str, Any]
    created_by: str
    created_at: datetime | None
    created: bool | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], created: bool | None = None) -> Self:
        return cls(
            dataset=str(data["dataset"]),
            version=int(data["version"]),
            reference=str(data.get("reference") or f"{data['dataset']}@{data['version']}"),
            sha256=str(data["sha256"]),
            source_format=str(data.get("source_format") or ""),
            size_bytes=int(data.get("size_bytes") or 0),
            rows=int(data.get("rows") or 0),
            columns=[_str_dict(column) for column in data.get("columns") or []],
            profile=dict(data.get("profile") or {}),
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            created=created,
        )


# -- jobs -----------------------------------------------------------------------------------

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Job:
    """A train or evaluate job: `progress` runs 0..1 with a `message`; once finished, `result`
    (succeeded) or `error` (failed) says how it went, and `log_tail` holds its last log lines."""

    id: str
    type: str
    spec: dict[str, Any]
    status: str
    progress: float
    message: str
    attempts: int
    max_attempts: int
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    log_tail: str
    created_by: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change any more."""
        return self.status in FINISHED_JOB_STATUSES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            spec=dict(data.get("spec") or {}),
            status=str(data["status"]),
            progress=float(data.get("progress") or 0.0),
            message=str(data.get("message") or ""),
            attempts=int(data.get("attempts") or 0),
            max_attempts=int(data.get("max_attempts") or 0),
            cancel_requested=bool(data.get("cancel_requested")),
            result=data.get("result"),
            error=data.get("error"),
            log_tail=str(data.get("log_tail") or ""),
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
        )


@dataclass(frozen=True)
class Route:
    """One route of a deployment: the model version, its share of the traffic and its mode."""

    model: str
    version: int
    weight: int
    mode: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            model=str(data["model"]), version=int(data["version"]), weight=int(data["weight"]), mode=str(data["mode"])
        )


@dataclass(frozen=True)
class Batching:
    """Micro-batching of a deployment's concurrent predicts: up to `max_batch_size` rows a batch,
    forming for at most `max_wait_ms` (a lone request never waits)."""

    max_batch_size: int
    max_wait_ms: int

    def to_json(self) -> dict[str, int]:
        return {"max_batch_size": self.max_batch_size, "max_wait_ms": self.max_wait_ms}


@dataclass(frozen=True)
class Rollout:
    """A rollout of a deployment: strategy, candidate, state and step, the reason of its last
    decision and its last analysis (the candidate's and the primary's requests, errors, p95)."""

    id: int
    strategy: str
    model: str
    primary_version: int
    candidate_version: int
    state: str
    steps: list[int]
    step: int
    weight: int
    interval_seconds: float
    thresholds: dict[str, Any]
    reason: str
    analysis: dict[str, Any] | None
    job_id: str | None
    created_by: str
    created_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state != "progressing"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            strategy=str(data["strategy"]),
            model=str(data["model"]),
            primary_version=int(data["primary_version"]),
            candidate_version=int(data["candidate_version"]),
            state=str(data["state"]),
            steps=[int(s) for s in data.get("steps") or []],
            step=int(data.get("step", 1)),
            weight=int(data.get("weight", 0)),
            interval_seconds=float(data.get("interval_seconds", 0)),
            thresholds=dict(data.get("thresholds") or {}),
            reason=str(data.get("reason") or ""),
            analysis=data.get("analysis"),
            job_id=data.get("job_id"),
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            finished_at=_time(data.get("finished_at")),
        )


@dataclass(frozen=True)
class Deployment:
    """A deployment: its current revision, the routes that revision serves, and the rollout in
    progress (or None)."""

    name: str
    description: str
    track_alias: str | None
    default_strategy: str
    state: str
    revision: int
    routes: list[Route]
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    batching: Batching | None = None
    rollout: Rollout | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        batching = data.get("batching")
        return cls(
            rollout=Rollout.from_json(data["rollout"]) if data.get("rollout") else None,
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            track_alias=data.get("track_alias"),
            default_strategy=str(data.get("default_strategy", "direct")),
            state=str(data.get("state", "")),
            revision=int(data["revision"]),
            routes=[Route.from_json(r) for r in data.get("routes") or []],
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            batching=Batching(int(batching["max_batch_size"]), int(batching["max_wait_ms"])) if batching else None,
        )


@dataclass(frozen=True)
class Revision:
    """One revision of a deployment: its route table, with who made it, when and why."""

    revision: int
    routes: list[Route]
    strategy: str
    reason: str
    created_by: str
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            revision=int(data["revision"]),
            routes=[Route.from_json(r) for r in data.get("routes") or []],
            strategy=str(data.get("strategy", "direct")),
            reason=str(data.get("reason") or ""),
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
        )


@dataclass(frozen=True)
class WebhookAttempt:
    """One try at sending a webhook: the receiver's status (None when no answer came), what went
    wrong (None when it was accepted), how long it took, and the start of the answer."""

    number: int
    started_at: datetime | None
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        code = data.get("status_code")
        return cls(
            number=int(data["number"]),
            started_at=_time(data.get("started_at")),
            duration_ms=float(data.get("duration_ms") or 0.0),
            status_code=None if code is None else int(code),
            error=data.get("error"),
            response_excerpt=str(data.get("response_excerpt") or ""),
        )


@dataclass(frozen=True)
class WebhookDelivery:
    """One event sent to one URL: `pending` while it is tried, then `delivered` or `failed` (with
    the reason in `error`), and every attempt. `id` is the X-Shipyard-Delivery header."""

    id: str
    event: str
    url: str
    deployment: str | None
    status: str
    signed: bool
    payload: dict[str, Any]
    attempt_count: int
    response_status: int | None
    error: str | None
    created_at: datetime | None
    finished_at: datetime | None
    attempts: list[WebhookAttempt]

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        code = data.get("response_status")
        return cls(
            id=str(data["id"]),
            event=str(data["event"]),
            url=str(data["url"]),
            deployment=data.get("deployment"),
            status=str(data["status"]),
            signed=bool(data.get("signed")),
            payload=dict(data.get("payload") or {}),
            attempt_count=int(data.get("attempt_count") or 0),
            response_status=None if code is None else int(code),
            error=data.get("error"),
            created_at=_time(data.get("created_at")),
            finished_at=_time(data.get("finished_at")),
            attempts=[WebhookAttempt.from_json(a) for a in data.get("attempts") or []],
        )


@dataclass(frozen=True)
class Schedule:
    """A job submitted at every tick of an interval (`every_seconds`) or a cron expression (`cron`),
    in UTC. `managed_by` names what owns it when the platform made it (a deployment monitor); such
    a schedule is changed there. `last_job_id` is the job of the last tick, or None when that tick
    was skipped, `last_skip_reason` saying why."""

    name: str
    job_type: str
    spec: dict[str, Any]
    every_seconds: int | None
    cron: str | None
    enabled: bool
    managed_by: str | None
    run_as: str
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: str | None
    last_skip_reason: str | None
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        every = data.get("every_seconds")
        return cls(
            name=str(data["name"]),
            job_type=str(data["job_type"]),
            spec=dict(data.get("spec") or {}),
            every_seconds=int(every) if every is not None else None,
            cron=data.get("cron"),
            enabled=bool(data.get("enabled")),
            managed_by=data.get("managed_by"),
            run_as=str(data.get("run_as") or ""),
            next_run_at=_time(data.get("next_run_at")),
            last_run_at=_time(data.get("last_run_at")),
            last_job_id=data.get("last_job_id"),
            last_skip_reason=data.get("last_skip_reason"),
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
        )


@dataclass(frozen=True)
class ScheduleTick:
    """One fire time of a schedule: the job it submitted, or why it was skipped."""

    tick_at: datetime | None
    job_id: str | None
    skip_reason: str | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            tick_at=_time(data.get("tick_at")),
            job_id=data.get("job_id"),
            skip_reason=data.get("skip_reason"),
            created_at=_time(data.get("created_at")),
        )


@dataclass(frozen=True)
class DriftReportSummary:
    """One drift check of a deployment: its window, the rows on each side, the reference dataset
    version, the versions that answered, and the verdicts (`decay_detected` None when no
    performance threshold was judged)."""

    id: int
    deployment: str
    job_id: str
    window_start: datetime | None
    window_end: datetime | None
    current_rows: int
    reference_rows: int
    reference: str
    model_versions: list[dict[str, Any]]
    preset: str
    drift_detected: bool
    drifted_share: float
    decay_detected: bool | None
    drifted_columns: list[str]
    created_by: str
    created_at: datetime | None
    # What the deployment's monitor did about it: {action, event, status, delivery_id, job_id, detail}.
    actions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def _fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        decay = data.get("decay_detected")
        return {
            "id": int(data["id"]),
            "deployment": str(data["deployment"]),
            "job_id": str(data["job_id"]),
            "window_start": _time(data.get("window_start")),
            "window_end": _time(data.get("window_end")),
            "current_rows": int(data["current_rows"]),
            "reference_rows": int(data["reference_rows"]),
            "reference": str(data["reference"]),
            "model_versions": [dict(v) for v in data.get("model_versions") or []],
            "preset": str(data.get("preset") or ""),
            "drift_detected": bool(data["drift_detected"]),
            "drifted_share": float(data["drifted_share"]),
            "decay_detected": None if decay is None else bool(decay),
            "drifted_columns": [str(c) for c in data.get("drifted_columns") or []],
            "created_by": str(data.get("created_by") or ""),
            "created_at": _time(data.get("created_at")),
            "actions": [dict(a) for a in data.get("actions") or []],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(**cls._fields(data))


@dataclass(frozen=True)
class DriftReport(DriftReportSummary):
    """A whole drift report. `body` holds `columns` (per column: test, statistic, p_value, score,
    threshold, verdict, missing rates, bins of both sides), `dataset`, `prediction` (the drift of
    the model's outputs), `not_in_reference` and `performance` (per version: metrics, curve, verdict)."""

    body: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[dict[str, Any]]:
        return list(self.body.get("columns") or [])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(**cls._fields(data), body=dict(data.get("body") or {}))


@dataclass(frozen=True)
class Monitor:
    """A deployment's monitor: a drift check every `every_seconds` (or on `cron`) over `window`
    (``{"hours": N}`` or ``{"predictions": N}``), and what it does on drift (`on_drift`) or decay
    (`on_decay`): ``alert`` posts to `alert_url`, ``retrain`` submits a retrain job as `retrain`
    says. `schedule` is its managed schedule (next and last run); `last_report` the newest report."""

    deployment: str
    every_seconds: int | None
    cron: str | None
    window: dict[str, Any]
    reference: str | None
    options: dict[str, Any] | None
    performance: dict[str, Any] | None
    alert_url: str | None
    on_drift: list[str]
    on_decay: list[str]
    retrain: dict[str, Any] | None
    enabled: bool
    schedule: dict[str, Any] | None
    last_report: DriftReportSummary | None
    created_by: str
    created_at: datetime | None
    updated_by: str
    updated_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        actions = data.get("actions") or {}
        alert = actions.get("alert") or {}
        last = data.get("last_report")
        every = data.get("every_seconds")
        return cls(
            deployment=str(data["deployment"]),
            every_seconds=int(every) if every is not None else None,
            cron=data.get("cron"),
            window=dict(data.get("window") or {}),
            reference=data.get("reference"),
            options=data.get("options"),
            performance=data.get("performance"),
            alert_url=alert.get("url"),
            on_drift=[str(a) for a in actions.get("on_drift") or []],
            on_decay=[str(a) for a in actions.get("on_decay") or []],
            retrain=actions.get("retrain"),
            enabled=bool(data.get("enabled")),
            schedule=data.get("schedule"),
            last_report=DriftReportSummary.from_json(last) if last else None,
            created_by=str(data.get("created_by") or ""),
            created_at=_time(data.get("created_at")),
            updated_by=str(data.get("updated_by") or ""),
            updated_at=_time(data.get("updated_at")),
        )
