"""The live metrics of a model from its predictions and their feedback: accuracy and F1 for
labels, RMSE and MAE for numbers, over a whole window and over its equal time buckets (the curve
the dashboard draws), and whether the chosen metric crossed its threshold (decay)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

CLASSIFICATION_METRICS = ("accuracy", "f1")
REGRESSION_METRICS = ("rmse", "mae")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
# Lower is better for these; a decay is the metric rising above its threshold.
LOWER_IS_BETTER = frozenset(REGRESSION_METRICS)


def task_of(metric: str) -> str:
    return "regression" if metric in REGRESSION_METRICS else "classification"


def default_metric(task: str) -> str:
    return "rmse" if task == "regression" else "accuracy"


@dataclass(frozen=True)
class Labelled:
    """Predictions that have feedback: their times (any sortable numbers), what the model said
    and what happened. For regression both are floats; for labels both are text."""

    times: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray


def scores(task: str, predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Both metrics of the task; F1 is macro-averaged over the labels seen on either side."""
    if predicted.size == 0:
        return {}
    if task == "regression":
        errors = predicted.astype(np.float64) - actual.astype(np.float64)
        return {"rmse": math.sqrt(float(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}
    return {
        "accuracy": float(np.mean(predicted == actual)),
        "f1": float(f1_score(actual, predicted, average="macro", zero_division=0.0)),
    }


def decayed(metric: str, value: float, threshold: float) -> bool:
    return value > threshold if metric in LOWER_IS_BETTER else value < threshold


def curve(task: str, labelled: Labelled, start: float, end: float, buckets: int) -> list[dict[str, Any]]:
    """The metrics over `buckets` equal spans of [start, end]: {start, end, labelled, metrics}
    per span (the metrics empty where none had feedback)."""
    edges = np.linspace(start, end, buckets + 1)
    # The last span includes its end.
    where = np.clip(np.searchsorted(edges, labelled.times, side="right") - 1, 0, buckets - 1)
    points = []
    for bucket in range(buckets):
        mask = where == bucket
        points.append(
            {
                "start": float(edges[bucket]),
                "end": float(edges[bucket + 1]),
                "labelled": int(mask.sum()),
                "metrics": scores(task, labelled.predicted[mask], labelled.actual[mask]),
            }
        )
    return points


def labels_as_text(values: Sequence[Any]) -> np.ndarray:
    """Labels compared as text: feedback sent as JSON may carry 1 for the logged "1", or the reverse."""
    return np.asarray(["" if v is None else _text(v) for v in values], dtype=object)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
