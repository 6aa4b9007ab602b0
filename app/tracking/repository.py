"""Every SQL statement of the tracking domain. The metric hot paths (a log-batch of 1,000 points,
a 10,000-point history) are a few Core or driver statements each, with no ORM objects."""

import math
import struct
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, exists, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app.db.tables import Experiment, LatestMetric, MetricChunk, Param, Run, RunTag
from app.errors import ExperimentConflict
from app.names import fold_name
from app.tracking.search import Condition, OrderBy

Point = tuple[int, float, int]  # step, value, timestamp

# ---- experiments -------------------------------------------------------------------------------


def add_experiment(session: Session, experiment: Experiment) -> Experiment:
    session.add(experiment)
    flush_experiment(session, experiment.name)
    return experiment


def flush_experiment(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        detail = f"an experiment named {name!r}, or one differing only in case, Unicode form or spaces, already exists"
        raise ExperimentConflict(detail) from exc


def get_experiment(session: Session, experiment_id: int) -> Experiment | None:
    return session.get(Experiment, experiment_id)


def list_experiments(
    session: Session, *, name: str | None, lifecycle_stage: str | None, after_id: int | None, limit: int
) -> Sequence[Experiment]:
    query = select(Experiment).order_by(Experiment.id).limit(limit)
    if name is not None:
        query = query.where(Experiment.folded_name == fold_name(name))
    if lifecycle_stage is not None:
        query = query.where(Experiment.lifecycle_stage == lifecycle_stage)
    if after_id is not None:
        query = query.where(Experiment.id > after_id)
    return session.scalars(query).all()


def existing_experiment_ids(session: Session, ids: Iterable[int]) -> set[int]:
    return set(session.scalars(select(Experiment.id).where(Experiment.id.in_(list(ids)))))


# ---- runs --------------------------------------------------------------------------------------


def experiment_lifecycle(session: Session, experiment_id: int) -> str | None:
    statement = select(Experiment.lifecycle_stage).where(Experiment.id == experiment_id)
    return cast(str | None, session.connection().execute(statement).scalar())


def insert_run(session: Session, run: Run) -> None:
    """One Core INSERT of a new, unsaved `run` (it stays out of the session): creating a run is
    the hottest write, and the ORM's flush cost more than the statement. Unset columns take
    their defaults."""
    values = {column.key: getattr(run, column.key) for column in Run.__table__.columns}
    session.connection().execute(insert(Run), [{k: v for k, v in values.items() if v is not None}])


# The columns a new run is written with; the others (end_time) start NULL.
_NEW_RUN_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "status",
    "start_time",
    "user_id",
    "username",
    "parent_run_id",
    "source_git_commit",
    "source_entry_point",
    "environment",
    "lifecycle_stage",
    "created_at",
)
# The run row comes from a SELECT of its experiment, so the check that the experiment exists and
# is active and the insert are one statement, with no window between them.
_RUN_FROM_ACTIVE_EXPERIMENT = (
    f"INSERT INTO run ({', '.join(_NEW_RUN_COLUMNS)}) SELECT {{values}} FROM experiment "
    "WHERE experiment.id = {experiment_id} AND experiment.lifecycle_stage = 'active'"
)
# Postgres: the run and all its first data in one statement (one round trip, not five). Each
# data-modifying CTE inserts nothing when new_run inserted nothing; the foreign keys are checked
# at the end of the statement, when the run row is there.
_NEW_RUN_POSTGRES = (
    "WITH new_run AS ("
    + _RUN_FROM_ACTIVE_EXPERIMENT.format(
        values=", ".join(
            "%(environment)s::json" if column == "environment" else f"%({column})s" for column in _NEW_RUN_COLUMNS
        ),
        experiment_id="%(experiment_id)s",
    )
    + " RETURNING id), "
    "new_params AS (INSERT INTO param (run_id, key, value) SELECT new_run.id, p.key, p.value "
    "FROM new_run, unnest(%(param_keys)b::varchar[], %(param_values)b::text[]) AS p(key, value)), "
    "new_tags AS (INSERT INTO run_tag (run_id, key, value) SELECT new_run.id, t.key, t.value "
    "FROM new_run, unnest(%(tag_keys)b::varchar[], %(tag_values)b::text[]) AS t(key, value)), "
    "new_chunks AS (INSERT INTO metric_chunk (run_id, key, points) SELECT new_run.id, c.key, c.points "
    "FROM new_run, unnest(%(chunk_keys)b::varchar[], %(chunk_points)b::bytea[]) AS c(key, points)), "
    "new_latest AS (INSERT INTO latest_metric (run_id, key, value, step, timestamp) "
    "SELECT new_run.id, l.key, l.value, l.step, l.timestamp FROM new_run, unnest(%(latest_keys)b::varchar[], "
    "%(latest_values)b::float8[], %(latest_steps)b::bigint[], %(latest_stamps)b::bigint[]) "
    "AS l(key, value, step, timestamp)) "
    "SELECT count(*) FROM new_run"
)
_NEW_RUN_SQLITE = _RUN_FROM_ACTIVE_EXPERIMENT.format(values=", ".join("?" * len(_NEW_RUN_COLUMNS)), experiment_id="?")
_INSERT_PARAM = "INSERT INTO param (run_id, key, value) VALUES (?, ?, ?)"
_INSERT_TAG = "INSERT INTO run_tag (run_id, key, value) VALUES (?, ?, ?)"
_INSERT_CHUNK = "INSERT INTO metric_chunk (run_id, key, points) VALUES (?, ?, ?)"
_INSERT_LATEST = "INSERT INTO latest_metric (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)"


def insert_new_run(
    session: Session,
    run: dict[str, Any],
    params: dict[str, str],
    tags: dict[str, str],
    series: dict[str, list[Point]],
) -> bool:
    """A new run (`run`: the _NEW_RUN_COLUMNS values; `environment` as JSON text) with its first
    params, tags and metric points (per key), written only if its experiment exists and is active:
    False, with nothing written, when it does not. On the driver directly: creating a run is the
    hottest write, and SQLAlchemy's compiling cost more than the statements."""
    for points in series.values():
        points.sort(key=_step_then_time)  # stable: of equal points, the one logged later ends last
    connection = session.connection()
    dialect = connection.dialect
    created_at = cast(Any, Run.__table__.c.created_at.type).bind_processor(dialect)
    values = {**run, "created_at": created_at(run["created_at"]) if created_at else run["created_at"]}
    latest = [(key, *_value_first(series[key][-1])) for key in sorted(series)]
    if dialect.name == "postgresql":
        arrays = {
            "param_keys": list(params),
            "param_values": list(params.values()),
            "tag_keys": list(tags),
            "tag_values": list(tags.values()),
            "chunk_keys": list(series),
            "chunk_points": [_pack(points) for points in series.values()],
            "latest_keys": [row[0] for row in latest],
            "latest_values": [row[1] for row in latest],
            "latest_steps": [row[2] for row in latest],
            "latest_stamps": [row[3] for row in latest],
        }
        return bool(connection.exec_driver_sql(_NEW_RUN_POSTGRES, {**values, **arrays}).scalar())
    run_id = run["id"]
    inserted = connection.exec_driver_sql(
        _NEW_RUN_SQLITE, (*(values[c] for c in _NEW_RUN_COLUMNS), run["experiment_id"])
    )
    if inserted.rowcount == 0:
        return False
    for statement, rows in (
        (_INSERT_PARAM, [(run_id, key, value) for key, value in params.items()]),
        (_INSERT_TAG, [(run_id, key, value) for key, value in tags.items()]),
        (_INSERT_CHUNK, [(run_id, key, _pack(points)) for key, points in series.items()]),
        (_INSERT_LATEST, [(run_id, *row) for row in latest]),
    ):
        if rows:
            connection.exec_driver_sql(statement, rows)
    return True


def get_run(session: Session, run_id: str) -> Run | None:
    return session.get(Run, run_id)


def run_lifecycle(session: Session, run_id: str) -> str | None:
    return session.scalar(select(Run.lifecycle_stage).where(Run.id == run_id))


def run_data(
    session: Session, run_ids: Sequence[str]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Params, latest metric values and tags of many runs, in three queries."""
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
    metrics: dict[str, dict[str, float]] = {run_id: {} for run_id in run_ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return params, metrics, tags
    ids = list(run_ids)
    for run_id, key, value in session.execute(
        select(Param.run_id, Param.key, Param.value).where(Param.run_id.in_(ids))
    ):
        params[run_id][key] = value
    for run_id, key, fvalue in session.execute(
        select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value).where(LatestMetric.run_id.in_(ids))
    ):
        metrics[run_id][key] = math.nan if fvalue is None else fvalue
    for run_id, key, value in session.execute(
        select(RunTag.run_id, RunTag.key, RunTag.value).where(RunTag.run_id.in_(ids))
    ):
        tags[run_id][key] = value
    return params, metrics, tags


# ---- logging -----------------------------------------------------------------------------------


def _upsert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


# A chunk's points: little-endian (step int64, value float64, timestamp int64) records.
_POINT = struct.Struct("<qdq")
_CHUNK = cast(Table, MetricChunk.__table__)

_LATEST_COLUMNS = "(run_id, key, value, step, timestamp)"
# Keep, per run and key, the point with the highest (step, timestamp); the last write wins a tie.
_NEWER = (
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step > latest_metric.step "
    "OR (excluded.step = latest_metric.step AND excluded.timestamp >= latest_metric.timestamp)"
)
_UPSERT_LATEST = {
    # Postgres takes the rows as five arrays in one statement, sent in binary (%b).
    "postgresql": f"INSERT INTO latest_metric {_LATEST_COLUMNS} SELECT * FROM unnest("
    f"%b::varchar[], %b::varchar[], %b::float8[], %b::bigint[], %b::bigint[]) {_NEWER}",
    "sqlite": f"INSERT INTO latest_metric {_LATEST_COLUMNS} VALUES (?, ?, ?, ?, ?) {_NEWER}",
}


def insert_metric_points(session: Session, run_id: str, series: dict[str, list[Point]]) -> None:
    """A batch's points, listed per key as logged: one packed chunk per key, and each key's
    latest value moved forward where the batch's newest point is newer."""
    for points in series.values():
        points.sort(key=_step_then_time)  # stable: of equal points, the one logged later ends last
    session.connection().execute(
        _CHUNK.insert(), [{"run_id": run_id, "key": key, "points": _pack(points)} for key, points in series.items()]
    )
    _upsert_latest(session, [(run_id, key, *_value_first(series[key][-1])) for key in sorted(series)])


def _pack(points: list[Point]) -> bytes:
    return struct.pack("<" + "qdq" * len(points), *chain.from_iterable(points))


def _value_first(point: Point) -> tuple[float | None, int, int]:
    # A NaN latest value is stored as NULL: SQLite can store no NaN (it binds one as NULL), and
    # Postgres's NaN equals itself and sorts above every number; NULL compares false on both.
    step, value, stamp = point
    return (None if math.isnan(value) else value), step, stamp


def _upsert_latest(session: Session, rows: list[tuple[str, str, float | None, int, int]]) -> None:
    """(run_id, key, value, step, timestamp) rows sorted by key, so that concurrent batches lock
    rows in the same order. On the driver directly: this runs on every log-batch, and
    SQLAlchemy's upsert compiler cost more than the statement."""
    connection = session.connection()
    statement = _UPSERT_LATEST[connection.dialect.name]
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(statement, tuple(map(list, zip(*rows, strict=True))))
    else:
        connection.exec_driver_sql(statement, rows)


def insert_params_keep_existing(session: Session, run_id: str, params: dict[str, str]) -> dict[str, str]:
    """Insert params not yet logged and return the stored value of every given key."""
    statement = _upsert(session, Param.__table__).on_conflict_do_nothing(index_elements=["run_id", "key"])
    session.connection().execute(
        statement, [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(params.items())]
    )
    stored = session.execute(select(Param.key, Param.value).where(Param.run_id == run_id, Param.key.in_(list(params))))
    return {key: value for key, value in stored}


def insert_params(session: Session, run_id: str, params: dict[str, str]) -> None:
    """Params of a run that has none yet (a key logged twice is an IntegrityError)."""
    session.connection().execute(
        insert(Param), [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(params.items())]
    )


def upsert_tags(session: Session, run_id: str, tags: dict[str, str]) -> None:
    statement = _upsert(session, RunTag.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["run_id", "key"], set_={"value": statement.excluded.value}
    )
    session.connection().execute(statement, [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(tags.items())])


def metric_history(session: Session, run_id: str, key: str) -> list[Point]:
    """Every point of a metric, ordered by (step, timestamp); ties keep the order they were logged."""
    chunks = session.connection().execute(
        select(_CHUNK.c.points).where(_CHUNK.c.run_id == run_id, _CHUNK.c.key == key).order_by(_CHUNK.c.id)
    )
    points: list[Point] = []
    in_order = True
    for packed in chunks.scalars():
        chunk = list(_POINT.iter_unpack(packed))
        # Chunks are sorted inside; they only need a sort together when one starts before the last ended.
        if in_order and points and _step_then_time(chunk[0]) < _step_then_time(points[-1]):
            in_order = False
        points.extend(chunk)
    if not in_order:
        points.sort(key=_step_then_time)  # stable: ties keep their logged order
    return points


def _step_then_time(point: Point) -> tuple[int, int]:
    return point[0], point[2]


# ---- search ------------------------------------------------------------------------------------

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "status": Run.status,
    "name": Run.name,
    "user": Run.username,
    "id": Run.id,
    "parent_run_id": Run.parent_run_id,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "experiment_id": Run.experiment_id,
}


def _compare(column: Any, comparator: str, value: Any) -> ColumnElement[bool]:
    match comparator:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "LIKE":
            return column.like(value)
        case "ILIKE":
            return column.ilike(value)
        case "IN":
            return column.in_(list(value))
        case "NOT IN":
            return column.not_in(list(value))
    raise ValueError(comparator)


def _condition(condition: Condition) -> ColumnElement[bool]:
    if condition.entity == "attributes":
        column = _ATTRIBUTE_COLUMNS[condition.key]
        value = condition.value
        if condition.key in ("start_time", "end_time", "experiment_id"):
            value = tuple(int(v) for v in value) if isinstance(value, tuple) else int(value)
        return _compare(column, condition.comparator, value)
    table: Any = {"metrics": LatestMetric, "params": Param, "tags": RunTag}[condition.entity]
    matches = _compare(table.value, condition.comparator, condition.value)
    if condition.entity == "metrics" and condition.comparator == "!=":
        # As in IEEE 754 (and Python), NaN (stored as NULL) differs from every number.
        matches = or_(matches, table.value.is_(None))
    return exists().where(table.run_id == Run.id, table.key == condition.key, matches)


def search_runs(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    conditions: Sequence[Condition],
    order_by: Sequence[OrderBy],
    lifecycle_stage: str | None,
    offset: int,
    limit: int,
) -> Sequence[Run]:
    query = select(Run)
    if experiment_ids:
        query = query.where(Run.experiment_id.in_(list(experiment_ids)))
    if lifecycle_stage is not None:
        query = query.where(Run.lifecycle_stage == lifecycle_stage)
    for condition in conditions:
        query = query.where(_condition(condition))
    ordering: list[Any] = []
    for index, order in enumerate(order_by):
        if order.entity == "attributes":
            column = _ATTRIBUTE_COLUMNS[order.key]
        else:
            table: Any = aliased(
                {"metrics": LatestMetric, "params": Param, "tags": RunTag}[order.entity], name=f"o{index}"
            )
            query = query.outerjoin(table, and_(table.run_id == Run.id, table.key == order.key))
            column = table.value
            if order.entity == "metrics":
                # A NaN value (NULL with its row present) sorts after every number, before a run
                # without the metric, in either direction, as MLflow orders them.
                ordering.append(case((table.key.is_(None), 2), (column.is_(None), 1), else_=0))
        # Runs without the key sort last in either direction.
        ordering.append(column.is_(None))
        ordering.append(column.asc() if order.ascending else column.desc())
    ordering += [Run.start_time.desc(), Run.id]
    return session.scalars(query.order_by(*ordering).offset(offset).limit(limit)).unique().all()
