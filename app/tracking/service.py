"""Tracking use cases: experiments, runs, batched logging, metric history and run search."""

import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.session import json_for_column
from app.db.tables import Experiment, Run
from app.errors import (
    ExperimentNotFound,
    InvalidInput,
    InvalidState,
    LimitExceeded,
    MetricNotFound,
    ParamConflict,
    RunNotFound,
)
from app.pagination import decode_page_token, int_from_cursor, take_page
from app.tracking import repository
from app.tracking.schemas import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    ExperimentCreate,
    ExperimentUpdate,
    LogBatch,
    MetricIn,
    RunCreate,
    RunRead,
    RunSearch,
    RunSource,
    RunStatus,
    RunUpdate,
    float_or_name,
)
from app.tracking.search import parse_filter, parse_order_by

TERMINAL_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})


def now_millis() -> int:
    return int(time.time() * 1000)


def metrics_for_json(metrics: dict[str, float]) -> dict[str, float | str]:
    """Metric values as a JSON column can hold them on every database: Postgres' json refuses a
    bare NaN token, so NaN and ±Infinity are kept as the strings the API uses for them."""
    return {key: float_or_name(value) for key, value in metrics.items()}


# ---- experiments -------------------------------------------------------------------------------


def create_experiment(session: Session, actor: Principal, data: ExperimentCreate) -> Experiment:
    experiment = repository.add_experiment(
        session, Experiment(name=data.name, description=data.description, tags=dict(data.tags))
    )
    audit.record(session, actor, "experiment.create", "experiment", experiment.id, {"name": data.name})
    return experiment


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment = repository.get_experiment(session, experiment_id)
    if experiment is None:
        raise ExperimentNotFound(f"no experiment with id {experiment_id}")
    return experiment


def list_experiments(
    session: Session, *, name: str | None, lifecycle_stage: str, page_token: str | None, max_results: int
) -> tuple[Sequence[Experiment], str | None]:
    after_id = int_from_cursor(decode_page_token(page_token), "after_id")
    experiments = repository.list_experiments(
        session,
        name=name,
        lifecycle_stage=None if lifecycle_stage == "all" else lifecycle_stage,
        after_id=after_id,
        limit=max_results + 1,
    )
    return take_page(experiments, max_results, lambda e: {"after_id": e.id})


def update_experiment(session: Session, actor: Principal, experiment_id: int, data: ExperimentUpdate) -> Experiment:
    experiment = get_experiment(session, experiment_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    for field, value in changes.items():
        setattr(experiment, field, value)
    if changes:
        experiment.updated_at = utcnow()
        repository.flush_experiment(session, experiment.name)
    audit.record(session, actor, "experiment.update", "experiment", experiment_id, changes)
    return experiment


def archive_experiment(session: Session, actor: Principal, experiment_id: int) -> None:
    experiment = get_experiment(session, experiment_id)
    experiment.lifecycle_stage = "archived"
    experiment.updated_at = utcnow()
    audit.record(session, actor, "experiment.archive", "experiment", experiment_id)


# ---- runs --------------------------------------------------------------------------------------

_ADJECTIVES = ("brave", "calm", "eager", "fair", "gentle", "keen", "lucid", "merry", "noble", "quick", "swift", "witty")
_NOUNS = ("otter", "heron", "lynx", "falcon", "badger", "marlin", "panda", "raven", "tiger", "walrus", "yak", "zebra")


def _run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"


def create_run(session: Session, actor: Principal, experiment_id: int, data: RunCreate) -> RunRead:
    return _create_run(session, actor, experiment_id, data, uuid.uuid4().hex)


def _create_run(session: Session, actor: Principal, experiment_id: int, data: RunCreate, run_id: str) -> RunRead:
    _check_limit("metrics", data.metrics, MAX_BATCH_METRICS)
    if data.parent_run_id is not None:
        _check_experiment_active(session, experiment_id)
        if repository.run_lifecycle(session, data.parent_run_id) is None:
            raise RunNotFound(f"no parent run with id {data.parent_run_id}")
    run = {
        "id": run_id,
        "experiment_id": experiment_id,
        "name": data.name or _run_name(),
        "status": RunStatus.RUNNING.value,
        "start_time": data.start_time or now_millis(),
        "user_id": actor.user_id,
        "username": actor.username,
        "parent_run_id": data.parent_run_id,
        "source_git_commit": data.source.git_commit,
        "source_entry_point": data.source.entry_point,
        "environment": None if data.environment is None else json_for_column(data.environment),
        "lifecycle_stage": "active",
        "created_at": utcnow(),
    }
    params, tags = dict(data.params), dict(data.tags)
    series = _series(data.metrics)
    if not repository.insert_new_run(session, run, params, tags, series):
        # Nothing was written: say why.
        _check_experiment_active(session, experiment_id)
        raise InvalidState(f"experiment {experiment_id} is archived; restore it before adding runs")
    audit.record(
        session,
        actor,
        "run.create",
        "run",
        run_id,
        {
            "experiment_id": experiment_id,
            "params": len(data.params),
            "metrics": len(data.metrics),
            "tags": len(data.tags),
        },
    )
    # Each key's points are sorted by (step, timestamp): the last one is the latest value.
    latest = {key: points[-1][1] for key, points in series.items()}
    return RunRead(
        id=run_id,
        experiment_id=experiment_id,
        name=run["name"],
        status=RunStatus.RUNNING,
        start_time=run["start_time"],
        end_time=None,
        user=actor.username,
        parent_run_id=data.parent_run_id,
        source=RunSource(git_commit=data.source.git_commit, entry_point=data.source.entry_point),
        environment=data.environment,
        lifecycle_stage="active",
        params=params,
        metrics=latest,
        tags=tags,
    )


def _check_experiment_active(session: Session, experiment_id: int) -> None:
    stage = repository.experiment_lifecycle(session, experiment_id)
    if stage is None:
        raise ExperimentNotFound(f"no experiment with id {experiment_id}")
    if stage != "active":
        raise InvalidState(f"experiment {experiment_id} is archived; restore it before adding runs")


def ensure_run(session: Session, actor: Principal, experiment_name: str, run_id: str, data: RunCreate) -> RunRead:
    """The run with this id, created in the named experiment (made if missing) the first time:
    a retried job finds the run its earlier attempt made instead of adding another."""
    if repository.get_run(session, run_id) is not None:
        return get_run(session, run_id)
    found = repository.list_experiments(session, name=experiment_name, lifecycle_stage=None, after_id=None, limit=1)
    experiment = found[0] if found else create_experiment(session, actor, ExperimentCreate(name=experiment_name))
    return _create_run(session, actor, experiment.id, data, run_id)


def _get_run_row(session: Session, run_id: str) -> Run:
    run = repository.get_run(session, run_id)
    if run is None:
        raise RunNotFound(f"no run with id {run_id}")
    return run


def get_run(session: Session, run_id: str) -> RunRead:
    run = _get_run_row(session, run_id)
    params, metrics, tags = repository.run_data(session, [run.id])
    return _read(run, params[run.id], metrics[run.id], tags[run.id])


def find_run_status(session: Session, run_id: str) -> str | None:
    run = repository.get_run(session, run_id)
    return run.status if run is not None else None


def ensure_run_exists(session: Session, run_id: str) -> None:
    if repository.run_lifecycle(session, run_id) is None:
        raise RunNotFound(f"no run with id {run_id}")


def update_run(session: Session, actor: Principal, run_id: str, data: RunUpdate) -> RunRead:
    run = _get_run_row(session, run_id)
    if data.name is not None:
        run.name = data.name
    if data.status is not None:
        run.status = data.status.value
        if data.status in TERMINAL_STATUSES:
            run.end_time = data.end_time or run.end_time or now_millis()
        else:
            run.end_time = None
    elif data.end_time is not None:
        run.end_time = data.end_time
    if run.end_time is not None and run.end_time < run.start_time:
        raise InvalidInput("end_time is before the run's start_time", field="end_time")
    session.flush()
    audit.record(session, actor, "run.update", "run", run_id, data.model_dump(exclude_unset=True, mode="json"))
    return get_run(session, run_id)


def log_batch(session: Session, actor: Principal, run_id: str, batch: LogBatch) -> None:
    """Metrics, params and tags in one transaction: all of the batch lands, or none of it."""
    for name, items, limit in (
        ("metrics", batch.metrics, MAX_BATCH_METRICS),
        ("params", batch.params, MAX_BATCH_PARAMS),
        ("tags", batch.tags, MAX_BATCH_TAGS),
    ):
        _check_limit(name, items, limit)
    stage = repository.run_lifecycle(session, run_id)
    if stage is None:
        raise RunNotFound(f"no run with id {run_id}")
    if stage != "active":
        raise InvalidState(f"run {run_id} is deleted")
    if batch.params:
        _log_params(session, run_id, batch.params)
    if batch.metrics:
        _log_metrics(session, run_id, batch.metrics)
    if batch.tags:
        repository.upsert_tags(session, run_id, {t.key: t.value for t in batch.tags})
    audit.record(
        session,
        actor,
        "run.log_batch",
        "run",
        run_id,
        {"metrics": len(batch.metrics), "params": len(batch.params), "tags": len(batch.tags)},
    )


def _log_params(session: Session, run_id: str, params: Sequence[Any]) -> None:
    wanted: dict[str, str] = {}
    for param in params:
        if wanted.setdefault(param.key, param.value) != param.value:
            raise ParamConflict(f"param {param.key!r} appears twice in the batch with different values", key=param.key)
    stored = repository.insert_params_keep_existing(session, run_id, wanted)
    for key, value in wanted.items():
        if stored.get(key) != value:
            raise ParamConflict(
                f"param {key!r} is already {stored.get(key)!r} on this run; params cannot change (got {value!r})",
                key=key,
            )


def _check_limit(name: str, items: Sequence[Any], limit: int) -> None:
    if len(items) > limit:
        raise LimitExceeded(f"a batch takes at most {limit} {name}; this one has {len(items)}", field=name, limit=limit)


def _log_metrics(session: Session, run_id: str, metrics: Sequence[MetricIn]) -> None:
    repository.insert_metric_points(session, run_id, _series(metrics))


def _series(metrics: Sequence[MetricIn]) -> dict[str, list[tuple[int, float, int]]]:
    """The points per key, as logged (the repository sorts each key's by step and timestamp)."""
    default_ts = now_millis()
    series: dict[str, list[tuple[int, float, int]]] = {}
    for metric in metrics:
        stamp = default_ts if metric.timestamp is None else metric.timestamp
        series.setdefault(metric.key, []).append((metric.step, metric.value, stamp))
    return series


def metric_history(
    session: Session, run_id: str, key: str, max_points: int | None
) -> tuple[Sequence[tuple[int, float, int]], bool]:
    """(step, value, timestamp) points ordered by step, thinned to max_points when given."""
    points = repository.metric_history(session, run_id, key)
    if not points:
        ensure_run_exists(session, run_id)
        raise MetricNotFound(f"run {run_id} has no metric {key!r}")
    if max_points is not None and len(points) > max_points:
        return _downsample(points, max_points), True
    return points, False


def _downsample(points: Sequence[tuple[int, float, int]], max_points: int) -> list[tuple[int, float, int]]:
    """Evenly spaced points that always keep the first and the last."""
    if max_points == 1:
        return [points[-1]]
    last = len(points) - 1
    indexes = sorted({round(i * last / (max_points - 1)) for i in range(max_points)})
    return [points[i] for i in indexes]


def search_runs(session: Session, query: RunSearch) -> tuple[list[RunRead], str | None]:
    conditions = parse_filter(query.filter)
    order_by = parse_order_by(query.order_by)
    offset = int_from_cursor(decode_page_token(query.page_token), "offset") or 0
    runs = repository.search_runs(
        session,
        experiment_ids=query.experiment_ids,
        conditions=conditions,
        order_by=order_by,
        lifecycle_stage=None if query.lifecycle_stage == "all" else query.lifecycle_stage,
        offset=offset,
        limit=query.max_results + 1,
    )
    runs, next_token = take_page(runs, query.max_results, lambda _: {"offset": offset + query.max_results})
    params, metrics, tags = repository.run_data(session, [run.id for run in runs])
    return [_read(run, params[run.id], metrics[run.id], tags[run.id]) for run in runs], next_token


def _read(run: Run, params: dict[str, str], metrics: dict[str, float], tags: dict[str, str]) -> RunRead:
    return RunRead(
        id=run.id,
        experiment_id=run.experiment_id,
        name=run.name,
        status=RunStatus(run.status),
        start_time=run.start_time,
        end_time=run.end_time,
        user=run.username,
        parent_run_id=run.parent_run_id,
        source=RunSource(git_commit=run.source_git_commit, entry_point=run.source_entry_point),
        environment=run.environment,
        lifecycle_stage=run.lifecycle_stage,
        params=params,
        metrics=metrics,
        tags=tags,
    )
