"""The drift_check job's spec, the API schemas of drift reports, and those of monitors."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, Strict, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.deployments.schemas import DeploymentName, RolloutPlan
from app.outbound import MAX_URL_LENGTH
from app.retraining.schemas import GateText, HoldoutRef, RetrainData
from app.schedules.schemas import CRON_DESCRIPTION, EVERY_DESCRIPTION, CronText, Every
from app.schemas import JsonInt, StrictBody
from app.webhooks.schemas import MAX_SECRET_LENGTH

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


class ReportAction(BaseModel):
    """What a monitor did about a report: an alert delivered (or not), a retrain submitted (or why not)."""

    model_config = ConfigDict(from_attributes=True)

    action: str = Field(description="`alert` or `retrain`.")
    event: str = Field(description="`drift.detected` or `decay.detected`.")
    status: str = Field(description="alert: `sending`, `delivered` or `failed`; retrain: `submitted` or `skipped`.")
    delivery_id: str | None = Field(description="The webhook delivery (GET /webhook-deliveries/{id}).")
    job_id: str | None = Field(description="The retrain job.")
    detail: str = Field(description="Why it was skipped, or why the delivery failed.")
    created_at: datetime
    finished_at: datetime | None


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
    actions: list[ReportAction] = Field(
        default_factory=list, description="What the deployment's monitor did about it: alerts, a retrain."
    )


class DriftReportRead(DriftReportSummary):
    body: dict[str, Any] = Field(
        description="columns (per column: test, statistic, p_value, threshold, verdict, missing rates, bins), "
        "dataset, prediction, not_in_reference, performance."
    )


class DriftReportList(BaseModel):
    reports: list[DriftReportSummary]
    next_page_token: str | None


# ---- monitors ----------------------------------------------------------------------------------

ActionName = Literal["alert", "retrain"]
SECRET_MASK = "********"
MIN_SECRET_LENGTH = 16


class AlertWebhook(StrictBody):
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="The receiver: http(s), no credentials, a public address (or a host the server allows).",
    )
    secret: (
        Annotated[SecretStr, Field(min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)] | SkipJsonSchema[None]
    ) = Field(
        default=None,
        description="Signs each delivery (X-Shipyard-Signature). Kept by the server, never shown nor logged; "
        "leave it out to keep the one set before.",
    )


class RetrainAction(StrictBody):
    """The retrain job a drift or decay submits (see the `retrain` job)."""

    data: Annotated[RetrainData, Strict(False)] = RetrainData.NEWEST
    gates: list[GateText] = Field(default_factory=list, max_length=50)
    holdout: HoldoutRef | SkipJsonSchema[None] = None
    rollout: RolloutPlan | SkipJsonSchema[None] = None


class MonitorActions(StrictBody):
    alert: AlertWebhook | SkipJsonSchema[None] = Field(
        default=None, description="Where `alert` posts drift.detected and decay.detected events."
    )
    on_drift: list[ActionName] = Field(default_factory=list, max_length=2, description="When the data drifts.")
    on_decay: list[ActionName] = Field(
        default_factory=list, max_length=2, description="When the live metric decays (needs `performance`)."
    )
    retrain: RetrainAction | SkipJsonSchema[None] = Field(
        default=None, description="How `retrain` retrains; default: on the newest data, no gates, no rollout."
    )


class MonitorWindow(StrictBody):
    """The drift check's window, with "exactly one" stated in the schema too."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["hours"], "not": {"required": ["predictions"]}},
                {"required": ["predictions"], "not": {"required": ["hours"]}},
            ]
        }
    )

    hours: Annotated[float, Field(gt=0, le=MAX_WINDOW_HOURS)] | SkipJsonSchema[None] = Field(
        default=None, description="The last N hours."
    )
    predictions: Annotated[int, Field(ge=1, le=MAX_WINDOW_PREDICTIONS), JsonInt] | SkipJsonSchema[None] = Field(
        default=None, description="The last N logged predictions."
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.hours is None) == (self.predictions is None):
            raise ValueError('give exactly one of "hours" and "predictions"')
        return self


class MonitorPut(StrictBody):
    """The whole monitor: a PUT replaces the one before."""

    every: Every | SkipJsonSchema[None] = Field(default=None, description=EVERY_DESCRIPTION)
    cron: CronText | SkipJsonSchema[None] = Field(default=None, description=CRON_DESCRIPTION)
    window: MonitorWindow = Field(
        description='The logged predictions each check reads: {"hours": N} or {"predictions": N}.'
    )
    reference: DatasetRef | SkipJsonSchema[None] = Field(
        default=None, description="name@N; default: the dataset the serving version was trained on, at each check."
    )
    options: DriftOptionsSpec | SkipJsonSchema[None] = None
    performance: PerformanceSpec | SkipJsonSchema[None] = Field(
        default=None, description="With feedback: decay when the live metric crosses the threshold."
    )
    actions: MonitorActions = Field(default_factory=MonitorActions)
    enabled: bool = True


class AlertRead(BaseModel):
    url: str
    secret: str = Field(description=f"Always {SECRET_MASK!r}: the secret is never shown.")


class MonitorActionsRead(BaseModel):
    alert: AlertRead | None
    on_drift: list[str]
    on_decay: list[str]
    retrain: dict[str, Any] | None


class MonitorScheduleRead(BaseModel):
    name: str = Field(description="The managed schedule (GET /schedules/{name}).")
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: str | None
    last_skip_reason: str | None


class MonitorRead(BaseModel):
    deployment: str
    every_seconds: int | None
    cron: str | None
    window: dict[str, Any]
    reference: str | None
    options: dict[str, Any] | None
    performance: dict[str, Any] | None
    actions: MonitorActionsRead
    enabled: bool
    schedule: MonitorScheduleRead | None
    last_report: DriftReportSummary | None = Field(description="The deployment's newest drift report.")
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
