"""Use cases of the prediction log and feedback: reading logged rows as Arrow columns (for drift
checks, rollout analysis and the API), storing feedback, and the live metric of a version."""

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Deployment, PredictionSegment
from app.errors import DeploymentNotFound, InvalidInput
from app.pagination import decode_page_token, encode_page_token, int_from_cursor
from app.predictions import ids, repository, segments
from app.predictions.schemas import FeedbackCreate, FeedbackResult
from app.storage import ArtifactStore

# Segments read at once: S3 answers each GET in tens of milliseconds, Parquet decoding frees the GIL.
_READ_THREADS = 8
# An id's time is the request's start in milliseconds; its rows are logged a moment later.
_ID_SLACK_SECONDS = 5.0
_EMPTY_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("predicted_at", segments.TIME_TYPE),
        ("version", pa.int32()),
        ("revision", pa.int32()),
        ("latency_ms", pa.float64()),
        ("prediction", pa.null()),
        ("probabilities", pa.list_(pa.float64())),
    ]
)


def read_predictions(
    session: Session,
    store: ArtifactStore,
    deployment_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
) -> pa.Table:
    """A deployment's logged rows with `since <= predicted_at <= until` (either open), or the
    newest `last` of them, oldest first, with only `columns` (`input.<name>` for an input; None:
    all). Reads only the segments the index selects, and of them only those columns.

    Rows still in a server's buffer (not flushed yet) are not included."""
    deployment = _deployment(session, deployment_name)
    return _read(session, store, deployment.id, since=since, until=until, last=last, columns=columns, version=version)


def list_predictions(
    session: Session,
    store: ArtifactStore,
    deployment_name: str,
    *,
    since: datetime | None,
    until: datetime | None,
    version: int | None,
    columns: Sequence[str] | None,
    limit: int,
    page_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of logged rows, newest first. The token says where the page ended: a time and how
    many rows at exactly that time were already shown (one request's rows share a time)."""
    deployment = _deployment(session, deployment_name)
    cursor = decode_page_token(page_token)
    skip = int_from_cursor(cursor, "skip") or 0
    if cursor is not None:
        until = _time_from_cursor(cursor)
    wanted = None if columns is None else list(dict.fromkeys([*columns, "predicted_at"]))
    table = _read(
        session, store, deployment.id, since=since, until=until, last=limit + skip + 1, columns=wanted, version=version
    )
    newest_first = table.take(pa.array(range(table.num_rows - 1, -1, -1), type=pa.int64()))
    shown = newest_first.slice(skip, limit)
    next_token = None
    if newest_first.num_rows > skip + limit:
        edge = shown["predicted_at"][shown.num_rows - 1]
        seen = newest_first.slice(0, skip + limit)["predicted_at"]
        at_edge = pc.sum(pc.equal(seen, edge)).as_py()
        next_token = encode_page_token({"until": edge.as_py().isoformat(), "skip": int(at_edge)})
    if columns is not None:
        shown = shown.select(list(columns))
    return [_json_row(row) for row in shown.to_pylist()], next_token


def predictions_parquet(
    session: Session,
    store: ArtifactStore,
    deployment_name: str,
    *,
    since: datetime | None,
    until: datetime | None,
    version: int | None,
    columns: Sequence[str] | None,
    limit: int,
) -> bytes:
    """The newest `limit` logged rows in the window, as one Parquet file."""
    return segments.encode(
        read_predictions(
            session, store, deployment_name, since=since, until=until, last=limit, columns=columns, version=version
        )
    )


def record_feedback(
    session: Session, store: ArtifactStore, actor: Principal, deployment_name: str, data: FeedbackCreate
) -> FeedbackResult:
    """Store each item, replacing feedback sent before for the same prediction id; say how many
    ids were found in the flushed log. One audit event for the call."""
    deployment = _deployment(session, deployment_name)
    # An id given twice keeps its last item (one statement may not upsert a row twice).
    latest = {item.prediction_id: item.actual for item in data.feedback}
    wanted = set(latest)
    matched = len(wanted & _logged_ids(session, store, deployment.id, wanted))
    now = utcnow()
    repository.upsert_feedback(
        session,
        [
            {
                "deployment_id": deployment.id,
                "prediction_id": prediction_id,
                "actual": actual,
                "received_at": now,
                "received_by": actor.username,
            }
            for prediction_id, actual in latest.items()
        ],
    )
    result = FeedbackResult(received=len(wanted), matched=matched, unmatched=len(wanted) - matched)
    audit.record(session, actor, "deployment.feedback", "deployment", deployment.name, result.model_dump())
    return result


def live_metric(
    session: Session, store: ArtifactStore, deployment_id: int, model_version_id: int, since: datetime
) -> tuple[float, int] | None:
    """(accuracy, matched rows) when the version's predictions are labels, (RMSE, matched rows)
    when they are floats, over its logged predictions since `since` that have feedback; None
    when none have."""
    found = _live(session, store, deployment_id, model_version_id, since)
    return None if found is None else (found[1], found[2])


def _live(
    session: Session, store: ArtifactStore, deployment_id: int, model_version_id: int, since: datetime
) -> tuple[str, float, int] | None:
    actuals = dict(repository.feedback_since(session, deployment_id, since))
    if not actuals:
        return None
    table = _read(
        session,
        store,
        deployment_id,
        since=since,
        until=None,
        last=None,
        columns=["prediction_id", "predicted_at", "prediction"],
        model_version_id=model_version_id,
    )
    if table.num_rows == 0:
        return None
    predictions = table["prediction"]
    pairs = [
        (predicted, actuals[prediction_id])
        for prediction_id, predicted in zip(table["prediction_id"].to_pylist(), predictions.to_pylist(), strict=True)
        if prediction_id in actuals
    ]
    if pa.types.is_floating(predictions.type):
        numbers = [
            (p, float(a)) for p, a in pairs if isinstance(a, int | float) and not isinstance(a, bool) and p is not None
        ]
        if not numbers:
            return None
        return "rmse", math.sqrt(sum((p - a) ** 2 for p, a in numbers) / len(numbers)), len(numbers)
    if not pairs:
        return None
    return "accuracy", sum(1 for p, a in pairs if _same_label(p, a)) / len(pairs), len(pairs)


def labelled_inputs(
    session: Session, store: ArtifactStore, deployment_name: str, inputs: Sequence[str], *, since: datetime | None
) -> pd.DataFrame:
    """The logged inputs (`inputs`, by their signature names) of the deployment's predictions made
    since `since` that have feedback, oldest first, with the feedback in the column `actual`."""
    deployment = _deployment(session, deployment_name)
    actuals = dict(repository.feedback_since(session, deployment.id, since))
    columns = [f"{segments.INPUT_PREFIX}{name}" for name in inputs]
    if not actuals:
        return pd.DataFrame({**{name: [] for name in inputs}, "actual": []})
    table = _read(
        session, store, deployment.id, since=since, until=None, last=None, columns=["prediction_id", *columns]
    )
    table = table.filter(pc.is_in(table["prediction_id"], value_set=pa.array(list(actuals), type=pa.string())))
    frame = table.select(columns).rename_columns(list(inputs)).to_pandas()
    frame["actual"] = [actuals[prediction_id] for prediction_id in table["prediction_id"].to_pylist()]
    return frame


def live_score(
    session: Session, store: ArtifactStore, deployment_id: int, model_version_id: int, since: datetime
) -> tuple[float, int] | None:
    """The live metric with higher always better, for comparing two versions (the rollout
    analysis): accuracy for labels, minus the RMSE for numbers."""
    found = _live(session, store, deployment_id, model_version_id, since)
    if found is None:
        return None
    kind, value, rows = found
    return (-value if kind == "rmse" else value), rows


# ---- windows read one segment at a time (drift checks) ------------------------------------------


@dataclass(frozen=True)
class LoggedSegment:
    """One segment of a window, as its index row names it."""

    key: str
    first_at: datetime
    last_at: datetime
    rows: int
    model_version_id: int
    model: str
    version: int


@dataclass(frozen=True)
class LogWindow:
    """The segments holding a deployment's rows with `since <= predicted_at <= until`, oldest
    first. For a window of the last N rows, `since` is the time of the N-th newest row and
    `skip_at_since` how many rows at exactly that time come before the N (one request's rows
    share a time), so that reading yields exactly N."""

    deployment_id: int
    since: datetime | None
    until: datetime | None
    segments: tuple[LoggedSegment, ...]
    skip_at_since: int = 0

    @property
    def max_rows(self) -> int:
        """The rows of its segments: an upper bound of what reading yields (for progress)."""
        return sum(s.rows for s in self.segments)


def plan_window(
    session: Session,
    store: ArtifactStore,
    deployment_name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    last: int | None = None,
) -> LogWindow:
    """The window of `read_window`: the rows in [since, until] (either open), or the newest
    `last` of them. For `last`, the time column of the newest segments is read once to find
    where the window starts."""
    deployment = _deployment(session, deployment_name)
    if since is not None and until is not None and since > until:
        raise InvalidInput("since is later than until", field="since")
    found = [_logged(s) for s in repository.segments(session, deployment.id, since=since, until=until)]
    if last is None or sum(s.rows for s in found) <= last:
        return LogWindow(deployment.id, since, until, _oldest_first(found))
    # Newest last row first: take segments until they hold `last` rows, then every one that may
    # still hold rows as new as the oldest of those (versions flushed together overlap in time).
    times: dict[str, np.ndarray] = {}
    rows = 0
    for segment in found:
        if rows >= last:
            break
        times[segment.key] = _times(store, segment, since, until)
        rows += times[segment.key].size
    if rows <= last:
        return LogWindow(deployment.id, since, until, _oldest_first(found))
    edge = _nth_newest(times, last)
    for segment in found[len(times) :]:
        if segment.last_at >= segments.from_micros(edge):
            times[segment.key] = _times(store, segment, since, until)
    edge = _nth_newest(times, last)
    newer = sum(int((t > edge).sum()) for t in times.values())
    at_edge = sum(int((t == edge).sum()) for t in times.values())
    start = segments.from_micros(edge)
    chosen = [s for s in found if s.key in times and s.last_at >= start]
    return LogWindow(deployment.id, start, until, _oldest_first(chosen), skip_at_since=max(0, at_edge - (last - newer)))


def read_window(
    store: ArtifactStore, window: LogWindow, columns: Sequence[str]
) -> Iterator[tuple[LoggedSegment, pa.Table]]:
    """The window's rows, one table per segment (oldest segment first), with `columns` (a column
    a segment lacks comes back as nulls): the memory held is one segment's, whatever the window."""
    _check_columns(columns)
    wanted = list(dict.fromkeys([*columns, "predicted_at"]))
    to_skip = window.skip_at_since
    for segment in window.segments:
        table = segments.read(store, segment.key, wanted)
        times = table["predicted_at"]
        mask = None
        if window.since is not None:
            mask = pc.greater_equal(times, pa.scalar(window.since, type=segments.TIME_TYPE))
        if window.until is not None:
            upper = pc.less_equal(times, pa.scalar(window.until, type=segments.TIME_TYPE))
            mask = upper if mask is None else pc.and_(mask, upper)
        if mask is not None:
            table = table.filter(mask)
        if to_skip and window.since is not None and table.num_rows:
            at_since = pc.equal(table["predicted_at"], pa.scalar(window.since, type=segments.TIME_TYPE))
            positions = pc.indices_nonzero(at_since).to_numpy()[:to_skip]
            if positions.size:
                keep = pa.array(~_flags(table.num_rows, positions))
                table = table.filter(keep)
                to_skip -= int(positions.size)
        for name in columns:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows))
        yield segment, table.select(list(columns))


def feedback_since(session: Session, deployment_id: int, since: datetime) -> dict[str, Any]:
    """The actual outcome of each prediction id of the deployment, for feedback received since `since`."""
    return dict(repository.feedback_since(session, deployment_id, since))


def _logged(segment: PredictionSegment) -> LoggedSegment:
    return LoggedSegment(
        key=segment.key,
        first_at=segment.first_at,
        last_at=segment.last_at,
        rows=segment.row_count,
        model_version_id=segment.model_version_id,
        model=segment.model,
        version=segment.version,
    )


def _oldest_first(found: Sequence[LoggedSegment]) -> tuple[LoggedSegment, ...]:
    return tuple(sorted(found, key=lambda s: (s.first_at, s.key)))


def _times(store: ArtifactStore, segment: LoggedSegment, since: datetime | None, until: datetime | None) -> np.ndarray:
    """The microsecond times of the segment's rows within [since, until]."""
    values = segments.read(store, segment.key, ["predicted_at"])["predicted_at"].cast(pa.int64()).to_numpy()
    if since is not None:
        values = values[values >= segments.micros(since)]
    if until is not None:
        values = values[values <= segments.micros(until)]
    return values


def _nth_newest(times: dict[str, np.ndarray], n: int) -> int:
    joined = np.sort(np.concatenate(list(times.values())))
    return int(joined[joined.size - n])


def _flags(size: int, positions: np.ndarray) -> np.ndarray:
    flags = np.zeros(size, dtype=bool)
    flags[positions] = True
    return flags


# ---- helpers -----------------------------------------------------------------------------------


def _deployment(session: Session, name: str) -> Deployment:
    deployment = repository.get_deployment(session, name)
    if deployment is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return deployment


def _read(
    session: Session,
    store: ArtifactStore,
    deployment_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    last: int | None,
    columns: Sequence[str] | None,
    version: int | None = None,
    model_version_id: int | None = None,
) -> pa.Table:
    if columns is not None:
        _check_columns(columns)
    if since is not None and until is not None and since > until:
        raise InvalidInput("since is later than until", field="since")
    found = repository.segments(
        session, deployment_id, since=since, until=until, version=version, model_version_id=model_version_id
    )
    # Filtering and ordering need the time, whatever the caller asked for.
    wanted = None if columns is None else list(dict.fromkeys([*columns, "predicted_at"]))
    parts: list[tuple[PredictionSegment, pa.Table]] = []
    taken = 0
    table = _combine(parts, since, until)
    while taken < len(found):
        need = math.inf if last is None else last - table.num_rows
        batch: list[PredictionSegment] = []
        rows = 0
        while taken < len(found) and rows < need:
            batch.append(found[taken])
            rows += found[taken].row_count
            taken += 1
        parts.extend(_read_segments(store, batch, wanted))
        table = _combine(parts, since, until)
        if last is None or table.num_rows < last:
            continue
        # Segments of other versions flushed together overlap in time: any not read yet whose
        # newest row is as new as the last-th newest row read may still hold some of the newest.
        threshold = table["predicted_at"][table.num_rows - last].as_py()
        extra = []
        while taken < len(found) and found[taken].last_at >= threshold:
            extra.append(found[taken])
            taken += 1
        if extra:
            parts.extend(_read_segments(store, extra, wanted))
            table = _combine(parts, since, until)
        break
    if last is not None and table.num_rows > last:
        table = table.slice(table.num_rows - last)
    if columns is not None:
        for name in columns:
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows))
        table = table.select(list(columns))
    return table


def _read_segments(
    store: ArtifactStore, found: Sequence[PredictionSegment], columns: list[str] | None
) -> list[tuple[PredictionSegment, pa.Table]]:
    def one(segment: PredictionSegment) -> tuple[PredictionSegment, pa.Table]:
        return segment, segments.read(store, segment.key, columns)

    if len(found) <= 1:
        return [one(s) for s in found]
    with ThreadPoolExecutor(max_workers=min(_READ_THREADS, len(found))) as pool:
        return list(pool.map(one, found))


def _combine(
    parts: Sequence[tuple[PredictionSegment, pa.Table]], since: datetime | None, until: datetime | None
) -> pa.Table:
    """The parts as one table in the window, ordered by time; rows of one time (one request) stay
    in their request's order."""
    if not parts:
        return _EMPTY_SCHEMA.empty_table()
    ordered = sorted(parts, key=lambda part: (part[0].first_at, part[0].id))
    table = pa.concat_tables([t for _, t in ordered], promote_options="permissive")
    mask = None
    if since is not None:
        mask = pc.greater_equal(table["predicted_at"], pa.scalar(since, type=segments.TIME_TYPE))
    if until is not None:
        upper = pc.less_equal(table["predicted_at"], pa.scalar(until, type=segments.TIME_TYPE))
        mask = upper if mask is None else pc.and_(mask, upper)
    if mask is not None:
        table = table.filter(mask)
    times = table["predicted_at"].to_numpy()
    if times.size > 1 and not bool((times[1:] >= times[:-1]).all()):
        # Only when segments overlap in time (versions flushed together); Arrow's sort is stable.
        table = table.take(pc.sort_indices(table["predicted_at"]))
    return table


def _check_columns(columns: Sequence[str]) -> None:
    known = set(segments.META_COLUMNS) | set(segments.OUTPUT_COLUMNS)
    for name in columns:
        if name not in known and not (
            name.startswith(segments.INPUT_PREFIX) and len(name) > len(segments.INPUT_PREFIX)
        ):
            raise InvalidInput(
                f"unknown column {name!r}: use {', '.join(sorted(known))} or {segments.INPUT_PREFIX}<input column>",
                field="columns",
            )


def _logged_ids(session: Session, store: ArtifactStore, deployment_id: int, wanted: set[str]) -> set[str]:
    """The ids of `wanted` found in the deployment's flushed log, reading only the id column of
    the segments whose time span holds one of the ids' times."""
    moments = sorted(t for t in (ids.predicted_at(i) for i in wanted) if t is not None)
    if not moments:
        return set()
    slack = timedelta(seconds=_ID_SLACK_SECONDS)
    times = [t.timestamp() for t in moments]
    candidates = [
        s
        for s in repository.segments(session, deployment_id, since=moments[0] - slack, until=moments[-1] + slack)
        if _any_between(times, s.first_at.timestamp() - _ID_SLACK_SECONDS, s.last_at.timestamp() + _ID_SLACK_SECONDS)
    ]
    found: set[str] = set()
    for _, part in _read_segments(store, candidates, ["prediction_id"]):
        found.update(wanted.intersection(part["prediction_id"].to_pylist()))
    return found


def _any_between(ordered: Sequence[float], low: float, high: float) -> bool:
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if ordered[mid] < low:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(ordered) and ordered[lo] <= high


def _same_label(predicted: Any, actual: Any) -> bool:
    # A label sent back as JSON may be the number or its text ("1" for 1).
    return bool(predicted == actual or str(predicted) == str(actual))


def _time_from_cursor(cursor: dict[str, Any]) -> datetime:
    value = cursor.get("until")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput("page_token is not a token this server issued", field="page_token")
    return moment


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    moment = row.get("predicted_at")
    if isinstance(moment, datetime):
        row["predicted_at"] = moment.isoformat()
    return row
