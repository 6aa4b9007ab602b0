"""dataset_drift: every column of a reference against a current window, each with its test,
verdict, missing-value signal and binned distributions for plotting, then the dataset's verdict.

The missing-value signal is a test of its own, since the distribution tests only see the values
that are there (Evidently drops the rest and never sees a column going empty): a column's missing
rate has drifted when Fisher's exact test on the missing/present counts gives p < 0.05 *and* the
rate moved by at least `DriftOptions.missing_change` (default 5 points): significant, so a window
of a few rows does not raise it by chance, and large enough to matter, so a million rows do not
flag a 0.1% wobble."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.ml.drift.collect import ColumnCollector, ColumnSample, aligned_counts
from app.ml.drift.options import TEST_SPECS, Comparison, DriftOptions, DriftOptionsError, Kind, Preset
from app.ml.drift.stattests import SamplePair, TooLittleData, default_test, missing_change_p_value, run_test

Verdict = Literal["drift", "no_drift", "no_data", "not_in_reference", "not_in_current"]

MISSING_SIGNIFICANCE = 0.05
PLOT_BINS = 20
TOP_CATEGORIES = 20
# A rate change computed as a difference of two shares may miss an exact threshold by rounding.
_RATE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class MissingRate:
    """Share of rows without a value (NaN, None, ±inf) on each side, its change (current minus
    reference), Fisher's exact p-value and whether it drifted; None where a side lacks the
    column or has no rows."""

    reference_rate: float | None
    current_rate: float | None
    change: float | None
    p_value: float | None
    drifted: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_rate": _finite(self.reference_rate),
            "current_rate": _finite(self.current_rate),
            "change": _finite(self.change),
            "p_value": _finite(self.p_value),
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class OtherBucket:
    """The categories past the top ones, folded together: how many, and their rows on each side."""

    labels: int
    reference: int
    current: int


@dataclass(frozen=True)
class Bins:
    """Both sides' distributions for a plot. Numerical: shared `edges` (one more than the counts);
    categorical: `labels`, the most frequent values over both sides, and `other` for the rest."""

    kind: Kind
    reference: list[int]
    current: list[int]
    edges: list[float] | None = None
    labels: list[Any] | None = None
    other: OtherBucket | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "reference": self.reference, "current": self.current}
        if self.edges is not None:
            data["edges"] = [_finite(edge) for edge in self.edges]
        if self.labels is not None:
            data["labels"] = self.labels
            data["other"] = None if self.other is None else vars(self.other).copy()
        return data


@dataclass(frozen=True)
class ColumnDrift:
    """One column's result. `statistic` is the test's statistic (for a distance, the distance),
    `p_value` None for distances; `drifted` is None unless the column was tested; the row counts
    are rows with a value on each side."""

    column: str
    kind: Kind
    test: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool | None
    verdict: Verdict
    reference_rows: int
    current_rows: int
    missing: MissingRate
    bins: Bins | None
    message: str | None = None

    @property
    def score(self) -> float | None:
        """What is compared with the threshold: the p-value, or the distance."""
        return self.p_value if self.p_value is not None else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "score": _finite(self.score),
            "threshold": _finite(self.threshold),
            "drifted": self.drifted,
            "verdict": self.verdict,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "missing": self.missing.to_dict(),
            "bins": None if self.bins is None else self.bins.to_dict(),
            "message": self.message,
        }


@dataclass(frozen=True)
class DatasetDrift:
    """The whole check: the dataset drifts when at least `drift_share` of the tested columns
    (verdict "drift" or "no_drift") drifted. Row counts are each side's rows."""

    columns: list[ColumnDrift]
    tested_columns: int
    drifted_columns: int
    drifted_share: float
    drift_share: float
    drift_detected: bool
    preset: Preset
    missing_drifted_columns: int
    reference_rows: int
    current_rows: int

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "drift_detected": self.drift_detected,
            "drifted_share": _finite(self.drifted_share),
            "drift_share": self.drift_share,
            "tested_columns": self.tested_columns,
            "drifted_columns": self.drifted_columns,
            "missing_drifted_columns": self.missing_drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [column.to_dict() for column in self.columns],
        }


def dataset_drift(
    reference: pd.DataFrame | ColumnCollector,
    current: pd.DataFrame | ColumnCollector,
    options: DriftOptions | None = None,
) -> DatasetDrift:
    """Test every column either side has (reference order first). DriftOptionsError when an
    option does not fit the data: a test for a column neither side has, or for the wrong kind.
    A caller that gathers a few columns at a time, to bound its memory by the widest group rather
    than the whole window, calls `column_drift` per column and `summarize` once instead."""
    options = options or DriftOptions()
    reference_side = _collected(reference, options)
    current_side = _collected(current, options)
    names = list(dict.fromkeys([*reference_side.columns, *current_side.columns]))
    options.check_columns(names)
    columns = [column_drift(name, reference_side, current_side, options) for name in names]
    return summarize(columns, options, reference_rows=reference_side.rows, current_rows=current_side.rows)


def summarize(
    columns: Sequence[ColumnDrift], options: DriftOptions | None = None, *, reference_rows: int, current_rows: int
) -> DatasetDrift:
    """The dataset's verdict from its columns' results (`reference_rows`, `current_rows`: each
    side's rows)."""
    options = options or DriftOptions()
    tested = [column for column in columns if column.verdict in ("drift", "no_drift")]
    drifted = sum(1 for column in tested if column.drifted)
    share = drifted / len(tested) if tested else 0.0
    return DatasetDrift(
        columns=list(columns),
        tested_columns=len(tested),
        drifted_columns=drifted,
        drifted_share=share,
        drift_share=options.drift_share,
        drift_detected=bool(tested) and share >= options.drift_share,
        preset=options.preset,
        missing_drifted_columns=sum(1 for column in columns if column.missing.drifted),
        reference_rows=reference_rows,
        current_rows=current_rows,
    )


def _collected(side: pd.DataFrame | ColumnCollector, options: DriftOptions) -> ColumnCollector:
    if isinstance(side, ColumnCollector):
        return side
    if not isinstance(side, pd.DataFrame):
        raise TypeError(f"dataset_drift takes DataFrames or ColumnCollectors, not {type(side).__name__}")
    collector = ColumnCollector(categorical=options.categorical)
    collector.add(side)
    return collector


def column_drift(
    name: str, reference_side: ColumnCollector, current_side: ColumnCollector, options: DriftOptions | None = None
) -> ColumnDrift:
    """One column's result; at least one side must have the column."""
    options = options or DriftOptions()
    if name not in reference_side and name not in current_side:
        raise DriftOptionsError(f"neither side has column {name!r}", field="columns")
    reference = reference_side.sample(name) if name in reference_side else None
    current = current_side.sample(name) if name in current_side else None
    present = [sample for sample in (reference, current) if sample is not None]
    kind: Kind = (
        "categorical" if name in options.categorical or any(s.kind == "categorical" for s in present) else "numerical"
    )
    if reference is None:
        reference = ColumnSample(kind, reference_side.rows, present=False)
    if current is None:
        current = ColumnSample(kind, current_side.rows, present=False)
    if kind == "categorical":
        reference, current = reference.as_categorical(), current.as_categorical()

    requested = options.column_tests.get(name)
    override = options.column_thresholds.get(name)

    def threshold_of(test: str | None) -> float | None:
        if test is None:
            return None
        return override if override is not None else TEST_SPECS[test].threshold

    untested = ColumnDrift(
        column=name,
        kind=kind,
        test=requested,
        statistic=None,
        p_value=None,
        threshold=threshold_of(requested),
        drifted=None,
        verdict="no_data",
        reference_rows=reference.size,
        current_rows=current.size,
        missing=_missing_rate(reference, current, options),
        bins=_bins(kind, reference, current),
    )
    if not reference.present:
        return replace(untested, verdict="not_in_reference", message=f"the reference has no column {name!r}")
    if not current.present:
        return replace(untested, verdict="not_in_current", message=f"the current data has no column {name!r}")
    if reference.size == 0 or current.size == 0:
        sides = [
            label for label, sample in (("the reference", reference), ("the current data", current)) if not sample.size
        ]
        return replace(untested, message=f"{' and '.join(sides)} has no value in column {name!r}")

    pair = SamplePair(reference, current)
    test = requested or default_test(pair)
    spec = TEST_SPECS[test]
    if pair.kind not in spec.kinds:
        raise DriftOptionsError(
            f"test {test!r} applies to numerical columns only, and column {name!r} is categorical",
            field=f"column_tests.{name}",
        )
    threshold = threshold_of(test)
    assert threshold is not None
    if spec.p_value and threshold > 1:
        raise DriftOptionsError(
            f"the threshold for column {name!r} is a p-value for test {test!r}: at most 1, not {threshold}",
            field=f"column_thresholds.{name}",
        )
    untested = replace(untested, test=test, threshold=threshold)
    try:
        outcome = run_test(test, pair, options.preset)
    except TooLittleData as exc:
        return replace(untested, message=str(exc))
    score = outcome.p_value if spec.p_value else outcome.statistic
    if score is None or math.isnan(score):
        return replace(untested, message=f"test {test!r} gave no number for column {name!r}")
    drifted = _compare(score, spec.comparison, threshold)
    return replace(
        untested,
        statistic=outcome.statistic,
        p_value=outcome.p_value if spec.p_value else None,
        drifted=drifted,
        verdict="drift" if drifted else "no_drift",
        message=outcome.note,
    )


def _compare(score: float, comparison: Comparison, threshold: float) -> bool:
    if comparison == "<":
        return score < threshold
    if comparison == "<=":
        return score <= threshold
    if comparison == ">=":
        return score >= threshold
    return score > threshold


def _missing_rate(reference: ColumnSample, current: ColumnSample, options: DriftOptions) -> MissingRate:
    ref_rate = reference.missing / reference.rows if reference.present and reference.rows else None
    cur_rate = current.missing / current.rows if current.present and current.rows else None
    if ref_rate is None or cur_rate is None:
        return MissingRate(ref_rate, cur_rate, None, None, None)
    change = cur_rate - ref_rate
    p_value = missing_change_p_value(reference.missing, reference.rows, current.missing, current.rows)
    drifted = p_value < MISSING_SIGNIFICANCE and abs(change) >= options.missing_change - _RATE_TOLERANCE
    return MissingRate(ref_rate, cur_rate, change, p_value, drifted)


def _bins(kind: Kind, reference: ColumnSample, current: ColumnSample) -> Bins | None:
    if kind == "numerical":
        return _numerical_bins(reference.values, current.values)
    return _categorical_bins(reference.counts, current.counts)


def _numerical_bins(reference: np.ndarray | None, current: np.ndarray | None) -> Bins | None:
    """Shared edges over both sides' range; the values are sorted, so counting is a search per edge."""
    sides = [values if values is not None else np.empty(0) for values in (reference, current)]
    filled = [values for values in sides if values.size]
    if not filled:
        return None
    low = min(float(values[0]) for values in filled)
    high = max(float(values[-1]) for values in filled)
    if low == high:
        return Bins("numerical", reference=[int(sides[0].size)], current=[int(sides[1].size)], edges=[low, high])
    # Weighted so that even values near ±1.8e308 give finite edges (high - low would overflow).
    steps = np.linspace(0.0, 1.0, PLOT_BINS + 1)
    edges = low * (1 - steps) + high * steps
    edges[-1] = high
    counts = []
    for values in sides:
        # Each bin holds [left, right), the last one [left, right] as in numpy.histogram.
        positions = np.searchsorted(values, edges, side="left")
        positions[-1] = values.size
        counts.append(np.diff(positions).tolist())
    return Bins("numerical", reference=counts[0], current=counts[1], edges=edges.tolist())


def _categorical_bins(reference: "pd.Series[int] | None", current: "pd.Series[int] | None") -> Bins | None:
    if reference is None and current is None:
        return None
    index, ref_counts, cur_counts = aligned_counts(reference, current)
    # Most rows first; ties in the order of aligned_counts, so the same data plots the same way.
    order = np.argsort(-(ref_counts + cur_counts), kind="stable")
    top, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
    other = None
    if rest.size:
        other = OtherBucket(int(rest.size), int(ref_counts[rest].sum()), int(cur_counts[rest].sum()))
    return Bins(
        "categorical",
        reference=ref_counts[top].tolist(),
        current=cur_counts[top].tolist(),
        labels=[_json_label(index[i]) for i in top],
        other=other,
    )


def _json_label(label: Any) -> Any:
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool | int | str):
        return label
    if isinstance(label, float):
        return label if math.isfinite(label) else None
    return str(label)


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
