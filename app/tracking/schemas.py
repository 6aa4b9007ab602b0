"""API schemas for experiments, runs and what runs log."""

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from app.names import folded_name_problem
from app.schemas import JsonInt, StrictBody

# MLflow's limits for names and values, so clients written for it fit.
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-. /:]{1,250}$")]
ParamValue = Annotated[str, StringConstraints(max_length=6000)]
TagValue = Annotated[str, StringConstraints(max_length=8000)]
Description = Annotated[str, StringConstraints(max_length=10000)]
RunId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Millis = Annotated[int, Field(ge=0, le=2**53), JsonInt]
Step = Annotated[int, Field(ge=-(2**53), le=2**53), JsonInt]
# pydantic describes the keys with patternProperties only, which leaves any other key (with any
# value) open in the OpenAPI schema; additionalProperties=false makes it say what is validated.
Tags = Annotated[dict[Key, TagValue], Field(max_length=100, json_schema_extra={"additionalProperties": False})]
Params = Annotated[dict[Key, ParamValue], Field(max_length=100, json_schema_extra={"additionalProperties": False})]


def _readable_name(name: str) -> str:
    problem = folded_name_problem(name)
    if problem is not None:
        raise ValueError(f"the name {problem}")
    return name


# An experiment is unique by its name as people read it (app.names.fold_name), which must exist.
ExperimentName = Annotated[Name, AfterValidator(_readable_name)]


# NaN and ±Infinity have no JSON literal. As MLflow's REST API does (protobuf's JSON mapping of a
# double), they travel as these exact strings; Python's bare NaN/Infinity tokens are accepted too.
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NON_FINITE_SCHEMA = {"type": "string", "enum": list(NON_FINITE)}


def _named_non_finite(value: object) -> object:
    return NON_FINITE.get(value, value) if isinstance(value, str) else value


def float_or_name(value: float) -> float | str:
    """A float for JSON: itself when finite, else "NaN", "Infinity" or "-Infinity"."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


MetricValueIn = Annotated[
    float,
    Field(allow_inf_nan=True),
    BeforeValidator(_named_non_finite),
    WithJsonSchema({"anyOf": [{"type": "number"}, _NON_FINITE_SCHEMA]}),
]
MetricValueOut = Annotated[
    float,
    PlainSerializer(float_or_name, return_type=float | str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "number"}, _NON_FINITE_SCHEMA]}),
]

MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100


class LifecycleStage(StrEnum):
    active = "active"
    archived = "archived"


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ExperimentCreate(StrictBody):
    name: ExperimentName
    description: Description = ""
    tags: Tags = Field(default_factory=dict)


class ExperimentUpdate(StrictBody):
    name: ExperimentName | None = None
    description: Description | None = None
    tags: Tags | None = None
    lifecycle_stage: Annotated[LifecycleStage, Strict(False)] | None = None


class ExperimentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    tags: dict[str, str]
    lifecycle_stage: LifecycleStage
    created_at: datetime
    updated_at: datetime


class ExperimentList(BaseModel):
    experiments: list[ExperimentRead]
    next_page_token: str | None


class MetricIn(StrictBody):
    key: Key
    value: MetricValueIn = Field(description='A number, or "NaN", "Infinity", "-Infinity".')
    step: Step = 0
    timestamp: Millis | None = None


class ParamIn(StrictBody):
    key: Key
    value: ParamValue


class TagIn(StrictBody):
    key: Key
    value: TagValue


class RunSource(StrictBody):
    git_commit: Annotated[str, StringConstraints(max_length=64)] | None = None
    entry_point: Annotated[str, StringConstraints(max_length=512)] | None = None


class RunCreate(StrictBody):
    name: Name | None = None
    parent_run_id: RunId | None = None
    start_time: Millis | None = None
    tags: Tags = Field(default_factory=dict)
    source: RunSource = Field(default_factory=RunSource)
    environment: dict[str, Any] | None = Field(default=None, description="Python version, platform, package versions.")
    # The run's first data in the same request and transaction (as W&B's init takes a config):
    # a run and its params are one round trip, and a bad metric leaves no run behind.
    params: Params = Field(default_factory=dict, description="At most 100 params, written with the run.")
    metrics: list[MetricIn] = Field(
        default_factory=list, description=f"At most {MAX_BATCH_METRICS} metric points, written with the run."
    )


class RunUpdate(StrictBody):
    name: Name | None = None
    status: Annotated[RunStatus, Strict(False)] | None = None
    end_time: Millis | None = None


class RunRead(BaseModel):
    id: str
    experiment_id: int
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    parent_run_id: str | None
    source: RunSource
    environment: dict[str, Any] | None
    lifecycle_stage: str
    params: dict[str, str]
    metrics: dict[str, MetricValueOut] = Field(
        description='The latest value of each metric (highest step, then timestamp); "NaN", "Infinity", '
        '"-Infinity" for those values.'
    )
    tags: dict[str, str]


class RunList(BaseModel):
    runs: list[RunRead]
    next_page_token: str | None


class LogBatch(StrictBody):
    # Limits are checked by the service (400 naming the limit), not here (422), as MLflow does.
    metrics: list[MetricIn] = Field(default_factory=list, description=f"At most {MAX_BATCH_METRICS}.")
    params: list[ParamIn] = Field(default_factory=list, description=f"At most {MAX_BATCH_PARAMS}.")
    tags: list[TagIn] = Field(default_factory=list, description=f"At most {MAX_BATCH_TAGS}.")


class MetricPoint(BaseModel):
    step: int
    value: MetricValueOut
    timestamp: int


class MetricHistory(BaseModel):
    key: str
    points: list[MetricPoint]
    downsampled: bool = Field(description="True when points were thinned to max_points.")


class RunSearch(StrictBody):
    experiment_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1), JsonInt]], Field(max_length=100)] = Field(
        default_factory=list
    )
    filter: Annotated[str, StringConstraints(max_length=4000)] = ""
    order_by: Annotated[list[Annotated[str, StringConstraints(max_length=300)]], Field(max_length=10)] = Field(
        default_factory=list
    )
    max_results: Annotated[int, Field(ge=1, le=1000), JsonInt] = 100
    page_token: Annotated[str, StringConstraints(max_length=512)] | None = None
    lifecycle_stage: Literal["active", "deleted", "all"] = "active"


class ArtifactInfo(BaseModel):
    path: str
    is_dir: bool
    size: int | None


class ArtifactList(BaseModel):
    root: str
    files: list[ArtifactInfo]


class ArtifactStored(BaseModel):
    path: str
    size: int
    sha256: str
