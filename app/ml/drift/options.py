"""What a drift check may be asked for: the presets, the per-column tests by exact name with their
default thresholds, and DriftOptions, checked when it is built so a bad option never reaches data."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from app.ml.errors import SpecError

Preset = Literal["shipyard", "evidently"]
Kind = Literal["numerical", "categorical"]
# How a score is compared with its threshold; each test keeps the comparison Evidently uses for it.
Comparison = Literal["<", "<=", ">=", ">"]

PRESETS: frozenset[str] = frozenset({"shipyard", "evidently"})
OPTION_FIELDS = ("preset", "drift_share", "column_tests", "column_thresholds", "categorical", "missing_change")


class DriftOptionsError(SpecError):
    """A drift option that cannot be used: an unknown test or preset, a threshold out of range, a
    test asked of a column of the wrong kind. `field` names the option (e.g. "column_tests.age")."""


@dataclass(frozen=True)
class TestSpec:
    """One selectable test: whether its score is a p-value (drift when small) or a distance (drift
    when large), its default threshold and comparison, and the column kinds it applies to."""

    name: str
    p_value: bool
    threshold: float
    comparison: Comparison
    kinds: frozenset[Kind]


_BOTH: frozenset[Kind] = frozenset({"numerical", "categorical"})
_NUMERICAL: frozenset[Kind] = frozenset({"numerical"})

# Thresholds and comparisons are Evidently's (evidently/legacy/calculations/stattests/*.py), so a
# verdict means the same thing on both sides. Evidently registers "chisquare" and "z" for
# categorical columns but its default selection also runs them on numerical columns with few
# values; here they take both kinds, the values read as categories.
TEST_SPECS: dict[str, TestSpec] = {
    spec.name: spec
    for spec in (
        TestSpec("ks", p_value=True, threshold=0.05, comparison="<=", kinds=_NUMERICAL),
        TestSpec("chisquare", p_value=True, threshold=0.05, comparison="<", kinds=_BOTH),
        TestSpec("z", p_value=True, threshold=0.05, comparison="<", kinds=_BOTH),
        TestSpec("wasserstein", p_value=False, threshold=0.1, comparison=">=", kinds=_NUMERICAL),
        TestSpec("jensenshannon", p_value=False, threshold=0.1, comparison=">=", kinds=_BOTH),
        TestSpec("psi", p_value=False, threshold=0.1, comparison=">=", kinds=_BOTH),
        TestSpec("kl_div", p_value=False, threshold=0.1, comparison=">=", kinds=_BOTH),
        TestSpec("hellinger", p_value=False, threshold=0.1, comparison=">=", kinds=_BOTH),
        TestSpec("anderson", p_value=True, threshold=0.1, comparison="<", kinds=_NUMERICAL),
        TestSpec("cramer_von_mises", p_value=True, threshold=0.1, comparison="<=", kinds=_NUMERICAL),
        TestSpec("energy", p_value=False, threshold=0.1, comparison=">", kinds=_NUMERICAL),
    )
}
TEST_NAMES: frozenset[str] = frozenset(TEST_SPECS)


@dataclass(frozen=True)
class DriftOptions:
    """How to judge drift. `column_tests` picks a test by name for a column (the rest get the
    preset's default for their size and number of values); `column_thresholds` overrides a
    column's threshold; `categorical` names numeric columns to count as categories;
    `missing_change` is the smallest change of a column's missing-value rate that counts as drift
    (when it is also significant, see `report.py`)."""

    preset: Preset = "shipyard"
    drift_share: float = 0.5
    column_tests: Mapping[str, str] = field(default_factory=dict)
    column_thresholds: Mapping[str, float] = field(default_factory=dict)
    categorical: frozenset[str] = frozenset()
    missing_change: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.preset, str) or self.preset not in PRESETS:
            raise DriftOptionsError(
                f"unknown preset {self.preset!r}; allowed: {', '.join(sorted(PRESETS))}",
                field="preset",
                extra={"allowed": sorted(PRESETS)},
            )
        _check_fraction(self.drift_share, "drift_share", allow_zero=False)
        _check_fraction(self.missing_change, "missing_change", allow_zero=True)
        if not isinstance(self.column_tests, Mapping):
            raise DriftOptionsError("column_tests must map column names to test names", field="column_tests")
        for column, test in self.column_tests.items():
            _check_column_name(column, "column_tests")
            if not isinstance(test, str) or test not in TEST_NAMES:
                raise DriftOptionsError(
                    f"unknown drift test {test!r} for column {column!r}; allowed: {', '.join(sorted(TEST_NAMES))}",
                    field=f"column_tests.{column}",
                    extra={"allowed": sorted(TEST_NAMES)},
                )
        if not isinstance(self.column_thresholds, Mapping):
            raise DriftOptionsError("column_thresholds must map column names to numbers", field="column_thresholds")
        for column, threshold in self.column_thresholds.items():
            _check_column_name(column, "column_thresholds")
            if not _is_number(threshold) or not math.isfinite(threshold) or threshold <= 0:
                raise DriftOptionsError(
                    f"the threshold for column {column!r} must be a finite number above 0, not {threshold!r}",
                    field=f"column_thresholds.{column}",
                )
            chosen = self.column_tests.get(column)
            if chosen is not None and TEST_SPECS[chosen].p_value and threshold > 1:
                raise DriftOptionsError(
                    f"the threshold for column {column!r} is a p-value for test {chosen!r}: at most 1, not {threshold}",
                    field=f"column_thresholds.{column}",
                )
        if isinstance(self.categorical, str) or not all(isinstance(c, str) for c in self.categorical):
            raise DriftOptionsError("categorical must be a set of column names", field="categorical")
        object.__setattr__(self, "categorical", frozenset(self.categorical))

    def check_columns(self, columns: Iterable[str]) -> None:
        """Refuse options naming a column that is not among `columns` (a typo would otherwise
        leave the column on its default test without a word)."""
        known = set(columns)
        for option, named in (("column_tests", self.column_tests), ("column_thresholds", self.column_thresholds)):
            for column in named:
                if column not in known:
                    raise DriftOptionsError(
                        f"{option} names column {column!r}, which neither side has", field=f"{option}.{column}"
                    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DriftOptions":
        """Options from a JSON object (a monitor's settings, a job spec); unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise DriftOptionsError("drift options must be an object")
        unknown = sorted(set(data) - set(OPTION_FIELDS))
        if unknown:
            raise DriftOptionsError(
                f"unknown drift option {unknown[0]!r}; allowed: {', '.join(OPTION_FIELDS)}",
                field=str(unknown[0]),
                extra={"allowed": list(OPTION_FIELDS)},
            )
        values = dict(data)
        if "categorical" in values:
            categorical = values["categorical"]
            if not isinstance(categorical, list | tuple | set | frozenset) or not all(
                isinstance(name, str) for name in categorical
            ):
                raise DriftOptionsError("categorical must be a list of column names", field="categorical")
            values["categorical"] = frozenset(categorical)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "drift_share": self.drift_share,
            "column_tests": dict(self.column_tests),
            "column_thresholds": dict(self.column_thresholds),
            "categorical": sorted(self.categorical),
            "missing_change": self.missing_change,
        }


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_fraction(value: object, name: str, *, allow_zero: bool) -> None:
    if _is_number(value) and math.isfinite(value) and value <= 1 and (value >= 0 if allow_zero else value > 0):
        return
    bound = "from 0" if allow_zero else "above 0"
    raise DriftOptionsError(f"{name} must be a number {bound} up to 1, not {value!r}", field=name)


def _check_column_name(column: object, option: str) -> None:
    if not isinstance(column, str) or not column:
        raise DriftOptionsError(f"{option} keys must be column names, not {column!r}", field=option)
