"""All ORM tables, imported here so Alembic and the app see one metadata."""

from app.db.tables.audit import AuditEvent
from app.db.tables.auth import ApiToken, LoginFailure, User
from app.db.tables.datasets import Dataset, DatasetVersion
from app.db.tables.deployments import Deployment, DeploymentRevision, DeploymentRoute, ServingGeneration
from app.db.tables.jobs import IdempotencyRecord, Job, ModelEvaluation
from app.db.tables.monitoring import DriftReport
from app.db.tables.monitors import Monitor, MonitorAction
from app.db.tables.predictions import PredictionFeedback, PredictionSegment
from app.db.tables.registry import ModelAlias, ModelVersion, RegisteredModel, RunDataset
from app.db.tables.rollouts import Rollout, ServingReplica, ServingStats
from app.db.tables.schedules import Schedule, ScheduleTick
from app.db.tables.tracking import Experiment, LatestMetric, MetricChunk, Param, Run, RunTag
from app.db.tables.webhooks import WebhookAttempt, WebhookDelivery

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "DeploymentRevision",
    "DeploymentRoute",
    "DriftReport",
    "Experiment",
    "IdempotencyRecord",
    "Job",
    "LatestMetric",
    "LoginFailure",
    "MetricChunk",
    "ModelAlias",
    "ModelEvaluation",
    "ModelVersion",
    "Monitor",
    "MonitorAction",
    "Param",
    "PredictionFeedback",
    "PredictionSegment",
    "RegisteredModel",
    "Rollout",
    "Run",
    "RunDataset",
    "RunTag",
    "Schedule",
    "ScheduleTick",
    "ServingGeneration",
    "ServingReplica",
    "ServingStats",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
]
