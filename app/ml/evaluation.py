"""Scoring a fitted model on a dataset (the one metric helper training shares), fairness by a
sensitive column, and quality gates such as `f1>=0.85` or `accuracy>=baseline-0.01`."""

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeGuard, cast

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from app.ml.errors import SpecError

Task = Literal["classification", "regression"]
Comparator = Literal[">=", ">", "<=", "<", "=="]
BaselineOp = Literal["+", "-", "*"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
FAIRNESS_METRICS = ("demographic_parity_difference", "equalized_odds_difference")
METRIC_NAMES = CLASSIFICATION_METRICS + REGRESSION_METRICS + FAIRNESS_METRICS
MISSING_GROUP = "(missing)"
MAX_GATE_LENGTH = 200

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}
_GATE_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GATE_COMPARATOR = re.compile(r">=|<=|==|>|<")
_GATE_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GATE_BASELINE = re.compile(r"baseline\b")
_GATE_BASELINE_OP = re.compile(r"[+\-*]")
_SPACES = re.compile(r"\s*")


class GateSetupError(SpecError):
    """A gate that cannot be judged as it is set up (it needs a baseline none was given for, or
    a metric this evaluation does not compute): a mistake in the request, never a failed gate,
    so a CI pipeline does not read a typo as a worse model."""

    def __init__(self, gate: str, message: str) -> None:
        super().__init__(f"gate '{gate}': {message}", field="gates", extra={"gate": gate})


class Predictor(Protocol):
    def predict(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class Scores:
    """Metrics of a model on labelled rows. `positive_label` is set for a binary classifier."""

    metrics: dict[str, float]
    confusion_matrix: dict[str, list[Any]] | None
    predictions: np.ndarray
    positive_label: Any | None


@dataclass(frozen=True)
class Gate:
    """`metric comparator threshold`, the threshold a number or `baseline [+-*] number`."""

    text: str
    metric: str
    comparator: Comparator
    number: float
    baseline: bool = False
    baseline_op: BaselineOp | None = None

    def threshold(self, baseline_value: float | None) -> float:
        if not self.baseline:
            return self.number
        if baseline_value is None:
            raise ValueError("this gate needs the baseline's value")
        if self.baseline_op == "+":
            return baseline_value + self.number
        if self.baseline_op == "-":
            return baseline_value - self.number
        if self.baseline_op == "*":
            return baseline_value * self.number
        return baseline_value


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    actual: float | None
    threshold: float | None
    reason: str


def score_model(model: Predictor, X: pd.DataFrame, y: pd.Series, task: Task) -> Scores:
    """Training and evaluation both score through here, so their metric names and definitions agree.

    Classification: accuracy, precision, recall, f1 (binary: the larger label is positive;
    otherwise weighted), roc_auc and log_loss when the model has predict_proba and they are
    defined; plus a confusion matrix. Regression: rmse, mae, r2."""
    y_true = np.asarray(y)
    y_pred = np.asarray(model.predict(X))
    if task == "regression":
        metrics = {
            "rmse": root_mean_squared_error(y_true, y_pred),
            "mae": mean_absolute_error(y_true, y_pred),
            "r2": r2_score(y_true, y_pred) if len(y_true) > 1 else math.nan,
        }
        return Scores(_finite_only(metrics), None, y_pred, None)
    return _classification_scores(model, X, y_true, y_pred)


def evaluate(
    model: Predictor,
    df: pd.DataFrame,
    target: str,
    task: Task | None = None,
    *,
    sensitive: str | None = None,
) -> dict[str, Any]:
    """Score `model` on `df` (rows without a target value are left out).

    Returns {"task", "rows", "dropped_rows", "metrics", "confusion_matrix" (classification),
    "fairness" (when `sensitive` is given)}; the fairness differences are also put in
    `metrics` so gates can use them. Without `task` it follows from the model."""
    columns = [str(c) for c in df.columns]
    if target not in df.columns:
        raise SpecError(
            f"target column '{target}' is not in the dataset (columns: {', '.join(columns)})",
            field="target",
            extra={"columns": columns},
        )
    if sensitive is not None and sensitive not in df.columns:
        raise SpecError(
            f"sensitive column '{sensitive}' is not in the dataset (columns: {', '.join(columns)})",
            field="sensitive",
            extra={"columns": columns},
        )
    data = df.loc[df[target].notna()]
    if data.empty:
        raise SpecError(f"no row of the dataset has a value for target '{target}'", field="target")
    X = _model_inputs(model, data, target)
    resolved_task: Task = task or ("classification" if is_classifier(model) else "regression")
    scores = score_model(model, X, data[target], resolved_task)
    result: dict[str, Any] = {
        "task": resolved_task,
        "rows": len(data),
        "dropped_rows": len(df) - len(data),
        "metrics": dict(scores.metrics),
    }
    if scores.confusion_matrix is not None:
        result["confusion_matrix"] = scores.confusion_matrix
    if sensitive is not None:
        report = fairness(
            data[target], scores.predictions, data[sensitive], resolved_task, positive_label=scores.positive_label
        )
        result["fairness"] = {"column": sensitive, **report}
        for name in FAIRNESS_METRICS:
            if report.get(name) is not None:
                result["metrics"][name] = report[name]
    return result


def fairness(
    y_true: pd.Series | np.ndarray,
    y_pred: np.ndarray,
    groups: pd.Series,
    task: Task,
    *,
    positive_label: Any | None = None,
) -> dict[str, Any]:
    """Per-group metrics and, for a binary classifier (`positive_label` set), the differences.

    Classification groups: {count, accuracy} and, when binary, selection_rate (share predicted
    positive), true_positive_rate and false_positive_rate (None when the group has no actual
    positives / negatives). demographic_parity_difference = max - min selection rate;
    equalized_odds_difference = the larger of the TPR and FPR spreads (max - min over the groups
    where each is defined). Regression groups: {count, rmse, mae}."""
    truth = np.asarray(y_true)
    predicted = np.asarray(y_pred)
    keys = np.asarray([MISSING_GROUP if _is_missing(g) else str(g) for g in groups], dtype=object)
    per_group: dict[str, dict[str, Any]] = {}
    for key in sorted(set(keys)):
        mask = keys == key
        t, p = truth[mask], predicted[mask]
        if task == "regression":
            per_group[key] = {
                "count": int(mask.sum()),
                "rmse": float(root_mean_squared_error(t, p)),
                "mae": float(mean_absolute_error(t, p)),
            }
            continue
        stats: dict[str, Any] = {"count": int(mask.sum()), "accuracy": float(np.mean(t == p))}
        if positive_label is not None:
            actual_pos, predicted_pos = t == positive_label, p == positive_label
            stats["selection_rate"] = float(np.mean(predicted_pos))
            stats["true_positive_rate"] = _rate(predicted_pos[actual_pos])
            stats["false_positive_rate"] = _rate(predicted_pos[~actual_pos])
        per_group[key] = stats
    report: dict[str, Any] = {"groups": per_group}
    if task == "classification" and positive_label is not None:
        report["demographic_parity_difference"] = _spread(g["selection_rate"] for g in per_group.values())
        report["equalized_odds_difference"] = max(
            _spread(g["true_positive_rate"] for g in per_group.values()),
            _spread(g["false_positive_rate"] for g in per_group.values()),
        )
    return report


def parse_gate(text: str) -> Gate:
    """Parse `metric comparator rhs` (rhs: a number, or `baseline` optionally followed by + - or *
    and a number). SpecError with the 1-based `position` of the first thing that is wrong."""
    if len(text) > MAX_GATE_LENGTH:
        raise SpecError(f"gate is longer than {MAX_GATE_LENGTH} characters", field="gates")
    position = _skip_spaces(text, 0)
    metric_match = _GATE_METRIC.match(text, position)
    if metric_match is None:
        raise _gate_error(text, position, "expected a metric name")
    metric = metric_match.group()
    if metric not in METRIC_NAMES:
        close = difflib.get_close_matches(metric, METRIC_NAMES, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _gate_error(text, position, f"unknown metric '{metric}'{hint}; known: {', '.join(METRIC_NAMES)}")
    position = _skip_spaces(text, metric_match.end())
    comparator_match = _GATE_COMPARATOR.match(text, position)
    if comparator_match is None:
        raise _gate_error(text, position, "expected one of >=, >, <=, <, ==")
    comparator = cast(Comparator, comparator_match.group())
    position = _skip_spaces(text, comparator_match.end())
    baseline = False
    baseline_op: BaselineOp | None = None
    number = 0.0
    if baseline_match := _GATE_BASELINE.match(text, position):
        baseline = True
        position = _skip_spaces(text, baseline_match.end())
        if position < len(text):
            op_match = _GATE_BASELINE_OP.match(text, position)
            if op_match is None:
                raise _gate_error(text, position, "expected +, - or * after 'baseline'")
            baseline_op = cast(BaselineOp, op_match.group())
            position = _skip_spaces(text, op_match.end())
            number, position = _gate_number(text, position, "expected a number")
    else:
        number, position = _gate_number(text, position, "expected a number or 'baseline'")
    position = _skip_spaces(text, position)
    if position < len(text):
        raise _gate_error(text, position, f"unexpected '{text[position:]}'")
    return Gate(text.strip(), metric, comparator, number, baseline, baseline_op)


def parse_gates(texts: list[str]) -> list[Gate]:
    return [parse_gate(text) for text in texts]


def check_gate_setup(gates: list[Gate], task: Task | None, *, baseline: bool, sensitive: bool) -> None:
    """What can be known before scoring: GateSetupError for a baseline gate without a baseline,
    a metric of the other task, or a fairness metric without a sensitive column or on
    regression (fairness differences are computed for binary classifiers only)."""
    for gate in gates:
        if gate.baseline and not baseline:
            raise GateSetupError(gate.text, "compares with the baseline, but no baseline model is given")
        if gate.metric in FAIRNESS_METRICS:
            if task == "regression":
                raise GateSetupError(
                    gate.text,
                    f"{gate.metric} is computed for binary classification only, and this model is a regressor",
                )
            if not sensitive:
                raise GateSetupError(gate.text, f"{gate.metric} needs a sensitive column to compare groups by")
            continue
        other = {"classification": REGRESSION_METRICS, "regression": CLASSIFICATION_METRICS}.get(task or "", ())
        if gate.metric in other:
            computed = ", ".join(CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS)
            raise GateSetupError(gate.text, f"a {task} model has no metric '{gate.metric}' (it has: {computed})")


def check_gates(
    gates: list[Gate], metrics: dict[str, Any], baseline_metrics: dict[str, Any] | None = None
) -> list[GateResult]:
    """Judge each gate; every result carries a reason a person can read, passed or not.
    GateSetupError when a gate cannot be judged: its metric or the baseline's is not computed."""
    return [_check_gate(gate, metrics, baseline_metrics) for gate in gates]


def deltas(metrics: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """metric − baseline metric, for each metric both have as a finite number."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        other = baseline.get(name)
        if _is_number(value) and _is_number(other):
            out[name] = float(value) - float(other)
    return out


def _check_gate(gate: Gate, metrics: dict[str, Any], baseline_metrics: dict[str, Any] | None) -> GateResult:
    value = metrics.get(gate.metric)
    if not _is_number(value):
        available = ", ".join(sorted(metrics)) or "none"
        raise GateSetupError(
            gate.text, f"metric '{gate.metric}' is not computed for this model and data; available: {available}"
        )
    actual = float(value)
    baseline_value: float | None = None
    if gate.baseline:
        if baseline_metrics is None:
            raise GateSetupError(gate.text, "compares with the baseline, but no baseline model is given")
        other = baseline_metrics.get(gate.metric)
        if not _is_number(other):
            raise GateSetupError(gate.text, f"the baseline has no value for metric '{gate.metric}'")
        baseline_value = float(other)
    threshold = gate.threshold(baseline_value)
    passed = _COMPARE[gate.comparator](actual, threshold)
    shown = gate.comparator if passed else _NEGATED[gate.comparator]
    described = _fmt(threshold)
    if baseline_value is not None and gate.baseline_op is not None:
        described += f" (baseline {_fmt(baseline_value)} {gate.baseline_op} {_fmt(gate.number)})"
    elif baseline_value is not None:
        described += " (baseline)"
    return GateResult(gate.text, passed, actual, threshold, f"{gate.metric} {_fmt(actual)} {shown} {described}")


def _classification_scores(model: Predictor, X: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray) -> Scores:
    known = getattr(model, "classes_", None)
    classes = list(known) if known is not None else _sorted_labels(np.concatenate([y_true, y_pred]))
    unseen = [label for label in _sorted_labels(y_true) if label not in classes]
    binary = len(classes) == 2 and not unseen
    # sklearn sorts classes_, so the positive (larger) label is last and so is its probability column.
    positive = classes[-1] if binary else None
    metrics: dict[str, float] = {"accuracy": accuracy_score(y_true, y_pred)}
    if binary:
        averaged: dict[str, Any] = {"average": "binary", "pos_label": positive}
    else:
        averaged = {"average": "weighted"}
    metrics["precision"] = precision_score(y_true, y_pred, zero_division=0, **averaged)
    metrics["recall"] = recall_score(y_true, y_pred, zero_division=0, **averaged)
    metrics["f1"] = f1_score(y_true, y_pred, zero_division=0, **averaged)
    predict_proba = getattr(model, "predict_proba", None)
    if predict_proba is not None and not unseen:
        proba = np.asarray(predict_proba(X))
        metrics.update(_probability_metrics(y_true, proba, classes, positive))
    labels = classes + unseen
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    confusion = {"labels": [_plain(label) for label in labels], "matrix": matrix.tolist()}
    return Scores(_finite_only(metrics), confusion, y_pred, _plain(positive) if binary else None)


def _probability_metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[Any], positive: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    present = len(set(y_true.tolist()))
    if positive is not None:
        if present == 2:
            out["roc_auc"] = roc_auc_score(y_true == positive, proba[:, -1])
    elif len(classes) > 2 and present == len(classes):
        # One-vs-rest AUC is undefined for a class with no rows, so it needs every class present.
        out["roc_auc"] = roc_auc_score(y_true, proba, multi_class="ovr", average="weighted", labels=classes)
    out["log_loss"] = log_loss(y_true, proba, labels=classes)
    return out


def _model_inputs(model: Predictor, data: pd.DataFrame, target: str) -> pd.DataFrame:
    needed = getattr(model, "feature_names_in_", None)
    if needed is None:
        return data.drop(columns=[target])
    names = [str(name) for name in needed]
    missing = [name for name in names if name not in data.columns]
    if missing:
        raise SpecError(
            f"the dataset lacks columns the model needs: {', '.join(missing)}",
            field="dataset",
            extra={"missing": missing},
        )
    return data[names]


def _sorted_labels(values: np.ndarray) -> list[Any]:
    unique = pd.unique(pd.Series(values, dtype=object).dropna())
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _rate(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _spread(values: Any) -> float:
    defined = [v for v in values if v is not None]
    return float(max(defined) - min(defined)) if defined else 0.0


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> TypeGuard[float]:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(float(value))


def _finite_only(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items() if math.isfinite(float(value))}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _skip_spaces(text: str, position: int) -> int:
    match = _SPACES.match(text, position)
    return match.end() if match else position


def _gate_number(text: str, position: int, expected: str) -> tuple[float, int]:
    match = _GATE_NUMBER.match(text, position)
    if match is None:
        raise _gate_error(text, position, expected)
    number = float(match.group())
    if not math.isfinite(number):
        raise _gate_error(text, position, "the number is too large")
    return number, match.end()


def _gate_error(text: str, position: int, problem: str) -> SpecError:
    return SpecError(
        f"malformed gate '{text}' at position {position + 1}: {problem}",
        field="gates",
        extra={"gate": text, "position": position + 1},
    )
