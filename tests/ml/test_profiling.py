"""Reading tables, schema and profile, and the chunked CSV → Parquet conversion."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.ml.errors import SpecError
from app.ml.profiling import (
    csv_to_parquet_chunks,
    profile_of,
    profile_parquet,
    read_table,
    schema_from_profile,
    schema_of,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20, 30, 40, 50, 60],
            "income": [1.0, np.nan, 3.0, 4.0, np.nan],
            "city": ["paris", "rome", None, "paris", "oslo"],
            "plan": pd.Categorical(["a", "b", "a", "a", None]),
            "active": [True, False, True, True, False],
            "trial": pd.Series([True, None, False, True, None], dtype=object),
            "signup": pd.to_datetime(["2024-01-05", "2024-03-01", None, "2023-12-31", "2024-02-10"]),
        }
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_schema_names_every_type(frame: pd.DataFrame) -> None:
    assert schema_of(frame) == [
        {"name": "age", "type": "integer"},
        {"name": "income", "type": "float"},
        {"name": "city", "type": "string"},
        {"name": "plan", "type": "category"},
        {"name": "active", "type": "boolean"},
        {"name": "trial", "type": "boolean"},
        {"name": "signup", "type": "datetime"},
    ]


def test_profile_numbers_categories_and_dates(frame: pd.DataFrame) -> None:
    profile = profile_of(frame)
    json.dumps(profile, allow_nan=False)
    assert profile["rows"] == 5
    assert profile["columns"] == 7
    columns = profile["column_profiles"]

    age = columns["age"]
    assert (age["nulls"], age["null_fraction"], age["min"], age["max"], age["mean"]) == (0, 0.0, 20, 60, 40.0)
    assert age["std"] == pytest.approx(15.811388)
    assert age["quantiles"] == {"p5": 22.0, "p25": 30.0, "p50": 40.0, "p75": 50.0, "p95": 58.0}

    income = columns["income"]
    assert (income["nulls"], income["null_fraction"]) == (2, 0.4)
    assert (income["min"], income["max"], income["quantiles"]["p50"]) == (1.0, 4.0, 3.0)

    city = columns["city"]
    assert (city["nulls"], city["distinct"]) == (1, 3)
    # Ties are ordered by value.
    assert city["top_values"] == [
        {"value": "paris", "count": 2},
        {"value": "oslo", "count": 1},
        {"value": "rome", "count": 1},
    ]
    assert columns["plan"]["top_values"] == [{"value": "a", "count": 3}, {"value": "b", "count": 1}]
    assert columns["active"]["top_values"] == [{"value": True, "count": 3}, {"value": False, "count": 2}]
    assert columns["trial"]["nulls"] == 2

    signup = columns["signup"]
    assert (signup["nulls"], signup["min"], signup["max"]) == (1, "2023-12-31T00:00:00", "2024-03-01T00:00:00")


def test_profile_of_an_empty_numeric_column_is_all_none() -> None:
    profile = profile_of(pd.DataFrame({"x": [np.nan, np.nan], "y": [np.inf, 1.0]}))
    x = profile["column_profiles"]["x"]
    assert (x["null_fraction"], x["min"], x["mean"], x["std"]) == (1.0, None, None, None)
    assert set(x["quantiles"].values()) == {None}
    assert profile["column_profiles"]["y"]["max"] is None  # +inf has no JSON form
    json.dumps(profile, allow_nan=False)


def test_schema_agrees_with_profile(frame: pd.DataFrame) -> None:
    assert schema_from_profile(profile_of(frame)) == schema_of(frame)


def test_read_table_csv(tmp_path: Path) -> None:
    df = read_table(write(tmp_path / "ok.csv", "a,b\n1,x\n2,y\n"), "csv")
    assert list(df.columns) == ["a", "b"]
    assert df["a"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n1,2,3\n", 4),
        ('a,b\n1,x\n2,"y\n3,z\n', 3),
    ],
    ids=["extra-field", "unterminated-quote"],
)
def test_corrupt_csv_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(SpecError, match=f"line {line}") as caught:
        read_table(write(tmp_path / "bad.csv", text), "csv")
    assert caught.value.extra == {"line": line}


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("\n\n", "empty"), ("a,b\n", "no rows")],
    ids=["empty", "blank-lines", "header-only"],
)
def test_empty_csv_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        read_table(write(tmp_path / "empty.csv", text), "csv")


def test_not_a_parquet_file_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not a readable Parquet file"):
        read_table(write(tmp_path / "fake.parquet", "a,b\n1,2\n"), "parquet")


def big_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "count": rng.integers(0, 1000, rows),
            "score": rng.normal(size=rows).round(6),
            "city": rng.choice(["paris", "rome", "oslo"], rows),
            "flag": rng.random(rows) > 0.5,
            # Text first, number-like later: must stay text in every chunk.
            "code": [f"c{i}" if i < rows // 2 else str(i) for i in range(rows)],
        }
    )
    df.loc[3, "score"] = np.nan
    df.loc[rows - 5, "count"] = np.nan  # a null only in the last chunk of an integer column
    df.loc[10, "city"] = None
    return df


def test_chunked_conversion_round_trips_like_pandas(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    big_frame(1000).to_csv(source, index=False)
    dest = tmp_path / "big.parquet"

    written = csv_to_parquet_chunks(source, dest, chunk_rows=300)

    assert (written.rows, written.chunks) == (1000, 4)
    assert written.columns == ["count", "score", "city", "flag", "code"]
    pd.testing.assert_frame_equal(pd.read_parquet(dest), pd.read_csv(source))


def same_up_to_rounding(left: object, right: object) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_up_to_rounding(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_up_to_rounding(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12, abs_tol=1e-12)
    return left == right


def test_streamed_profile_equals_in_memory_profile(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    big_frame(600).to_csv(source, index=False)
    dest = tmp_path / "big.parquet"
    csv_to_parquet_chunks(source, dest, chunk_rows=250)

    streamed = profile_parquet(dest)

    # Arrow's kernels and pandas may round the last bit of a quantile differently.
    assert same_up_to_rounding(streamed, profile_of(pd.read_parquet(dest)))
    assert schema_from_profile(streamed) == schema_of(pd.read_csv(source))


def test_later_chunk_that_does_not_fit_names_rows_and_line(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    big_frame(1000).to_csv(source, index=False)
    lines = source.read_text().splitlines()
    fields = lines[499].split(",")  # file line 500 holds data row 499
    fields[1] = "oops"
    lines[499] = ",".join(fields)
    source.write_text("\n".join(lines) + "\n")
    dest = tmp_path / "big.parquet"

    with pytest.raises(SpecError, match="rows 301-600") as caught:
        csv_to_parquet_chunks(source, dest, chunk_rows=300)

    assert "column 'score' is float" in str(caught.value)
    assert caught.value.extra["line"] == 500
    assert caught.value.extra["value"] == "oops"
    assert caught.value.extra["lines"] == [302, 601]
    assert not dest.exists()


def test_corrupt_line_in_a_later_chunk(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    big_frame(1000).to_csv(source, index=False)
    lines = source.read_text().splitlines()
    lines[799] += ",surplus"
    source.write_text("\n".join(lines) + "\n")
    dest = tmp_path / "big.parquet"

    with pytest.raises(SpecError) as caught:
        csv_to_parquet_chunks(source, dest, chunk_rows=300)

    assert caught.value.extra == {"line": 800}
    assert not dest.exists()


def test_empty_csv_is_not_converted(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="empty"):
        csv_to_parquet_chunks(write(tmp_path / "empty.csv", ""), tmp_path / "out.parquet")
