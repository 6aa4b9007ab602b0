"""Payload parsing when every signature column is a double: the one-pass matrix gives the same
arrays as the per-value checks, and every value it cannot take is still refused, naming the place."""

from typing import Any

import numpy as np
import pytest

from app.errors import PredictionInputInvalid
from app.serving.payload import Batch, Column, model_input, parse_request

SIGNATURE = (Column("a", "double"), Column("b", "double"), Column("c", "double"))
ROWS = [[1.5, 2, -3.25], [0.0, 1e300, 7], [2**70, -0.5, 4.0]]


def split(rows: list[list[Any]], columns: list[str] | None = None) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns or ["a", "b", "c"], "data": rows}}


def parse(body: dict[str, Any]) -> Batch:
    return parse_request(body, SIGNATURE, max_rows=100)


@pytest.mark.parametrize(
    "body",
    [
        split(ROWS),
        split([[row[2], row[0], row[1]] for row in ROWS], ["c", "a", "b"]),
        {"inputs": {"b": [r[1] for r in ROWS], "c": [r[2] for r in ROWS], "a": [r[0] for r in ROWS]}},
        {"inputs": [dict(zip("abc", row, strict=True)) for row in ROWS]},
    ],
    ids=["split", "split-reordered", "columnar", "records"],
)
def test_every_shape_gives_the_rows_in_signature_order(body: dict[str, Any]) -> None:
    batch = parse(body)

    features = model_input(batch, SIGNATURE, as_frame=False)
    assert features.dtype == np.float64
    assert features.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(features, np.array(ROWS, dtype=np.float64))
    np.testing.assert_array_equal(batch.columns["b"], [2.0, 1e300, -0.5])
    frame = model_input(batch, SIGNATURE, as_frame=True)
    assert list(frame.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(frame.to_numpy(), np.array(ROWS, dtype=np.float64))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (True, "got a JSON boolean"),
        (None, "missing value"),
        (float("nan"), "missing value"),
        (float("inf"), "expected a finite number"),
        (10**400, "out of range"),
        ("1.0", "got a JSON string"),
        ([1.0], "got a JSON array"),
    ],
)
def test_a_value_that_is_not_a_finite_number_is_refused_naming_its_place(value: Any, says: str) -> None:
    rows = [list(row) for row in ROWS]
    rows[2][1] = value

    with pytest.raises(PredictionInputInvalid) as caught:
        parse(split(rows))

    problem = caught.value.problem("/predict")
    assert problem["column"] == "b"
    assert problem["row"] == 2
    assert says in problem["detail"]
