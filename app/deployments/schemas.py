"""API schemas of deployments, their routes, revisions and rollouts."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.registry.schemas import AliasName, ModelName
from app.rollouts.schemas import RolloutRead
from app.schemas import JsonInt, StrictBody
from app.tracking.schemas import Description

# Names go into URLs: the same rule as model names.
DeploymentName = ModelName
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1), JsonInt]
Reason = Annotated[str, StringConstraints(max_length=2000)]
SampleRate = Annotated[float, Field(ge=0, le=1)]


class RouteMode(StrEnum):
    PRIMARY = "primary"
    CANARY = "canary"
    SHADOW = "shadow"


class Strategy(StrEnum):
    """How a rollout moves the traffic (see RolloutCreate.strategy)."""

    DIRECT = "direct"
    CANARY = "canary"
    BLUE_GREEN = "blue_green"
    SHADOW = "shadow"
    AB = "ab"


class RouteRead(BaseModel):
    model: str
    version: int
    weight: int = Field(description="Share of the traffic, 0..100.")
    mode: RouteMode


class Batching(StrictBody):
    """Adaptive micro-batching of concurrent predicts: a batch is formed from the requests already
    queued (a lone request never waits), up to `max_batch_size` rows, forming for at most `max_wait_ms`."""

    max_batch_size: Annotated[int, Field(ge=1, le=100_000), JsonInt]
    max_wait_ms: Annotated[int, Field(ge=0, le=10_000), JsonInt]


class DeploymentCreate(StrictBody):
    # Exactly one of version and alias, said in the schema too (neither may be null).
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["version"]}, {"required": ["alias"]}]})

    name: DeploymentName
    model: ModelName
    version: VersionNumber | SkipJsonSchema[None] = None
    alias: AliasName | SkipJsonSchema[None] = Field(
        default=None, description="Deploy the version this alias points at."
    )
    track_alias: AliasName | None = Field(default=None, description="The alias this deployment follows.")
    description: Description = ""
    reason: Reason = ""
    log_sample_rate: SampleRate | None = Field(
        default=None,
        description="Share of predicted rows written to the prediction log; null: the server's "
        "SHIPYARD_PREDICTION_LOG_SAMPLE_RATE.",
    )
    batching: Batching | None = Field(default=None, description="Micro-batching; off when absent or null.")

    @model_validator(mode="after")
    def _one_version(self) -> Self:
        if (self.version is None) == (self.alias is None) or {"version", "alias"} <= self.model_fields_set:
            raise ValueError("give exactly one of version and alias")
        return self


class DeploymentUpdate(StrictBody):
    """The fields given change; routes change only through rollouts and rollbacks."""

    description: Description | SkipJsonSchema[None] = None
    log_sample_rate: SampleRate | None = Field(
        default=None, description="Share of predicted rows logged; null: back to the server's setting."
    )
    batching: Batching | None = Field(default=None, description="Micro-batching; null turns it off.")


Weight = Annotated[int, Field(ge=1, le=100), JsonInt]
Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


class RolloutPlan(StrictBody):
    """How to roll a version out, all but which version (a retrain's rollout names the version it made)."""

    # Literal, not the enum: a strict body takes the JSON string as the schema states it.
    strategy: Literal["direct", "canary", "blue_green", "shadow", "ab"] = Field(
        default="direct",
        description="`direct` replaces at once; `canary` steps the traffic up with analysis at every step; "
        "`blue_green` warms the candidate at 0% and switches atomically after one interval; `shadow` sends "
        "the candidate a copy of each request; `ab` keeps a fixed split until promote or rollback.",
    )
    reason: Reason = ""
    steps: list[Weight] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="canary: the candidate's weight at each step, rising, ending at 100 (default 10, 25, 50, 100).",
    )
    weight: Annotated[int, Field(ge=1, le=99), JsonInt] = Field(
        default=50, description="ab: the candidate's fixed share of the traffic."
    )
    interval_seconds: Seconds = Field(default=300, description="How long each step is held before its analysis.")
    max_error_rate: float | None = Field(
        default=0.01, ge=0, le=1, description="Roll back when the candidate's error share is above this."
    )
    max_p95_ms: float | None = Field(default=None, gt=0, description="Roll back when its p95 latency is above this.")
    min_requests: Annotated[int, Field(ge=1, le=10**9), JsonInt] = Field(
        default=20, description="A step with fewer requests to the candidate is not judged healthy."
    )
    step_timeout_seconds: Seconds | None = Field(
        default=None,
        description="A step still short of min_requests this long after its clock started fails the rollout "
        "(default: three intervals).",
    )
    max_live_metric_drop: float | None = Field(
        default=None,
        ge=0,
        description="Roll back when the candidate's live metric (from feedback) is this far below the primary's.",
    )


class RolloutCreate(RolloutPlan):
    """A rollout of one version of the deployment's model."""

    version: VersionNumber


class RollbackCreate(StrictBody):
    reason: Reason = ""


class DeploymentRead(BaseModel):
    name: str
    description: str
    track_alias: str | None
    track_status: str | None = Field(
        default=None, description="What came of the last move of the tracked alias: rolled out, or why not."
    )
    default_strategy: str
    state: str = Field(description="`serving`, or `rolling_out` while a rollout is in progress.")
    revision: int = Field(description="The revision serving now.")
    routes: list[RouteRead]
    log_sample_rate: float | None = Field(description="The deployment's own log sample rate; null: the server's.")
    batching: Batching | None = Field(default=None, description="Micro-batching, when on.")
    rollout: RolloutRead | None = Field(default=None, description="The rollout in progress, if any.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class DeploymentList(BaseModel):
    deployments: list[DeploymentRead]
    next_page_token: str | None


class RevisionRead(BaseModel):
    revision: int
    routes: list[RouteRead]
    strategy: str
    reason: str
    created_by: str
    created_at: datetime


class RevisionList(BaseModel):
    revisions: list[RevisionRead]
    next_page_token: str | None
