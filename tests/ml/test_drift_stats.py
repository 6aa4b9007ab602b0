"""The drift statistics are scipy's own numbers (to 1e-9), the Evidently preset reproduces
Evidently's formulas, and the default chi-squared keeps its false alarms near the nominal 5%."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from app.ml.drift import DriftOptions, dataset_drift

TOLERANCE = {"rel": 1e-9, "abs": 1e-12}


def close(value: float | None) -> object:
    return pytest.approx(value, **TOLERANCE)


@pytest.fixture
def numbers() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(0.0, 1.0, 400), rng.normal(0.2, 1.3, 300)


@pytest.fixture
def categories() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    labels = np.array(["a", "b", "c", "d", "e"])
    return rng.choice(labels, 600, p=[0.3, 0.3, 0.2, 0.1, 0.1]), rng.choice(labels, 450, p=[0.25, 0.3, 0.2, 0.15, 0.1])


def run(reference: np.ndarray, current: np.ndarray, test: str, preset: str = "shipyard"):  # noqa: ANN201
    options = DriftOptions(preset=preset, column_tests={"x": test})  # type: ignore[arg-type]
    result = dataset_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}), options).column("x")
    assert result.test == test
    return result


def counts_of(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.union1d(reference, current)
    return (
        np.array([np.count_nonzero(reference == label) for label in labels]),
        np.array([np.count_nonzero(current == label) for label in labels]),
    )


def test_ks_is_scipys(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    result = run(*numbers, "ks")
    expected = stats.ks_2samp(*numbers)
    assert result.statistic == close(expected.statistic)
    assert result.p_value == close(expected.pvalue)
    assert result.drifted == (expected.pvalue <= 0.05)


def test_wasserstein_is_scipys_normed_by_the_reference_std(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    result = run(*numbers, "wasserstein")
    expected = stats.wasserstein_distance(*numbers) / np.std(numbers[0])
    assert result.statistic == close(expected)
    assert result.p_value is None
    assert result.drifted == (expected >= 0.1)


def test_wasserstein_norm_has_a_floor_for_a_constant_reference() -> None:
    result = run(np.full(50, 2.0), np.array([2.0, 2.5, 3.0]), "wasserstein")
    assert result.statistic == close(stats.wasserstein_distance(np.full(50, 2.0), [2.0, 2.5, 3.0]) / 0.001)


def test_anderson_darling_is_scipys(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    result = run(*numbers, "anderson")
    expected = stats.anderson_ksamp(list(numbers), variant="midrank")
    assert result.statistic == close(expected.statistic)
    assert result.p_value == close(expected.pvalue)


def test_cramer_von_mises_is_scipys(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    result = run(*numbers, "cramer_von_mises")
    expected = stats.cramervonmises_2samp(*numbers)
    assert result.statistic == close(expected.statistic)
    assert result.p_value == close(expected.pvalue)


def test_energy_distance_is_scipys(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    result = run(*numbers, "energy")
    assert result.statistic == close(stats.energy_distance(*numbers))
    assert result.p_value is None


def test_default_chisquare_is_the_contingency_table_test(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = counts_of(*categories)
    expected = stats.chi2_contingency(np.vstack([reference, current]), correction=False)
    result = run(*categories, "chisquare")
    assert result.statistic == close(expected.statistic)
    assert result.p_value == close(expected.pvalue)


def test_evidently_chisquare_takes_the_reference_as_expected_counts(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = counts_of(*categories)
    expected_counts = reference * current.sum() / reference.sum()
    by_hand = float(np.sum((current - expected_counts) ** 2 / expected_counts))
    result = run(*categories, "chisquare", preset="evidently")
    assert result.statistic == close(by_hand)
    assert result.p_value == close(stats.chi2.sf(by_hand, df=len(reference) - 1))
    assert result.p_value == close(stats.chisquare(current, expected_counts).pvalue)
    # The two presets differ: the reference's own sampling error is left out.
    assert result.p_value != close(run(*categories, "chisquare").p_value)


def test_evidently_chisquare_on_a_value_the_reference_never_had_is_drift() -> None:
    result = run(np.array(["a", "b"] * 20), np.array(["a", "b", "c"] * 5), "chisquare", preset="evidently")
    assert result.p_value == 0.0
    assert result.verdict == "drift"
    assert result.to_dict()["statistic"] is None  # inf, which JSON cannot hold


def test_z_test_is_the_two_proportion_test(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference = np.where(categories[0] == "a", "a", "other")
    current = np.where(categories[1] == "a", "a", "other")
    result = run(reference, current, "z")
    ref_share, cur_share = np.mean(reference != "a"), np.mean(current != "a")
    pooled = (np.sum(reference != "a") + np.sum(current != "a")) / (reference.size + current.size)
    z = (ref_share - cur_share) / math.sqrt(pooled * (1 - pooled) * (1 / reference.size + 1 / current.size))
    assert result.statistic == close(z)
    # On two values the Z-test and the uncorrected 2×2 chi-squared are the same test.
    table = np.vstack(counts_of(reference, current))
    assert result.p_value == close(stats.chi2_contingency(table, correction=False).pvalue)


def test_jensen_shannon_on_categories_is_scipys_with_natural_logs(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = counts_of(*categories)
    p, q = reference / reference.sum(), current / current.sum()
    result = run(*categories, "jensenshannon")
    assert result.statistic == close(distance.jensenshannon(p, q))
    m = (p + q) / 2
    assert result.statistic == close(math.sqrt((stats.entropy(p, m) + stats.entropy(q, m)) / 2))


def test_binned_distances_on_numbers_use_sturges_bins_over_both_sides(numbers: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = numbers
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    p = np.histogram(reference, edges)[0] / reference.size
    q = np.histogram(current, edges)[0] / current.size
    assert run(reference, current, "jensenshannon").statistic == close(distance.jensenshannon(p, q))


def test_psi_and_kl_fill_empty_bins_as_evidently_does() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 50)
    current = np.array(["a"] * 30 + ["c"] * 70)
    # Evidently's feel_zeroes: an empty bin gets 1e-4 when the smallest share is above 1e-4.
    p = np.array([0.5, 0.5, 0.0001])
    q = np.array([0.3, 0.0001, 0.7])
    assert run(reference, current, "psi").statistic == close(float(np.sum((p - q) * np.log(p / q))))
    assert run(reference, current, "kl_div").statistic == close(stats.entropy(p, q))


def test_kl_divergence_is_scipys_entropy(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = counts_of(*categories)
    assert run(*categories, "kl_div").statistic == close(stats.entropy(reference, current))


def test_hellinger_distance(categories: tuple[np.ndarray, np.ndarray]) -> None:
    reference, current = counts_of(*categories)
    p, q = reference / reference.sum(), current / current.sum()
    assert run(*categories, "hellinger").statistic == close(math.sqrt(1 - np.sum(np.sqrt(p * q))))
    assert run(categories[0], categories[0], "hellinger").statistic == close(0.0)


def test_default_chisquare_false_alarms_stay_near_five_percent() -> None:
    """1,000 undrifted columns (each an independent seeded repetition) with 10 categories, 300 rows
    a side: the two-sample test raises about 5% false alarms; Evidently's formula far more."""
    rng = np.random.default_rng(20240510)
    shares = rng.dirichlet(np.ones(10) * 3)
    labels = np.array([f"v{i}" for i in range(10)])
    columns = [f"c{i}" for i in range(1000)]
    reference = pd.DataFrame({c: rng.choice(labels, 300, p=shares) for c in columns})
    current = pd.DataFrame({c: rng.choice(labels, 300, p=shares) for c in columns})

    default = dataset_drift(reference, current)
    assert {column.test for column in default.columns} == {"chisquare"}
    assert 0.035 <= default.drifted_share <= 0.065

    evidently = dataset_drift(reference, current, DriftOptions(preset="evidently"))
    assert evidently.drifted_share > 0.2


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "distinct"),
    [(1, 1, None), (5, 3, None), (70_000, 150_001, None), (120_000, 90_000, 7)],
)
def test_wasserstein_agrees_with_scipy_on_ties_and_across_blocks(
    reference_rows: int, current_rows: int, distinct: int | None
) -> None:
    rng = np.random.default_rng(reference_rows)
    if distinct is None:
        reference, current = rng.normal(0, 1, reference_rows), rng.normal(0.3, 2, current_rows)
    else:  # many ties, and values only one side has
        reference = rng.integers(0, distinct, reference_rows).astype(float)
        current = rng.integers(2, distinct + 3, current_rows).astype(float)
    result = run(reference, current, "wasserstein")
    norm = max(float(np.std(reference)), 0.001)
    assert result.statistic == close(stats.wasserstein_distance(reference, current) / norm)
