"""Gathering one side of a drift check chunk by chunk, keeping only what the tests read: a numerical
column's finite values as one float64 array, a categorical column's count per value. The caller
never holds a whole window as a DataFrame; NaN, None and ±inf count as missing."""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ml.drift.options import DriftOptionsError, Kind
from app.ml.profiling import release_memory

# Object columns whose values pandas infers as these hold numbers (e.g. JSON with nulls in it).
_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})
_NO_COUNTS: "pd.Series[int]" = pd.Series([], dtype="int64", index=pd.Index([], dtype=object))


@dataclass(frozen=True)
class ColumnSample:
    """One column of one side: `values` (finite float64, sorted ascending: every test is blind to
    the order, and sorted values make ranks, distinct values and histograms cheap) for a numerical
    column, `counts` (count per value, an int64 Series indexed by the values) for a categorical
    one; `rows` counts the side's rows, missing ones included, `present` says whether the side has
    the column at all."""

    kind: Kind
    rows: int
    present: bool
    values: np.ndarray | None = None
    counts: "pd.Series[int] | None" = None

    @property
    def size(self) -> int:
        """Rows with a value."""
        if self.values is not None:
            return int(self.values.size)
        if self.counts is not None:
            return int(self.counts.sum())
        return 0

    @property
    def missing(self) -> int:
        return self.rows - self.size

    def as_categorical(self) -> "ColumnSample":
        """The same column with its values counted as categories."""
        if self.kind == "categorical":
            return self
        counts = _counts_of_values(self.values) if self.values is not None and self.values.size else None
        return ColumnSample("categorical", self.rows, self.present, counts=counts)


def absent(kind: Kind, rows: int) -> ColumnSample:
    """The sample of a column a side does not have."""
    return ColumnSample(kind, rows, present=False)


class ColumnCollector:
    """Bounded-memory gathering of one side: `add` DataFrame chunks one at a time (their columns
    may differ: rows of a chunk without a column count as missing for it); `rows` is the total.
    Columns named in `categorical`, and any that is not numeric, are counted by value."""

    def __init__(self, categorical: Iterable[str] = ()) -> None:
        if isinstance(categorical, str):
            raise DriftOptionsError("categorical must be a set of column names, not one string", field="categorical")
        self.categorical = frozenset(categorical)
        self.rows = 0
        self._columns: dict[str, _Gathered] = {}

    @property
    def columns(self) -> list[str]:
        """Column names in the order they were first seen."""
        return list(self._columns)

    def __contains__(self, column: object) -> bool:
        return column in self._columns

    def add(self, chunk: pd.DataFrame) -> None:
        if not isinstance(chunk, pd.DataFrame):
            raise TypeError(f"ColumnCollector.add takes a pandas DataFrame, not {type(chunk).__name__}")
        names = [str(name) for name in chunk.columns]
        if len(set(names)) != len(names):
            duplicated = sorted({name for name in names if names.count(name) > 1})
            raise DriftOptionsError(f"the data has more than one column named {duplicated[0]!r}", field="columns")
        for position, name in enumerate(names):
            gathered = self._columns.setdefault(name, _Gathered())
            gathered.add(chunk.iloc[:, position], categorical=name in self.categorical)
        self.rows += len(chunk)

    def sample(self, column: str) -> ColumnSample:
        gathered = self._columns.get(column)
        if gathered is None:
            return absent("categorical" if column in self.categorical else "numerical", self.rows)
        return gathered.sample(self.rows)


class _Gathered:
    """What one column has gathered so far. A numerical column that meets a chunk of non-numeric
    values becomes categorical, its numbers counted as values, so mixed data still gets a result."""

    def __init__(self) -> None:
        self.kind: Kind | None = None  # set by the first chunk holding a value
        self.dtype_kind: Kind | None = None  # what the first chunk's dtype suggests, for an all-missing column
        self.parts: list[np.ndarray] = []
        self.sorted = False  # whether parts is one sorted array
        self.counts: pd.Series[int] | None = None

    def add(self, series: pd.Series, *, categorical: bool) -> None:
        numeric = not categorical and _is_numeric(series)
        if self.dtype_kind is None:
            self.dtype_kind = "numerical" if numeric else "categorical"
        if numeric:
            values = _finite_values(series)
            if not values.size:
                return
            if self.kind == "categorical":
                self._add_counts(_counts_of_values(values))
            else:
                self.kind = "numerical"
                self.parts.append(values)
                self.sorted = False
            return
        counts = _category_counts(series)
        if counts is None:
            return
        self._become_categorical()
        self._add_counts(counts)

    def sample(self, rows: int) -> ColumnSample:
        kind = self.kind or self.dtype_kind or "numerical"
        if self.kind == "numerical":
            if len(self.parts) > 1 or not self.sorted:
                # In place, and the parts let go: the column is held once, not twice.
                values = np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]
                self.parts = [values]
                values.sort()
                self.sorted = True
                # The parts were many arrays the size of a chunk: without this the allocator keeps
                # their pages, and a window's memory would grow by a column per column tested.
                release_memory()
            return ColumnSample(kind, rows, present=True, values=self.parts[0])
        if self.kind == "categorical" and self.counts is not None:
            return ColumnSample(kind, rows, present=True, counts=self.counts)
        return ColumnSample(kind, rows, present=True)

    def _become_categorical(self) -> None:
        if self.kind == "numerical":
            self.counts = _counts_of_values(np.concatenate(self.parts))
            self.parts = []
        self.kind = "categorical"

    def _add_counts(self, counts: "pd.Series[int]") -> None:
        if self.counts is None:
            self.counts = counts
        else:
            # Aligning two indexes passes through float64 (exact up to 2**53) to fill the gaps.
            self.counts = self.counts.add(counts, fill_value=0).astype("int64")


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        return False
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return True
    if pd.api.types.is_timedelta64_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(series, skipna=True) in _NUMERIC_INFERRED
    return False


def _finite_values(series: pd.Series) -> np.ndarray:
    """The finite values as a new float64 array (never a view that would keep the chunk alive);
    datetimes as seconds since the epoch, durations as seconds."""
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if isinstance(dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy(dtype="datetime64[us]")
        present = ~np.isnat(stamps)
        return stamps[present].astype("int64") / 1e6
    if pd.api.types.is_timedelta64_dtype(dtype):
        spans = series.to_numpy(dtype="timedelta64[us]")
        present = ~np.isnat(spans)
        return spans[present].astype("int64") / 1e6
    if pd.api.types.is_object_dtype(dtype):
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _category_counts(series: pd.Series) -> "pd.Series[int] | None":
    """Count per value, missing values (and ±inf in a float column) left out; None when none is left."""
    if pd.api.types.is_float_dtype(series.dtype):
        series = series.where(np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan)))
    elif pd.api.types.is_object_dtype(series.dtype):
        series = series.map(_hashable, na_action="ignore")
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]  # a pandas Categorical also lists the categories it never saw
    if counts.empty:
        return None
    counts.index = counts.index.astype(object)
    return counts


def aligned_counts(
    reference: "pd.Series[int] | None", current: "pd.Series[int] | None"
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """The values either side counted, sorted where they compare (so the order, and with it every
    sum over them, does not depend on how the rows were chunked), and each side's count of each."""
    sides = [counts if counts is not None else _NO_COUNTS for counts in (reference, current)]
    labels = sides[0].index.union(sides[1].index, sort=False)
    with contextlib.suppress(TypeError):  # values of mixed types keep the order they were first seen in
        labels = labels.sort_values()
    aligned = []
    for counts in sides:
        column = np.zeros(len(labels), dtype=np.int64)
        column[labels.get_indexer(counts.index)] = counts.to_numpy()
        aligned.append(column)
    return labels, aligned[0], aligned[1]


def _hashable(value: object) -> object:
    """Values that cannot be counted as they are (lists, dicts from JSON) are counted by their text."""
    try:
        hash(value)
    except TypeError:
        return str(value)
    return value


def distinct_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs, in one linear pass."""
    if not values.size:
        return values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    return values[starts], np.diff(np.append(starts, values.size)).astype(np.int64)


def _counts_of_values(values: np.ndarray) -> "pd.Series[int]":
    labels, counts = np.unique(values, return_counts=True)
    return pd.Series(counts.astype("int64"), index=pd.Index(labels, dtype=object))
