"""Reading uploaded tables and describing them (schema and profile), plus a chunked CSV → Parquet
conversion and a column-at-a-time Parquet profile so a large upload is never held in memory whole."""

import ctypes
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from app.ml.errors import SpecError


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


ColumnType = Literal["integer", "float", "boolean", "string", "datetime", "category"]
TableFormat = Literal["csv", "parquet"]

QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
TOP_VALUES = 10
DEFAULT_CHUNK_ROWS = 100_000

# glibc's malloc_trim, where there is one (Linux); elsewhere freed memory is left to the allocator.
_LIBC = _load_libc()
_PARSER_LINE = re.compile(r"\bline (\d+)")
# The C parser reports an unterminated quote by 0-based row, counting the header as row 0.
_PARSER_ROW = re.compile(r"\bstarting at row (\d+)")
_PARSER_PREFIX = re.compile(r"^Error tokenizing data\. C error: ")


@dataclass(frozen=True)
class ParquetConversion:
    """What csv_to_parquet_chunks wrote: data rows, row groups (one per chunk) and column names."""

    rows: int
    chunks: int
    columns: list[str]


def read_table(path: Path, fmt: TableFormat) -> pd.DataFrame:
    """Read a whole CSV or Parquet file; SpecError (with `extra["line"]` for a corrupt CSV) when
    the file cannot be parsed, is empty, or has no rows."""
    if fmt == "csv":
        df = _read_csv(path)
    elif fmt == "parquet":
        df = _read_parquet(path)
    else:
        raise SpecError(f"unknown table format '{fmt}'; allowed: csv, parquet", field="format")
    _refuse_empty(df)
    return df


def column_type(series: pd.Series) -> ColumnType:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    # pandas keeps a boolean column holding nulls as object (True/False/NaN); it is still boolean.
    if pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        return "boolean"
    return "string"


def schema_of(df: pd.DataFrame) -> list[dict[str, str]]:
    """[{"name", "type"}] in column order; types: integer, float, boolean, string, datetime, category."""
    return [{"name": str(name), "type": column_type(df.iloc[:, i])} for i, name in enumerate(df.columns)]


def schema_from_profile(profile: dict[str, Any]) -> list[dict[str, str]]:
    """The schema a profile already holds, so a streamed Parquet profile needs no second pass."""
    return [{"name": name, "type": column["type"]} for name, column in profile["column_profiles"].items()]


def profile_of(df: pd.DataFrame) -> dict[str, Any]:
    """{"rows", "columns", "column_profiles": {name: {...}}}, JSON-serialisable (NaN and ±inf → None)."""
    return {
        "rows": len(df),
        "columns": df.shape[1],
        "column_profiles": {str(name): profile_column(df.iloc[:, i]) for i, name in enumerate(df.columns)},
    }


def release_memory() -> None:
    """Hand freed memory back to the OS: Arrow's pool and glibc's malloc both keep it for reuse,
    so a long-lived server would otherwise carry the high-water mark of its largest upload."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def profile_parquet(path: Path) -> dict[str, Any]:
    """The same result as profile_of(pandas.read_parquet(path)), read one column at a time: memory
    is bounded by the largest single column, not the file. Numeric columns are summarised from
    one NumPy array (no pandas copies), since a profile of a large upload must stay small."""
    parquet = _open_parquet(path)
    names = parquet.schema_arrow.names
    profiles: dict[str, Any] = {}
    for name in names:
        column = parquet.read(columns=[name], use_pandas_metadata=True).column(0)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            profiles[str(name)] = _numeric_column_profile(column)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            profiles[str(name)] = _text_column_profile(column)
        else:
            series = pa.table({name: column}).to_pandas()[name]
            profiles[str(name)] = profile_column(series)
        del column
        release_memory()
    return {"rows": parquet.metadata.num_rows, "columns": len(names), "column_profiles": profiles}


def _numeric_column_profile(column: pa.ChunkedArray) -> dict[str, Any]:
    """Arrow kernels work chunk by chunk on the column as read: no pandas or NumPy copies."""
    rows = len(column)
    is_float = pa.types.is_floating(column.type)
    nans = int(pc.sum(pc.is_nan(column)).as_py() or 0) if rows and is_float else 0
    nulls = column.null_count + nans
    kind: ColumnType = "integer" if pa.types.is_integer(column.type) and column.null_count == 0 else "float"
    profile: dict[str, Any] = {"type": kind, "nulls": nulls, "null_fraction": nulls / rows if rows else 0.0}
    if nulls == rows:
        profile.update({"min": None, "max": None, "mean": None, "std": None, "quantiles": dict.fromkeys(QUANTILES)})
        return profile
    # Each step copies the column, so only the ones this column needs.
    present = pc.if_else(pc.is_nan(column), None, column) if nans else column
    present = pc.drop_null(present) if nulls else present
    extremes = pc.min_max(column if kind == "integer" else present)
    quantiles = pc.quantile(present, q=list(QUANTILES.values()), interpolation="linear").to_pylist()
    profile.update(
        {
            "min": _plain(extremes["min"].as_py()),
            "max": _plain(extremes["max"].as_py()),
            "mean": _finite(pc.mean(present).as_py()),
            "std": _finite(pc.stddev(present, ddof=1).as_py()),
            "quantiles": {key: _finite(q) for key, q in zip(QUANTILES, quantiles, strict=True)},
        }
    )
    return profile


def _text_column_profile(column: pa.ChunkedArray) -> dict[str, Any]:
    """Counted and ranked by Arrow on the column as read, never as millions of Python strings."""
    rows = len(column)
    nulls = column.null_count
    counts = pc.value_counts(pc.drop_null(column))
    table = pa.table({"value": counts.field("values"), "count": counts.field("counts")})
    # Ties ordered by value so the same data always gives the same list.
    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("value", "ascending")])
    top = table.take(order[:TOP_VALUES]).to_pylist()
    return {
        "type": "string",
        "nulls": nulls,
        "null_fraction": nulls / rows if rows else 0.0,
        "distinct": len(table),
        "top_values": [{"value": item["value"], "count": int(item["count"])} for item in top],
    }


def profile_column(series: pd.Series) -> dict[str, Any]:
    kind = column_type(series)
    rows = len(series)
    nulls = int(series.isna().sum())
    profile: dict[str, Any] = {"type": kind, "nulls": nulls, "null_fraction": nulls / rows if rows else 0.0}
    values = series.dropna()
    if kind in ("integer", "float"):
        profile.update(_numeric_stats(values))
    elif kind == "datetime":
        profile["min"] = values.min().isoformat() if len(values) else None
        profile["max"] = values.max().isoformat() if len(values) else None
    else:
        profile["distinct"] = int(values.nunique())
        profile["top_values"] = _top_values(values, keep_bools=kind == "boolean")
    return profile


def csv_to_parquet_chunks(source: Path, dest: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> ParquetConversion:
    """Convert a CSV of any size to Parquet, one row group per `chunk_rows` rows.

    The first chunk fixes the column types (as pandas infers them, except that text columns and
    columns empty in that chunk are read as strings); every later chunk is cast to them, and one
    that does not fit raises SpecError naming the column, the rows and the lines. Line numbers
    assume one line per record (a quoted field spanning lines shifts them). On any failure the
    partial `dest` is removed."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    probe = _read_csv(source, nrows=chunk_rows)
    _refuse_empty(probe)
    as_text = {
        name: "str"
        for name in probe.columns
        if column_type(probe[name]) in ("string", "category") or probe[name].isna().all()
    }
    writer: pq.ParquetWriter | None = None
    rows = chunks = 0
    try:
        for chunk in _read_csv_chunks(source, chunk_rows, as_text):
            if writer is None:
                schema = pa.Schema.from_pandas(chunk, preserve_index=False)
                writer = pq.ParquetWriter(dest, schema)
            writer.write_table(_chunk_table(chunk, writer.schema, first_row=rows + 1))
            rows += len(chunk)
            chunks += 1
    except BaseException:
        if writer is not None:
            writer.close()
        dest.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
    release_memory()
    return ParquetConversion(rows=rows, chunks=chunks, columns=[str(name) for name in probe.columns])


def _read_csv(path: Path, nrows: int | None = None) -> pd.DataFrame:
    try:
        # low_memory=False: one type per column for the whole read, not one per internal block.
        return pd.read_csv(path, nrows=nrows, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _csv_error(exc) from exc


def _read_csv_chunks(path: Path, chunk_rows: int, dtypes: dict[str, str]) -> Iterator[pd.DataFrame]:
    try:
        with pd.read_csv(path, chunksize=chunk_rows, dtype=dtypes) as reader:
            yield from reader
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _csv_error(exc) from exc


def _csv_error(exc: Exception) -> SpecError:
    if isinstance(exc, pd.errors.EmptyDataError):
        return SpecError("the CSV file is empty: it has no header and no columns", field="file")
    if isinstance(exc, UnicodeDecodeError):
        return SpecError(
            f"the CSV file is not UTF-8 text (undecodable byte at offset {exc.start})",
            field="file",
            extra={"offset": exc.start},
        )
    text = str(exc).strip()
    detail = _PARSER_PREFIX.sub("", text)
    line: int | None = None
    if found := _PARSER_LINE.search(text):
        line = int(found.group(1))
    elif found := _PARSER_ROW.search(text):
        line = int(found.group(1)) + 1
    if line is None:
        return SpecError(f"corrupt CSV: {detail}", field="file")
    return SpecError(f"corrupt CSV at line {line}: {detail}", field="file", extra={"line": line})


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise SpecError(f"not a readable Parquet file: {exc}", field="file") from exc


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        # Read a column's pages as they are needed, not the whole column chunk up front.
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=1024 * 1024)
    except (pa.ArrowException, OSError) as exc:
        raise SpecError(f"not a readable Parquet file: {exc}", field="file") from exc


def _refuse_empty(df: pd.DataFrame) -> None:
    if df.shape[1] == 0:
        raise SpecError("the file has no columns", field="file")
    if len(df) == 0:
        raise SpecError("the file has a header but no rows", field="file")


def _chunk_table(chunk: pd.DataFrame, schema: pa.Schema, *, first_row: int) -> pa.Table:
    try:
        return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _cast_error(chunk, schema, first_row, exc) from exc


def _cast_error(chunk: pd.DataFrame, schema: pa.Schema, first_row: int, exc: Exception) -> SpecError:
    last_row = first_row + len(chunk) - 1
    # Data row r sits on file line r + 1: the header is line 1.
    span = f"rows {first_row}-{last_row} (lines {first_row + 1}-{last_row + 1})"
    extra: dict[str, Any] = {"rows": [first_row, last_row], "lines": [first_row + 1, last_row + 1]}
    for field in schema:
        try:
            pa.array(chunk[field.name], type=field.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            extra["column"] = field.name
            message = (
                f"column '{field.name}' is {_arrow_type_name(field.type)} in the first rows of the file, "
                f"but {span} do not fit"
            )
            position = _first_misfit(chunk[field.name], field.type)
            if position is not None:
                value = str(chunk[field.name].iloc[position])[:80]
                line = first_row + position + 1
                extra.update(line=line, value=value)
                message += f": '{value}' on line {line}"
            return SpecError(message, field="file", extra=extra)
    return SpecError(f"{span} cannot be converted to the types of the first rows: {exc}", field="file", extra=extra)


def _arrow_type_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "float"
    return str(arrow_type)


def _first_misfit(series: pd.Series, arrow_type: pa.DataType) -> int | None:
    present = series.notna().to_numpy()
    if pa.types.is_boolean(arrow_type):
        misfit = present & ~series.isin([True, False]).to_numpy()
    elif pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
        misfit = present & np.isnan(numbers)
        if pa.types.is_integer(arrow_type):
            misfit |= present & ~np.isnan(numbers) & (np.mod(numbers, 1) != 0)
    else:
        return None
    hits = np.flatnonzero(misfit)
    return int(hits[0]) if len(hits) else None


def _numeric_stats(values: pd.Series) -> dict[str, Any]:
    if len(values) == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": dict.fromkeys(QUANTILES)}
    floats = values.astype("float64", copy=False)
    # An infinite value makes some results inf - inf; those come out as None, no warning needed.
    with np.errstate(invalid="ignore"):
        quantiles = floats.quantile(list(QUANTILES.values()))
        mean, std = floats.mean(), floats.std()
    return {
        "min": _plain(values.min()),
        "max": _plain(values.max()),
        "mean": _finite(mean),
        "std": _finite(std),
        "quantiles": {key: _finite(q) for key, q in zip(QUANTILES, quantiles, strict=True)},
    }


def _top_values(values: pd.Series, *, keep_bools: bool) -> list[dict[str, Any]]:
    keys = values if keep_bools else values.astype(str)
    counts = keys.value_counts()
    # Ties ordered by value so the same data always gives the same list.
    table = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})
    table = table.sort_values(["count", "value"], ascending=[False, True], kind="stable").head(TOP_VALUES)
    return [{"value": _plain(v), "count": int(c)} for v, c in zip(table["value"], table["count"], strict=True)]


def _finite(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A numpy/pandas scalar as a JSON-ready Python value (non-finite floats → None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
