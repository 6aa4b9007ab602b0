"""Shipyard's Python SDK: `shipyard.Client` for the REST API, and the notebook API
(``with shipyard.start_run("churn") as run: run.log_metric("f1", 0.91)``)."""

from shipyard import errors
from shipyard.client import SDK_VERSION, Client
from shipyard.errors import ShipyardError
from shipyard.schemas import (
    ArtifactFile,
    Experiment,
    Identity,
    Metric,
    MetricPoint,
    Page,
    Run,
    RunSource,
    StoredArtifact,
    Token,
    User,
)
from shipyard.tracking import (
    ActiveRun,
    active_run,
    end_run,
    flush,
    get_client,
    get_metric_history,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_tag,
    set_tags,
    set_tracking,
    start_run,
)

__version__ = SDK_VERSION

__all__ = [
    "ActiveRun",
    "ArtifactFile",
    "Client",
    "Experiment",
    "Identity",
    "Metric",
    "MetricPoint",
    "Page",
    "Run",
    "RunSource",
    "ShipyardError",
    "StoredArtifact",
    "Token",
    "User",
    "__version__",
    "active_run",
    "end_run",
    "errors",
    "flush",
    "get_client",
    "get_metric_history",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "set_tracking",
    "start_run",
]
