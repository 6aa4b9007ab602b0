"""The drift_check job's spec and the API schemas of drift reports."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.deployments.schemas import DeploymentName

DatasetRef = Annotated[str, StringConstraints(min_length=3, max_length=300, pattern=r"^[^@]+@([0-9]+|latest)$")]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# A window of at most a year of hours, or of ten million logged predictions.
MAX_WINDOW_HOURS = 24 * 366
MAX_WINDOW_PREDICTIONS = 10_000_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(_Spec):
    """Exactly one of the two."""

    hours: float | None = Field(default=None, gt=0, le=MAX_WINDOW_HOURS, description="The last N hours.")
    predictions: int | None = Field(
        default=None, ge=1, le=MAX_WINDOW_PREDICTIONS, description="The last N logged predictions."
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.hours is None) == (self.predictions is None):
            raise ValueError('give exactly one of "hours" and "predictions"')
        return self


class DriftOptionsSpec(_Spec):
    preset: Literal["shipyard", "evidently"] = Field(
        default="shipyard",
        description="`shipyard`: two-sample tests throughout; `evidently`: Evidently's data-drift preset exactly.",
    )
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="The dataset drifts when this share of its columns drift."
    )
    column_tests: dict[ColumnName, str] = Field(default_factory=dict, description="A test per column, by name.")
    column_thresholds: dict[ColumnName, float] = Field(
        default_factory=dict, description="A threshold per column, for its test."
    )


class PerformanceSpec(_Spec):
    metric: Literal["accuracy", "f1", "rmse", "mae"] | None = Field(
        default=None, description="Default: accuracy for a classifier, rmse for a regressor."
    )
    threshold: float = Field(
        allow_inf_nan=False,
        description="Decay when the metric falls below this (accuracy, f1) or rises above it (rmse, mae).",
    )
    min_labelled: int = Field(
        default=30, ge=1, le=10**9, description="A version with fewer predictions that have feedback is not judged."
    )
    buckets: int = Field(default=10, ge=1, le=100, description="The window split in this many spans for the curve.")


class DriftCheckSpec(_Spec):
    deployment: DeploymentName
    window: Window
    reference: DatasetRef | None = Field(
        default=None,
        description="name@N; default: the dataset version the deployed model version was trained on (lineage).",
    )
    options: DriftOptionsSpec = Field(default_factory=DriftOptionsSpec)
    performance: PerformanceSpec | None = None


# ---- reports -----------------------------------------------------------------------------------


class ModelVersionRows(BaseModel):
    model: str
    version: int
    rows: int


class DriftReportSummary(BaseModel):
    id: int
    deployment: str
    job_id: str
    window_start: datetime
    window_end: datetime
    current_rows: int
    reference_rows: int
    reference: str
    model_versions: list[ModelVersionRows]
    preset: str
    drift_detected: bool
    drifted_share: float
    decay_detected: bool | None
    drifted_columns: list[str]
    created_by: str
    created_at: datetime


class DriftReportRead(DriftReportSummary):
    body: dict[str, Any] = Field(
        description="columns (per column: test, statistic, p_value, threshold, verdict, missing rates, bins), "
        "dataset, prediction, not_in_reference, performance."
    )


class DriftReportList(BaseModel):
    reports: list[DriftReportSummary]
    next_page_token: str | None
