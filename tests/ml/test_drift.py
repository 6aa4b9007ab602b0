"""Drift checks as a caller sees them: which test each column gets (Evidently's selection, at its
exact boundaries), the dataset verdict, the missing-value signal, the edge cases that must give a
defined result, bad options, the chunked collector, and reports that serialise as plain JSON."""

import gc
import json
import weakref

import numpy as np
import pandas as pd
import pytest

from app.ml.drift import (
    TEST_NAMES,
    ColumnCollector,
    DatasetDrift,
    DriftOptions,
    DriftOptionsError,
    column_drift,
    dataset_drift,
    summarize,
)


def one_column(reference: object, current: object, options: DriftOptions | None = None) -> DatasetDrift:
    return dataset_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}), options)


def with_distinct(rows: int, distinct: int, *, offset: float = 0.0) -> np.ndarray:
    """`rows` numbers holding exactly `distinct` values (plus `offset`)."""
    return np.arange(rows) % distinct + offset


def as_json(report: DatasetDrift) -> dict:
    text = json.dumps(report.to_dict(), allow_nan=False)
    return json.loads(text)


# --- which test a column gets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "distinct", "test"),
    [
        (1000, 6, "ks"),
        (1000, 5, "chisquare"),
        (1000, 3, "chisquare"),
        (1000, 2, "z"),
        (1001, 6, "wasserstein"),
        (1001, 5, "jensenshannon"),
        (1001, 3, "jensenshannon"),
        (1001, 2, "jensenshannon"),
    ],
)
def test_numerical_columns_get_evidentlys_test_for_their_size_and_values(rows: int, distinct: int, test: str) -> None:
    result = one_column(with_distinct(rows, distinct), with_distinct(200, distinct)).column("x")
    assert result.kind == "numerical"
    assert result.test == test
    assert result.verdict == "no_drift"


@pytest.mark.parametrize(
    ("rows", "distinct", "test"),
    [(1000, 3, "chisquare"), (1000, 2, "z"), (1001, 3, "jensenshannon"), (1001, 2, "jensenshannon")],
)
def test_categorical_columns_get_evidentlys_test(rows: int, distinct: int, test: str) -> None:
    labels = np.array(["red", "green", "blue"][:distinct])
    result = one_column(labels[np.arange(rows) % distinct], labels[np.arange(50) % distinct]).column("x")
    assert result.kind == "categorical"
    assert result.test == test


def test_size_counts_reference_rows_left_after_dropping_missing_and_infinite_values() -> None:
    reference = np.concatenate([np.arange(998.0), [np.nan, np.inf, -np.inf]])  # 1001 rows, 998 values
    result = one_column(reference, np.arange(100.0)).column("x")
    assert result.test == "ks"
    assert result.reference_rows == 998


def test_distinct_values_count_both_sides() -> None:
    # Five values in the reference, a sixth only in the current window: u = 6.
    result = one_column(with_distinct(500, 5), with_distinct(100, 6)).column("x")
    assert result.test == "ks"


def test_distinct_values_past_the_first_rows_are_counted() -> None:
    reference = np.concatenate([with_distinct(4500, 5), np.linspace(10, 11, 500)])
    assert one_column(reference, with_distinct(2000, 5)).column("x").test == "wasserstein"


def test_named_numeric_columns_are_categorical() -> None:
    options = DriftOptions(categorical=frozenset({"x"}))
    result = one_column(with_distinct(300, 10), with_distinct(300, 10), options).column("x")
    assert result.kind == "categorical"
    assert result.test == "chisquare"
    assert result.bins is not None
    assert result.bins.labels is not None
    assert len(result.bins.labels) == 10


def test_a_test_chosen_by_name_replaces_the_default_with_its_threshold() -> None:
    options = DriftOptions(column_tests={"x": "psi"}, column_thresholds={"x": 0.25})
    result = one_column(np.arange(100.0), np.arange(100.0) + 5, options).column("x")
    assert (result.test, result.threshold, result.p_value) == ("psi", 0.25, None)
    assert result.drifted == (result.statistic is not None and result.statistic >= 0.25)


# --- verdicts --------------------------------------------------------------------------------


def test_a_shifted_column_drifts_and_an_unshifted_one_does_not() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"moved": rng.normal(0, 1, 5000), "still": rng.normal(0, 1, 5000)})
    current = pd.DataFrame({"moved": rng.normal(0.5, 1, 5000), "still": rng.normal(0, 1, 5000)})
    report = dataset_drift(reference, current)
    assert report.column("moved").verdict == "drift"
    assert report.column("still").verdict == "no_drift"
    assert (report.tested_columns, report.drifted_columns, report.drifted_share) == (2, 1, 0.5)
    assert report.drift_detected  # the share reaches the default 0.5
    assert not dataset_drift(reference, current, DriftOptions(drift_share=0.51)).drift_detected


def test_drift_share_is_settable() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({name: rng.normal(0, 1, 3000) for name in "abc"})
    current = reference.assign(a=reference["a"] + 1.0)
    report = dataset_drift(reference, current, DriftOptions(drift_share=0.3))
    assert report.drifted_columns == 1
    assert report.drift_detected
    assert not dataset_drift(reference, current).drift_detected


def test_a_column_going_empty_is_reported_by_its_missing_rate() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1, 2000)
    current = values.copy()
    current[rng.random(2000) < 0.3] = np.nan
    result = one_column(values, current).column("x")
    assert result.verdict == "no_drift"  # the values that are there did not move
    assert result.missing.reference_rate == 0.0
    assert result.missing.current_rate == pytest.approx(0.3, abs=0.03)
    assert result.missing.change == pytest.approx(result.missing.current_rate)
    assert result.missing.drifted is True
    assert result.current_rows == 2000 - int(np.isnan(current).sum())


def test_a_small_significant_change_of_missing_rate_is_not_drift() -> None:
    reference = np.where(np.arange(200_000) % 100 == 0, np.nan, 1.0)  # 1% missing
    current = np.where(np.arange(200_000) % 50 == 0, np.nan, 1.0)  # 2% missing
    missing = one_column(reference, current).column("x").missing
    assert missing.p_value is not None
    assert missing.p_value < 1e-6
    assert missing.drifted is False
    assert one_column(reference, current, DriftOptions(missing_change=0.01)).column("x").missing.drifted is True


def test_one_row_windows_give_defined_results() -> None:
    reference = pd.DataFrame({"n": np.linspace(0, 1, 50), "c": ["a", "b"] * 25, "m": [1.0] * 40 + [np.nan] * 10})
    current = pd.DataFrame({"n": [0.5], "c": ["a"], "m": [np.nan]})
    report = dataset_drift(reference, current)
    assert report.column("n").test == "ks"
    assert report.column("n").verdict == "no_drift"
    assert report.column("c").test == "z"
    assert report.column("m").verdict == "no_data"
    # One missing row where a fifth of the reference is missing is no evidence of a change.
    assert report.column("m").missing.drifted is False
    as_json(report)


def test_a_test_that_needs_more_rows_says_so() -> None:
    result = one_column(np.linspace(0, 1, 50), [0.5], DriftOptions(column_tests={"x": "cramer_von_mises"})).column("x")
    assert result.verdict == "no_data"
    assert result.drifted is None
    assert "at least 2 values" in (result.message or "")


def test_constant_columns_give_defined_results() -> None:
    report = dataset_drift(
        pd.DataFrame({"n": [3.0] * 2000, "c": ["k"] * 2000}), pd.DataFrame({"n": [3.0] * 10, "c": ["k"] * 10})
    )
    assert report.column("n").verdict == "no_drift"
    assert report.column("c").verdict == "no_drift"
    bins = as_json(report)["columns"][0]["bins"]
    assert bins == {"kind": "numerical", "reference": [2000], "current": [10], "edges": [3.0, 3.0]}
    for test in sorted(TEST_NAMES - {"cramer_von_mises"}):
        small = one_column([3.0] * 20, [3.0] * 5, DriftOptions(column_tests={"x": test})).column("x")
        assert small.verdict == "no_drift", test


def test_a_constant_that_changes_value_drifts() -> None:
    assert one_column([3.0] * 2000, [4.0] * 100).column("x").verdict == "drift"
    assert one_column([3.0] * 200, [4.0] * 100).column("x").verdict == "drift"


def test_all_missing_or_infinite_sides_give_no_data_never_a_crash() -> None:
    reference = pd.DataFrame({"a": [np.nan] * 20, "b": np.arange(20.0), "c": [None] * 20, "d": [np.inf, -np.inf] * 10})
    current = pd.DataFrame({"a": np.arange(5.0), "b": [np.nan] * 5, "c": [None] * 5, "d": [1.0] * 5})
    report = dataset_drift(reference, current)
    for name in "abcd":
        assert report.column(name).verdict == "no_data", name
        assert report.column(name).drifted is None
    assert report.column("b").missing.current_rate == 1.0
    assert report.column("b").missing.drifted is True
    assert report.column("b").message == "the current data has no value in column 'b'"
    assert report.tested_columns == 0
    assert not report.drift_detected
    as_json(report)


def test_a_column_on_one_side_only_is_reported() -> None:
    report = dataset_drift(
        pd.DataFrame({"old": [1.0, 2.0], "both": [1, 2]}), pd.DataFrame({"both": [1, 2], "new": ["x", "y"]})
    )
    assert [c.column for c in report.columns] == ["old", "both", "new"]
    assert report.column("old").verdict == "not_in_current"
    assert report.column("new").verdict == "not_in_reference"
    assert report.column("new").kind == "categorical"
    assert report.column("new").missing.reference_rate is None
    assert report.column("new").missing.current_rate == 0.0
    assert report.tested_columns == 1
    assert as_json(report)["columns"][2]["bins"]["reference"] == [0, 0]


def test_empty_frames_give_an_empty_verdict() -> None:
    report = dataset_drift(pd.DataFrame({"x": []}), pd.DataFrame({"x": []}))
    assert report.column("x").verdict == "no_data"
    assert report.column("x").missing.reference_rate is None
    assert (report.tested_columns, report.drifted_share, report.drift_detected) == (0, 0.0, False)


def test_data_of_every_kind_gets_a_result() -> None:
    reference = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=60, freq="h", tz="UTC"),
            "took": pd.to_timedelta(np.arange(60), unit="s"),
            "flag": [True, False, None] * 20,
            "plan": pd.Categorical(["a", "b"] * 30, categories=["a", "b", "unused"]),
            "nullable": pd.array([1, None, 3] * 20, dtype="Int64"),
            "json": [1.5, None, 2] * 20,
            "nested": [[1], {"a": 1}, None] * 20,
        }
    )
    report = dataset_drift(reference, reference)
    kinds = {c.column: c.kind for c in report.columns}
    assert kinds == {
        "when": "numerical",
        "took": "numerical",
        "flag": "categorical",
        "plan": "categorical",
        "nullable": "numerical",
        "json": "numerical",
        "nested": "categorical",
    }
    assert all(c.verdict == "no_drift" for c in report.columns)
    assert report.column("plan").bins is not None
    assert report.column("plan").bins.labels == ["a", "b"]
    as_json(report)


def test_a_numeric_column_compared_with_text_is_compared_as_categories() -> None:
    result = one_column([1.0, 2.0] * 20, ["1.0", "2.0"] * 20).column("x")
    assert result.kind == "categorical"
    assert result.verdict == "drift"  # the number 1.0 and the text "1.0" are different values


def test_huge_values_give_finite_bins() -> None:
    report = one_column([-1.7e308, 1.7e308, 0.0] * 10, [1.7e308] * 5)
    edges = as_json(report)["columns"][0]["bins"]["edges"]
    assert all(edge is not None for edge in edges)
    assert edges == sorted(edges)


def test_categorical_bins_fold_the_tail_into_other() -> None:
    reference = [f"v{i:02d}" for i in range(30) for _ in range(30 - i)]
    current = [f"v{i:02d}" for i in range(30)] + ["new"]
    bins = as_json(one_column(reference, current))["columns"][0]["bins"]
    assert bins["labels"][:3] == ["v00", "v01", "v02"]
    assert len(bins["labels"]) == 20
    assert bins["other"] == {
        "labels": 11,
        "reference": sum(30 - i for i in range(20, 30)),
        "current": 11,
    }
    assert sum(bins["reference"]) + bins["other"]["reference"] == len(reference)


def test_numerical_bins_share_edges() -> None:
    bins = one_column(np.linspace(0, 10, 101), np.linspace(5, 15, 51)).column("x").bins
    assert bins is not None
    assert bins.edges is not None
    assert (bins.edges[0], bins.edges[-1]) == (0.0, 15.0)
    assert len(bins.edges) == len(bins.reference) + 1 == len(bins.current) + 1
    assert (sum(bins.reference), sum(bins.current)) == (101, 51)


def test_report_json_has_no_nan_or_inf() -> None:
    options = DriftOptions(preset="evidently", column_tests={"x": "chisquare"})
    report = one_column(["a", "b"] * 20, ["a", "c"] * 20, options)
    document = as_json(report)
    column = document["columns"][0]
    assert column["statistic"] is None  # Evidently's chi-squared is inf on a new value
    assert column["p_value"] == 0.0
    assert column["verdict"] == "drift"
    assert document["preset"] == "evidently"


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["KS", "ks ", "k", "kolmogorov", "chi", "jensen", "wasserstein_distance", ""])
def test_only_exact_test_names_are_accepted(name: str) -> None:
    with pytest.raises(DriftOptionsError) as info:
        DriftOptions(column_tests={"x": name})
    assert info.value.field == "column_tests.x"
    assert "ks" in info.value.extra["allowed"]


@pytest.mark.parametrize("threshold", [0, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_bad_thresholds_are_refused(threshold: object) -> None:
    with pytest.raises(DriftOptionsError) as info:
        DriftOptions(column_thresholds={"x": threshold})  # type: ignore[dict-item]
    assert info.value.field == "column_thresholds.x"


def test_a_p_value_threshold_above_one_is_refused() -> None:
    with pytest.raises(DriftOptionsError, match="p-value"):
        DriftOptions(column_tests={"x": "ks"}, column_thresholds={"x": 2.0})
    # Without a named test the default test decides, once the data is seen.
    options = DriftOptions(column_thresholds={"x": 2.0})
    with pytest.raises(DriftOptionsError, match="p-value"):
        one_column(np.arange(100.0), np.arange(100.0), options)
    assert one_column(np.arange(2000.0), np.arange(2000.0), options).column("x").threshold == 2.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("drift_share", 0),
        ("drift_share", 1.5),
        ("drift_share", float("nan")),
        ("missing_change", -0.1),
        ("missing_change", 2),
    ],
)
def test_bad_shares_are_refused(field: str, value: float) -> None:
    with pytest.raises(DriftOptionsError) as info:
        DriftOptions(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field


def test_unknown_presets_and_option_keys_are_refused() -> None:
    with pytest.raises(DriftOptionsError) as info:
        DriftOptions(preset="evidentl")  # type: ignore[arg-type]
    assert info.value.field == "preset"
    with pytest.raises(DriftOptionsError) as info:
        DriftOptions.from_dict({"drift_shar": 0.5})
    assert info.value.field == "drift_shar"
    for bad in ({"categorical": "age"}, {"categorical": [["age"]]}, {"preset": ["shipyard"]}, {"column_tests": ["ks"]}):
        with pytest.raises(DriftOptionsError):
            DriftOptions.from_dict(bad)


def test_options_round_trip_through_json() -> None:
    options = DriftOptions(
        preset="evidently",
        drift_share=0.3,
        column_tests={"a": "psi"},
        column_thresholds={"a": 0.2},
        categorical=frozenset({"b"}),
    )
    assert DriftOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options


def test_options_for_a_column_neither_side_has_are_refused() -> None:
    with pytest.raises(DriftOptionsError) as info:
        one_column([1.0], [1.0], DriftOptions(column_tests={"agee": "ks"}))
    assert info.value.field == "column_tests.agee"


def test_a_numerical_test_on_a_categorical_column_is_refused() -> None:
    with pytest.raises(DriftOptionsError) as info:
        one_column(["a", "b"] * 10, ["a", "b"] * 10, DriftOptions(column_tests={"x": "ks"}))
    assert info.value.field == "column_tests.x"
    assert "categorical" in str(info.value)


# --- the chunked collector -------------------------------------------------------------------


def frames(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, rows)
    values[rng.random(rows) < 0.05] = np.nan
    values[rng.random(rows) < 0.01] = np.inf
    return pd.DataFrame(
        {
            "amount": values,
            "count": rng.integers(0, 4, rows),
            "city": rng.choice(["paris", "rome", "oslo", None], rows),
            "plan": rng.choice(["free", "pro"], rows),
        }
    )


def chunked(frame: pd.DataFrame, sizes: list[int], categorical: frozenset[str] = frozenset()) -> ColumnCollector:
    collector = ColumnCollector(categorical=categorical)
    start = 0
    for size in sizes:
        collector.add(frame.iloc[start : start + size])
        start += size
    assert start == len(frame)
    return collector


@pytest.mark.parametrize("rows", [800, 3000])
def test_chunks_give_the_same_report_as_one_frame(rows: int) -> None:
    reference, current = frames(10, rows), frames(11, rows // 2)
    current.loc[: rows // 4, "amount"] += 0.5
    options = DriftOptions(categorical=frozenset({"count"}))
    whole = dataset_drift(reference, current, options)
    sizes = [1, rows // 3, 0, rows - rows // 3 - 1]
    pieces = dataset_drift(chunked(reference, sizes, options.categorical), chunked(current, [rows // 2]), options)
    assert pieces.to_dict() == whole.to_dict()
    assert pieces.reference_rows == rows


def test_a_few_columns_at_a_time_give_the_same_report() -> None:
    reference, current = frames(20, 1500), frames(21, 700)
    whole = dataset_drift(reference, current)
    results = []
    for group in (["amount", "count"], ["city"], ["plan"]):
        reference_side, current_side = chunked(reference[group], [700, 800]), chunked(current[group], [700])
        results += [column_drift(name, reference_side, current_side) for name in group]
    assert summarize(results, reference_rows=1500, current_rows=700).to_dict() == whole.to_dict()
    with pytest.raises(DriftOptionsError, match="neither side"):
        column_drift("nowhere", ColumnCollector(), ColumnCollector())


def test_rows_of_chunks_without_a_column_count_as_missing() -> None:
    collector = ColumnCollector()
    collector.add(pd.DataFrame({"a": [1.0, 2.0]}))
    collector.add(pd.DataFrame({"a": [3.0], "b": ["x"]}))
    collector.add(pd.DataFrame({"b": ["y", "z"]}))
    assert collector.rows == 5
    report = dataset_drift(collector, pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}))
    assert report.column("a").missing.reference_rate == pytest.approx(2 / 5)
    assert report.column("b").missing.reference_rate == pytest.approx(2 / 5)


def test_a_column_whose_chunks_change_kind_becomes_categorical() -> None:
    collector = ColumnCollector()
    collector.add(pd.DataFrame({"v": [1.0, 2.0, None]}))
    collector.add(pd.DataFrame({"v": ["a", None, "b"]}))
    collector.add(pd.DataFrame({"v": [2.0, 3.0, 4.0]}))
    sample = collector.sample("v")
    assert sample.kind == "categorical"
    assert sample.counts is not None
    assert dict(sample.counts) == {1.0: 1, 2.0: 2, 3.0: 1, 4.0: 1, "a": 1, "b": 1}
    assert sample.missing == 2


def test_the_collector_keeps_no_chunk_alive() -> None:
    collector = ColumnCollector()
    chunk = pd.DataFrame({"a": np.arange(1000.0), "b": np.arange(1000.0) * 2})
    alive = weakref.ref(chunk)
    collector.add(chunk)
    del chunk
    gc.collect()
    assert alive() is None
    assert collector.sample("a").size == 1000


def test_the_collector_refuses_what_is_not_a_frame() -> None:
    with pytest.raises(TypeError):
        ColumnCollector().add([1, 2])  # type: ignore[arg-type]
    with pytest.raises(DriftOptionsError, match="more than one column"):
        ColumnCollector().add(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(DriftOptionsError):
        ColumnCollector(categorical="city")
