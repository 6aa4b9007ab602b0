"""Prediction payloads (records, columnar inputs, MLflow's dataframe_split) parsed straight into
one numpy array per signature column, checked against the column's type, in signature order."""

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.errors import PayloadTooLarge, PredictionInputInvalid

_BODY_KEYS = {"inputs", "dataframe_split", "return_proba"}
_SPLIT_KEYS = {"columns", "data", "index"}
_MISSING = object()


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class Batch:
    """The request's rows as columns, in the signature's order, and what it asked for."""

    columns: dict[str, np.ndarray]
    rows: int
    return_proba: bool
    # When every column is a double: the rows as one C-ordered float64 array in signature order,
    # of which `columns` are views; the model is fed it without copying the columns together.
    matrix: np.ndarray | None = None


def parse_request(body: Any, signature: Sequence[Column], max_rows: int) -> Batch:
    if not isinstance(body, dict):
        raise PredictionInputInvalid("the body must be a JSON object with `inputs` or `dataframe_split`")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise PredictionInputInvalid(
            f"unknown field {unknown[0]!r}; send `inputs` or `dataframe_split`", field=unknown[0]
        )
    return_proba = body.get("return_proba", False)
    if not isinstance(return_proba, bool):
        raise PredictionInputInvalid("return_proba must be true or false", field="return_proba")
    if ("inputs" in body) == ("dataframe_split" in body):
        raise PredictionInputInvalid("send exactly one of `inputs` and `dataframe_split`")
    all_doubles = all(c.type == "double" for c in signature)
    if "dataframe_split" in body:
        names, data = _split_rows(body["dataframe_split"], signature, max_rows)
        # Rows of numbers straight into one array: no transposing into columns and back.
        matrix = _split_matrix(names, data, signature) if all_doubles else None
        if matrix is not None:
            return Batch({c.name: matrix[:, i] for i, c in enumerate(signature)}, len(data), return_proba, matrix)
        raw, rows = _split_columns(names, data, signature), len(data)
    elif isinstance(body["inputs"], list):
        raw, rows = _from_records(body["inputs"], signature, max_rows)
    elif isinstance(body["inputs"], dict):
        raw, rows = _from_columns(body["inputs"], signature, max_rows)
    else:
        raise PredictionInputInvalid("inputs must be a list of records or an object of columns", field="inputs")
    if all_doubles:
        matrix = _double_matrix([raw[c.name] for c in signature], rows)
        if matrix is not None:
            return Batch({c.name: matrix[:, i] for i, c in enumerate(signature)}, rows, return_proba, matrix)
    return Batch({c.name: _typed(c, raw[c.name]) for c in signature}, rows, return_proba)


_NUMBER_TYPES = frozenset({int, float})


def _double_matrix(columns: list[list[Any]], rows: int) -> np.ndarray | None:
    """All the columns at once, when every value is a finite JSON number: one type scan at C
    speed and one conversion, instead of a check per value. None when any value is not (a
    string, a bool, null, NaN, an integer past a double's range): _typed then says which."""
    if not set(map(type, itertools.chain.from_iterable(columns))) <= _NUMBER_TYPES:
        return None
    try:
        matrix = np.array(columns, dtype=np.float64).T
    except (OverflowError, ValueError):
        return None
    if matrix.shape != (rows, len(columns)) or not bool(np.isfinite(matrix).all()):
        return None
    return np.ascontiguousarray(matrix)


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise PayloadTooLarge(f"the request holds {rows} rows; at most {max_rows} are taken at once", max_rows=max_rows)
    if rows == 0:
        raise PredictionInputInvalid("the request holds no rows")


def _check_names(given: Sequence[Any], signature: Sequence[Column]) -> None:
    expected = {c.name for c in signature}
    for name in given:
        if name not in expected:
            raise PredictionInputInvalid(
                f"column {name!r} is not in the model's signature ({', '.join(c.name for c in signature)})",
                column=name if isinstance(name, str) else None,
            )
    present = set(given)
    for column in signature:
        if column.name not in present:
            raise PredictionInputInvalid(f"column {column.name!r} is missing", column=column.name)


def _from_records(records: list[Any], signature: Sequence[Column], max_rows: int) -> tuple[dict[str, list[Any]], int]:
    _check_rows(len(records), max_rows)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise PredictionInputInvalid(f"inputs[{index}] is not an object of column values", row=index)
    keys: set[str] = set().union(*records)
    _check_names(sorted(keys), signature)
    raw: dict[str, list[Any]] = {}
    for column in signature:
        values = [record.get(column.name, _MISSING) for record in records]
        for index, value in enumerate(values):
            if value is _MISSING:
                raise PredictionInputInvalid(
                    f"column {column.name!r} is missing in row {index}", column=column.name, row=index
                )
        raw[column.name] = values
    return raw, len(records)


def _from_columns(
    columns: dict[str, Any], signature: Sequence[Column], max_rows: int
) -> tuple[dict[str, list[Any]], int]:
    _check_names(list(columns), signature)
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list):
            raise PredictionInputInvalid(f"column {name!r} must be a list of values", column=name)
        lengths.add(len(values))
    if len(lengths) > 1:
        raise PredictionInputInvalid("the columns of inputs have different lengths")
    rows = lengths.pop()
    _check_rows(rows, max_rows)
    return {c.name: columns[c.name] for c in signature}, rows


def _split_rows(split: Any, signature: Sequence[Column], max_rows: int) -> tuple[list[str], list[list[Any]]]:
    """The column names and rows of a dataframe_split, checked: the signature's names, each
    once, and every row a list of as many values."""
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("columns"), list)
        or not isinstance(split.get("data"), list)
    ):
        raise PredictionInputInvalid(
            "dataframe_split must be an object with `columns` and `data` lists", field="dataframe_split"
        )
    unknown = sorted(set(split) - _SPLIT_KEYS)
    if unknown:
        raise PredictionInputInvalid(f"dataframe_split has an unknown field {unknown[0]!r}", field="dataframe_split")
    names, data = split["columns"], split["data"]
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise PredictionInputInvalid("dataframe_split.columns must be distinct column names", field="dataframe_split")
    _check_names(names, signature)
    _check_rows(len(data), max_rows)
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            raise PredictionInputInvalid(
                f"dataframe_split.data[{index}] must be a list of {len(names)} values", row=index
            )
    return names, data


def _split_columns(names: list[str], data: list[list[Any]], signature: Sequence[Column]) -> dict[str, list[Any]]:
    by_name = dict(zip(names, (list(values) for values in zip(*data, strict=True)), strict=True))
    return {c.name: by_name[c.name] for c in signature}


def _split_matrix(names: list[str], data: list[list[Any]], signature: Sequence[Column]) -> np.ndarray | None:
    """The rows as one C-ordered float64 array in signature order, when every value is a finite
    JSON number (as _double_matrix checks them); None otherwise."""
    if not set(map(type, itertools.chain.from_iterable(data))) <= _NUMBER_TYPES:
        return None
    try:
        matrix = np.array(data, dtype=np.float64)
    except (OverflowError, ValueError):
        return None
    if matrix.shape != (len(data), len(names)) or not bool(np.isfinite(matrix).all()):
        return None
    position = {name: i for i, name in enumerate(names)}
    order = [position[c.name] for c in signature]
    if order != list(range(len(names))):
        matrix = matrix[:, order]
    return np.ascontiguousarray(matrix)


def _typed(column: Column, values: list[Any]) -> np.ndarray:
    kind = column.type
    if kind == "double":
        for index, value in enumerate(values):
            if type(value) not in (int, float) or not _finite(value):
                raise _wrong(column, index, value, "a finite number")
        return np.array(values, dtype=np.float64)
    if kind == "long":
        for index, value in enumerate(values):
            if (
                not (type(value) is int or (type(value) is float and value.is_integer()))
                or not -(2**63) <= value < 2**63
            ):
                raise _wrong(column, index, value, "an integer")
        return np.array(values, dtype=np.int64)
    if kind == "boolean":
        for index, value in enumerate(values):
            if type(value) is not bool:
                raise _wrong(column, index, value, "true or false")
        return np.array(values, dtype=bool)
    for index, value in enumerate(values):
        if type(value) is not str:
            raise _wrong(column, index, value, "a string")
    return np.array(values, dtype=object)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past a double's range
        return False


def _wrong(column: Column, row: int, value: Any, expected: str) -> PredictionInputInvalid:
    if value is None or (type(value) is float and math.isnan(value)):
        got = "a missing value (null or NaN), which the signature does not allow"
    else:
        got = f"a JSON {_json_type(value)}"
    return PredictionInputInvalid(
        f"column {column.name!r} ({column.type}) row {row}: expected {expected}, got {got}", column=column.name, row=row
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if _finite(value) else "number out of range"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def model_input(batch: Batch, signature: Sequence[Column], as_frame: bool) -> Any:
    """What the model was fitted on: a DataFrame (it knows its feature names) built once from the
    column arrays, else one 2-D array."""
    if as_frame:
        return pd.DataFrame(batch.columns, columns=[c.name for c in signature], copy=False)
    if batch.matrix is not None:
        return batch.matrix
    arrays = [batch.columns[c.name] for c in signature]
    if all(a.dtype != object for a in arrays):
        return np.column_stack(arrays).astype(np.float64, copy=False)
    return np.column_stack([a.astype(object) for a in arrays])
