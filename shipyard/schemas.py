"""Typed records the SDK sends and returns: experiments, runs, metrics, artifacts, users, tokens."""

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


@dataclass(frozen=True)
class Metric:
    """One metric point to log; `timestamp` is milliseconds since the epoch (the server's clock if None)."""

    key: str
    value: float
    step: int = 0
    timestamp: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "value": self.value, "step": self.step}
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            username=str(data["username"]),
            prefix=str(data["prefix"]),
            created_at=_time(data.get("created_at")),
            expires_at=_time(data.get("expires_at")),
            revoked_at=_time(data.get("revoked_at")),
            token=data.get("token"),
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
