"""Data drift statistics: per-column two-sample tests whose defaults follow Evidently's data-drift
preset, a missing-value signal, and a chunked collector so a large window fits in bounded memory."""

from app.ml.drift.collect import ColumnCollector, ColumnSample
from app.ml.drift.options import PRESETS, TEST_NAMES, TEST_SPECS, DriftOptions, DriftOptionsError, TestSpec
from app.ml.drift.report import (
    Bins,
    ColumnDrift,
    DatasetDrift,
    MissingRate,
    OtherBucket,
    column_drift,
    dataset_drift,
    summarize,
)

__all__ = [
    "PRESETS",
    "TEST_NAMES",
    "TEST_SPECS",
    "Bins",
    "ColumnCollector",
    "ColumnDrift",
    "ColumnSample",
    "DatasetDrift",
    "DriftOptions",
    "DriftOptionsError",
    "MissingRate",
    "OtherBucket",
    "TestSpec",
    "column_drift",
    "dataset_drift",
    "summarize",
]
