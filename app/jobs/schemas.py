"""API schemas for jobs."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.schemas import JsonInt, StrictBody


class JobType(StrEnum):
    train = "train"
    evaluate = "evaluate"
    rollout_analysis = "rollout_analysis"
    drift_check = "drift_check"
    retrain = "retrain"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})


class JobCreate(StrictBody):
    type: Annotated[JobType, Strict(False)]
    spec: dict[str, Any] = Field(
        description="What to do; its shape depends on the type (see the docs of train, evaluate and retrain)."
    )
    max_attempts: Annotated[int, Field(ge=1, le=10), JsonInt] = 3


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    spec: dict[str, Any]
    status: JobStatus
    progress: float
    message: str
    attempts: int
    max_attempts: int
    heartbeat_at: datetime | None
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    log_tail: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    jobs: list[JobRead]
    next_page_token: str | None
