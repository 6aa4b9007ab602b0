"""The per-column drift tests on the two sides of one column, each by the scipy function where
scipy has one (so the numbers are scipy's; the Wasserstein distance by scipy's own formula on the
already sorted values, several times faster, and tested against it), and Evidently's choice of
default test.

Where behaviour follows Evidently (0.7, evidently/legacy/calculations/stattests/): the binning of
`jensenshannon`, `psi` and `kl_div` (utils.get_binned_data: Sturges bins over both sides for a
numerical column with more than 20 reference values, else one bin per value; PSI and KL replace
empty bins as its `feel_zeroes` does), Hellinger's Sturges bins over the distinct values, the
Z-test on the share of the first value, the Wasserstein distance normed by the reference's
standard deviation, and the default selection (registry._get_default_stattest). Where it does not:
the `shipyard` preset's chi-squared is a two-sample test of homogeneity on the 2×k table
(scipy.stats.chi2_contingency), while Evidently's (chisquare_stattest.py) takes the reference
shares as exact expected frequencies, ignoring the reference's own sampling error, and so raises
false alarms on undrifted data far above the nominal rate; the `evidently` preset keeps that one."""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from app.ml.drift.collect import ColumnSample, aligned_counts, distinct_sorted
from app.ml.drift.options import Kind, Preset

# Evidently's cut between its small-sample tests (p-values) and its large-sample distances.
SMALL_SAMPLE_ROWS = 1000
# get_binned_data bins a numerical column when its reference has more distinct values than this.
_BINNED_ABOVE_DISTINCT = 20
# Rows per block where a statistic is summed block by block to bound its temporary arrays.
_BLOCK = 1 << 16


class TooLittleData(Exception):
    """A test that cannot be computed on so few values: the column gets the "no_data" verdict."""


@dataclass(frozen=True)
class Outcome:
    """What a test gives: its statistic (the distance, for a distance), its p-value if it has one,
    and a note when the numbers were defined rather than computed (one value on both sides)."""

    statistic: float | None
    p_value: float | None
    note: str | None = None


class SamplePair:
    """Both sides of one column, made the same kind (a numerical side is counted by value when the
    other is categorical), with what several tests share computed once."""

    def __init__(self, reference: ColumnSample, current: ColumnSample) -> None:
        self.kind: Kind = "categorical" if "categorical" in (reference.kind, current.kind) else "numerical"
        if self.kind == "categorical":
            reference, current = reference.as_categorical(), current.as_categorical()
        self.reference = reference
        self.current = current
        self._aligned: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The finite values of both sides, sorted (numerical columns only)."""
        if self.reference.values is None or self.current.values is None:
            raise TypeError("values of a column without numbers on both sides")
        return self.reference.values, self.current.values

    def aligned_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct values of both sides, and how often each occurs on each side."""
        if self._aligned is None:
            self._aligned = self._align()
        return self._aligned

    def distinct_exceeds(self, limit: int) -> bool:
        """Whether both sides together hold more than `limit` distinct values (u > limit)."""
        if self.kind == "numerical" and any(_distinct_count(side) > limit for side in self.values):
            return True  # without aligning a million distinct values to find out
        return len(self.aligned_counts()[0]) > limit

    def reference_distinct_exceeds(self, limit: int) -> bool:
        if self.kind == "numerical":
            return _distinct_count(self.values[0]) > limit
        return int(np.count_nonzero(self.aligned_counts()[1])) > limit

    def _align(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.kind == "numerical":
            reference, current = self.values
            ref_labels, ref_counts = distinct_sorted(reference)
            cur_labels, cur_counts = distinct_sorted(current)
            labels = np.union1d(ref_labels, cur_labels)
            ref_aligned = np.zeros(labels.size, dtype=np.int64)
            cur_aligned = np.zeros(labels.size, dtype=np.int64)
            ref_aligned[np.searchsorted(labels, ref_labels)] = ref_counts
            cur_aligned[np.searchsorted(labels, cur_labels)] = cur_counts
            return labels, ref_aligned, cur_aligned
        labels, reference, current = aligned_counts(self.reference.counts, self.current.counts)
        return labels.to_numpy(dtype=object), reference, current


def default_test(pair: SamplePair) -> str:
    """Evidently's choice, with n the reference's values and u the distinct values of both sides."""
    small = pair.reference.size <= SMALL_SAMPLE_ROWS
    if pair.kind == "categorical":
        if small:
            return "chisquare" if pair.distinct_exceeds(2) else "z"
        return "jensenshannon"
    if small:
        if pair.distinct_exceeds(5):
            return "ks"
        return "chisquare" if pair.distinct_exceeds(2) else "z"
    return "wasserstein" if pair.distinct_exceeds(5) else "jensenshannon"


def run_test(name: str, pair: SamplePair, preset: Preset) -> Outcome:
    return _TESTS[name](pair, preset)


def _ks(pair: SamplePair, preset: Preset) -> Outcome:
    result = stats.ks_2samp(*pair.values)
    return Outcome(float(result.statistic), float(result.pvalue))


def _chisquare(pair: SamplePair, preset: Preset) -> Outcome:
    _, reference, current = pair.aligned_counts()
    if preset == "evidently":
        # Evidently: the reference counts, scaled to the current size, are the expected counts;
        # a value the reference never had gets an expected count of 0 (statistic inf, p-value 0).
        expected = reference * (current.sum() / reference.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            result = stats.chisquare(current, expected)
        return Outcome(float(result.statistic), float(result.pvalue))
    # Without Yates' correction: on two values this is exactly the square of the two-proportion Z.
    result = stats.chi2_contingency(np.vstack([reference, current]), correction=False)
    return Outcome(float(result.statistic), float(result.pvalue))


def _z(pair: SamplePair, preset: Preset) -> Outcome:
    labels, reference, current = pair.aligned_counts()
    if len(labels) <= 1:
        return Outcome(0.0, 1.0, note="one value on both sides")
    # Evidently compares the share of every value but the smallest, which two-sided is the same
    # test as the share of the smallest.
    first = _smallest_position(labels)
    ref_rows, cur_rows = int(reference.sum()), int(current.sum())
    ref_share = (ref_rows - int(reference[first])) / ref_rows
    cur_share = (cur_rows - int(current[first])) / cur_rows
    z = _two_proportion_z(ref_share, ref_rows, cur_share, cur_rows)
    return Outcome(z, float(2 * stats.norm.sf(abs(z))))


def missing_change_p_value(ref_missing: int, ref_rows: int, cur_missing: int, cur_rows: int) -> float:
    """Fisher's exact test on the 2×2 table of missing and present rows per side: exact at any
    size, so a window of a few rows gets an honest p-value rather than a normal approximation's."""
    table = [[ref_missing, ref_rows - ref_missing], [cur_missing, cur_rows - cur_missing]]
    return float(stats.fisher_exact(table).pvalue)


def _two_proportion_z(ref_share: float, ref_rows: int, cur_share: float, cur_rows: int) -> float:
    pooled = (ref_share * ref_rows + cur_share * cur_rows) / (ref_rows + cur_rows)
    variance = pooled * (1 - pooled) * (1 / ref_rows + 1 / cur_rows)
    if variance <= 0:
        return 0.0
    return float((ref_share - cur_share) / math.sqrt(variance))


def _wasserstein(pair: SamplePair, preset: Preset) -> Outcome:
    reference, current = pair.values
    norm = max(float(np.std(reference)), 0.001)
    return Outcome(wasserstein_sorted(reference, current) / norm, None)


def wasserstein_sorted(reference: np.ndarray, current: np.ndarray) -> float:
    """The first Wasserstein distance of two sorted samples, by scipy.stats.wasserstein_distance's
    formula: the sum over the merged values of |F_ref - F_cur| times the gap to the next value.
    Here the merge is a stable argsort of two sorted runs (linear for timsort) and each CDF a
    running count of its side's values, where scipy sorts both again and binary-searches every
    merged value; within a run of ties the gap is 0, so counting through it changes nothing. Summed
    in blocks, so the temporaries stay small however many rows there are."""
    both = np.concatenate([reference, current])
    order = np.argsort(both, kind="stable")
    total, ref_seen = 0.0, 0
    for start in range(0, order.size - 1, _BLOCK):
        block = order[start : start + _BLOCK + 1]
        ref_counts = ref_seen + np.cumsum(block[:-1] < reference.size)
        seen = np.arange(start + 1, start + block.size)  # values merged so far, after each one
        ref_cdf = ref_counts / reference.size
        cur_cdf = (seen - ref_counts) / current.size
        total += float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(both[block])))
        ref_seen = int(ref_counts[-1])
    return total


def _jensenshannon(pair: SamplePair, preset: Preset) -> Outcome:
    reference, current = _binned_shares(pair, fill_zeroes=False)
    return Outcome(float(distance.jensenshannon(reference, current)), None)


def _psi(pair: SamplePair, preset: Preset) -> Outcome:
    reference, current = _binned_shares(pair, fill_zeroes=True)
    return Outcome(float(np.sum((reference - current) * np.log(reference / current))), None)


def _kl_div(pair: SamplePair, preset: Preset) -> Outcome:
    reference, current = _binned_shares(pair, fill_zeroes=True)
    return Outcome(float(stats.entropy(reference, current)), None)


def _hellinger(pair: SamplePair, preset: Preset) -> Outcome:
    if pair.kind == "categorical":
        _, ref_counts, cur_counts = pair.aligned_counts()
    else:
        # Evidently's bins: Sturges over the distinct values of both sides (not over every row).
        reference, current = pair.values
        edges = np.histogram_bin_edges(pair.aligned_counts()[0].astype(np.float64), bins="sturges")
        ref_counts, cur_counts = np.histogram(reference, edges)[0], np.histogram(current, edges)[0]
    overlap = float(np.sum(np.sqrt(ref_counts / ref_counts.sum() * (cur_counts / cur_counts.sum()))))
    return Outcome(math.sqrt(1 - min(max(overlap, 0.0), 1.0)), None)


def _anderson(pair: SamplePair, preset: Preset) -> Outcome:
    if not pair.distinct_exceeds(1):
        return Outcome(None, 1.0, note="one value on both sides")
    with warnings.catch_warnings():
        # scipy warns whenever it caps the p-value to its table's range [0.001, 0.25].
        warnings.simplefilter("ignore", UserWarning)
        result = stats.anderson_ksamp(list(pair.values), variant="midrank")
    return Outcome(float(result.statistic), float(result.pvalue))


def _cramer_von_mises(pair: SamplePair, preset: Preset) -> Outcome:
    reference, current = pair.values
    if reference.size < 2 or current.size < 2:
        raise TooLittleData("the Cramér–von Mises test needs at least 2 values on each side")
    result = stats.cramervonmises_2samp(reference, current)
    return Outcome(float(result.statistic), float(result.pvalue))


def _energy(pair: SamplePair, preset: Preset) -> Outcome:
    return Outcome(float(stats.energy_distance(*pair.values)), None)


def _binned_shares(pair: SamplePair, *, fill_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each side's share of rows per bin, as Evidently's get_binned_data makes them."""
    if pair.kind == "numerical" and pair.reference_distinct_exceeds(_BINNED_ABOVE_DISTINCT):
        reference, current = pair.values
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref_shares = np.histogram(reference, edges)[0] / reference.size
        cur_shares = np.histogram(current, edges)[0] / current.size
    else:
        _, ref_counts, cur_counts = pair.aligned_counts()
        ref_shares = ref_counts / ref_counts.sum()
        cur_shares = cur_counts / cur_counts.sum()
    if fill_zeroes:
        _fill_zeroes(ref_shares)
        _fill_zeroes(cur_shares)
    return ref_shares, cur_shares


def _fill_zeroes(shares: np.ndarray) -> None:
    """An empty bin gets a millionth of the smallest share when that is at most 1e-4, else 1e-4,
    so the logarithms of PSI and KL stay finite (Evidently's `feel_zeroes`)."""
    empty = shares == 0
    if empty.any():
        smallest = float(shares[~empty].min())
        shares[empty] = smallest / 10**6 if smallest <= 0.0001 else 0.0001


def _distinct_count(values: np.ndarray) -> int:
    """Distinct values of a sorted array."""
    return int(np.count_nonzero(values[1:] != values[:-1])) + 1 if values.size else 0


def _smallest_position(labels: np.ndarray) -> int:
    try:
        order = sorted(range(len(labels)), key=lambda i: labels[i])
    except TypeError:  # labels of mixed types
        order = sorted(range(len(labels)), key=lambda i: (type(labels[i]).__name__, str(labels[i])))
    return order[0]


_TESTS: dict[str, Callable[[SamplePair, Preset], Outcome]] = {
    "ks": _ks,
    "chisquare": _chisquare,
    "z": _z,
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
    "kl_div": _kl_div,
    "hellinger": _hellinger,
    "anderson": _anderson,
    "cramer_von_mises": _cramer_von_mises,
    "energy": _energy,
}
