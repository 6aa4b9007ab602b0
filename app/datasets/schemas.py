"""API schemas for datasets and their versions."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.schemas import StrictBody
from app.tracking.schemas import Description

DatasetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
# name, name@latest or name@3
DatasetRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(@(latest|[0-9]{1,9}))?$")]


class DatasetCreate(StrictBody):
    name: DatasetName
    description: Description = ""


class DatasetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


class DatasetList(BaseModel):
    datasets: list[DatasetRead]
    next_page_token: str | None


class DatasetVersionRead(BaseModel):
    dataset: str
    version: int
    reference: str = Field(description="name@version, usable wherever a dataset is referenced.")
    sha256: str = Field(description="SHA-256 of the uploaded bytes; the same bytes give the same version.")
    source_format: str
    size_bytes: int
    rows: int
    columns: list[dict[str, str]] = Field(description="The schema: column names and types.")
    profile: dict[str, Any]
    created_by: str
    created_at: datetime


class DatasetVersionList(BaseModel):
    versions: list[DatasetVersionRead]


class RunDatasetLink(StrictBody):
    dataset: DatasetRef
    context: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] = "training"


class RunDatasetRead(BaseModel):
    run_id: str
    dataset: str
    version: int
    digest: str | None
    context: str
