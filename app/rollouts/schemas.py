"""API schemas of rollouts: the state of one, as the deployment and the history show it."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class RolloutState(StrEnum):
    PROGRESSING = "progressing"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"


class RolloutRead(BaseModel):
    id: int
    strategy: str
    model: str
    primary_version: int
    candidate_version: int
    state: RolloutState
    steps: list[int]
    step: int = Field(description="The step in progress, from 1 (or the last one reached).")
    weight: int = Field(description="The candidate's share of the traffic now, 0..100.")
    interval_seconds: float
    thresholds: dict[str, Any]
    step_started_at: datetime | None = Field(
        description="When the step's clock started: once every live replica had applied its weights."
    )
    reason: str = Field(description="Why the last decision was taken.")
    analysis: dict[str, Any] | None = Field(
        description="The last analysis: the candidate's (and primary's) requests, errors, error rate and p95."
    )
    job_id: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class RolloutList(BaseModel):
    rollouts: list[RolloutRead]
    next_page_token: str | None


class AbortCreate(BaseModel):
    reason: str = Field(default="", max_length=2000)
