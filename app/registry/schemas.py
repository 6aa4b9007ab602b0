"""API schemas for registered models, model versions, aliases and lineage."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import JsonInt, StrictBody
from app.tracking.schemas import Description, MetricValueOut, RunId, RunRead, Tags

# Names go into URLs and storage keys: no slashes, no dots alone, nothing to decode.
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
# Lower case, digits, _ and -, not all digits (a bare number means a version).
AliasName = Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9_-]*[a-z_-][a-z0-9_-]*$")]
ModelCard = Annotated[str, StringConstraints(max_length=100_000)]
ArtifactPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class VersionStatus(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"


class ModelCreate(StrictBody):
    name: ModelName
    description: Description = ""
    model_card: ModelCard = Field(default="", description="Markdown: intended use, limitations, owners.")
    tags: Tags = Field(default_factory=dict)


class ModelUpdate(StrictBody):
    description: Description | None = None
    model_card: ModelCard | None = None
    tags: Tags | None = None
    lifecycle_stage: Literal["active", "archived"] | None = None


class ModelRead(BaseModel):
    id: int
    name: str
    description: str
    model_card: str
    tags: dict[str, str]
    lifecycle_stage: str
    latest_version: int
    aliases: dict[str, int] = Field(description="Alias -> version number.")
    created_at: datetime
    updated_at: datetime


class ModelList(BaseModel):
    models: list[ModelRead]
    next_page_token: str | None


class VersionFromRun(StrictBody):
    run_id: RunId
    path: ArtifactPath = Field(default="model", description="The folder of the run's artifacts holding the model.")
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    create_model: bool = Field(
        default=False,
        description="Register the model too when it does not exist yet, in the same transaction: "
        "a version the registry refuses then leaves no empty model behind.",
    )


class VersionUpdate(StrictBody):
    description: Description | None = None
    tags: Tags | None = None


class VersionFile(BaseModel):
    path: str
    size: int
    sha256: str


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model: str
    version: int
    status: VersionStatus
    status_message: str
    source_run_id: str | None
    source_path: str | None
    storage_location: str = Field(description="Where the server keeps the files (server-minted).")
    files: list[VersionFile]
    flavor: str | None
    signature: dict[str, Any] | None
    metrics: dict[str, MetricValueOut] = Field(
        description="The source run's latest metrics when the version was made "
        '("NaN", "Infinity", "-Infinity" for those).'
    )
    description: str
    tags: dict[str, str]
    aliases: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime


class VersionList(BaseModel):
    versions: list[VersionRead]
    next_page_token: str | None


class AliasSet(StrictBody):
    version: Annotated[int, Field(ge=1, le=2**31 - 1), JsonInt]


class AliasRead(BaseModel):
    model: str
    alias: str
    version: int
    previous_version: int | None


class ExperimentRef(BaseModel):
    id: int
    name: str


class DatasetRef(BaseModel):
    name: str
    version: int
    digest: str | None
    context: str


class Lineage(BaseModel):
    model: str
    version: int
    source_run: RunRead | None
    experiment: ExperimentRef | None
    datasets: list[DatasetRef]
    evaluations: list[dict[str, Any]] = Field(description="Evaluation jobs of this version (with the jobs issue).")
