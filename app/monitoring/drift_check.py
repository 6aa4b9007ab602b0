"""The drift_check job: a deployment's logged inputs and predictions over a window (the last N
hours or the last N predictions) against a reference dataset version (by default the one the
served version was trained on), read segment by segment into bounded collectors; with feedback,
each version's live metric over the window and its curve. The report is stored with the job's
completion, in one transaction, and the job's result names it for whatever acts on it next."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app import validation
from app.audit import service as audit
from app.context import Principal
from app.datasets import service as datasets
from app.db.base import utcnow
from app.db.tables import DatasetVersion, Deployment, ModelVersion
from app.deployments import service as deployments
from app.deployments.schemas import RouteMode
from app.errors import AppError, DatasetNotFound, DeploymentNotFound, InvalidInput, InvalidSpec, InvalidState
from app.jobs.context import JobContext
from app.jobs.runner import JobRuntime, succeed
from app.ml import performance
from app.ml.drift import TEST_SPECS, ColumnCollector, DatasetDrift, DriftOptions, DriftOptionsError, dataset_drift
from app.monitoring import actions, service
from app.monitoring.schemas import DriftCheckSpec, DriftOptionsSpec, PerformanceSpec
from app.predictions import service as predictions
from app.predictions.segments import INPUT_PREFIX, from_micros, micros
from app.registry import service as registry
from app.serving.loading import LoadedModel, load_version
from app.serving.payload import Batch, Column

# Rows turned into a DataFrame at once, from a segment or the reference file.
BATCH_ROWS = 65_536
PREDICTION = "prediction"
_CATEGORICAL_TYPES = frozenset({"string", "boolean"})


# ---- the spec, checked at submit ---------------------------------------------------------------


def check_spec(
    session: Session, actor: Principal, job_type: str, spec: dict[str, Any], *, protected_aliases: Sequence[str]
) -> dict[str, Any]:
    """The spec against what exists now; returned with the reference resolved to `name@N`, so
    every attempt of the job compares against the same version. InvalidSpec (400) names what is wrong."""
    try:
        parsed = DriftCheckSpec.model_validate(spec)
    except ValidationError as exc:
        raise _fields_error(exc) from exc
    deployment = _deployment(session, parsed.deployment)
    try:
        primary = _primary(session, deployment)
    except InvalidState as exc:
        raise InvalidSpec(exc.detail, field="deployment") from exc
    inputs = _inputs(primary.version)
    reference, version = _reference(session, parsed, primary.model.name, primary.version)
    present = {str(column["name"]) for column in version.schema}
    if not any(name in present for name in inputs):
        raise InvalidSpec(
            f"reference {reference} has none of the inputs of deployment {deployment.name!r} ({', '.join(inputs)})",
            field="reference",
        )
    _options(parsed.options, categorical=(), known=inputs)
    if parsed.performance is not None:
        _metric(parsed.performance, _task(primary.version))
    normalised = parsed.model_dump(mode="json", exclude_none=True)
    normalised["reference"] = reference
    return normalised


def _fields_error(exc: ValidationError) -> InvalidSpec:
    errors = exc.errors(include_url=False)
    sentences = [
        validation.sentence(
            error,
            allowed=validation.fields_at(DriftCheckSpec, error["loc"][:-1])
            if error["type"] == "extra_forbidden"
            else None,
        )
        for error in errors
    ]
    listed = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
    where = ".".join(str(part) for part in errors[0]["loc"]) if errors else None
    return InvalidSpec(validation.detail(sentences), **({"field": where} if where else {}), errors=listed)


def _deployment(session: Session, name: str) -> Deployment:
    try:
        return deployments.get(session, name)
    except DeploymentNotFound as exc:
        raise InvalidSpec(exc.detail, field="deployment") from exc


def _primary(session: Session, deployment: Deployment) -> deployments.Target:
    """The version taking the most primary traffic: whose lineage gives the default reference,
    and whose predictions on the reference the logged predictions are compared with."""
    targets = [t for t in deployments.current_targets(session, deployment) if t.mode == RouteMode.PRIMARY]
    if not targets:
        raise InvalidState(f"deployment {deployment.name!r} routes no traffic to a primary version")
    return max(targets, key=lambda t: t.weight)


def _inputs(version: ModelVersion) -> dict[str, str]:
    """The version's input columns and their signature types, in signature order."""
    signature = (version.manifest or {}).get("signature") or {}
    return {str(c["name"]): str(c.get("type", "")) for c in signature.get("inputs") or []}


def _task(version: ModelVersion) -> str | None:
    """The manifest's task; else a model that answers floats is a regressor, one that answers
    labels a classifier; None without a signature."""
    manifest = version.manifest or {}
    task = manifest.get("task")
    if task in ("classification", "regression"):
        return str(task)
    outputs = (manifest.get("signature") or {}).get("outputs") or []
    if not outputs:
        return None
    return "regression" if outputs[0].get("type") in ("double", "float") else "classification"


def _reference(session: Session, spec: DriftCheckSpec, model: str, version: ModelVersion) -> tuple[str, DatasetVersion]:
    if spec.reference is not None:
        try:
            dataset, found = datasets.resolve(session, spec.reference)
        except (DatasetNotFound, InvalidInput) as exc:
            raise InvalidSpec(exc.detail, field="reference") from exc
        return f"{dataset.name}@{found.version}", found
    lineage = registry.lineage(session, model, str(version.version))
    used = sorted(lineage.datasets, key=lambda d: d.context != "training")
    if not used:
        raise InvalidSpec(
            f"version {version.version} of {model!r} has no dataset in its lineage to compare with; "
            "give `reference` (name@N)",
            field="reference",
        )
    ref = f"{used[0].name}@{used[0].version}"
    try:
        dataset, found = datasets.resolve(session, ref)
    except DatasetNotFound as exc:
        raise InvalidSpec(f"{exc.detail}; give another `reference`", field="reference") from exc
    return f"{dataset.name}@{found.version}", found


def _options(spec: DriftOptionsSpec, *, categorical: Sequence[str], known: Mapping[str, str]) -> DriftOptions:
    """DriftOptions for columns of these signature types; a test or threshold for a column that
    is not an input, or a test of numbers for a column of text, is an InvalidSpec."""
    for where, columns in (("column_tests", spec.column_tests), ("column_thresholds", spec.column_thresholds)):
        unknown = sorted(set(columns) - set(known))
        if unknown:
            raise InvalidSpec(
                f"options.{where} names {', '.join(map(repr, unknown))}, not an input of the deployment "
                f"({', '.join(known)})",
                field=f"options.{where}",
            )
    for column, test in spec.column_tests.items():
        chosen = TEST_SPECS.get(test)
        if chosen is not None and known[column] in _CATEGORICAL_TYPES and "categorical" not in chosen.kinds:
            raise InvalidSpec(
                f"test {test!r} applies to numerical columns only, and column {column!r} is {known[column]}",
                field=f"options.column_tests.{column}",
            )
    try:
        return DriftOptions(
            preset=spec.preset,
            drift_share=spec.drift_share,
            column_tests=dict(spec.column_tests),
            column_thresholds=dict(spec.column_thresholds),
            categorical=frozenset(categorical),
        )
    except DriftOptionsError as exc:
        where = f"options.{exc.field}" if exc.field else "options"
        raise InvalidSpec(str(exc), field=where, **exc.extra) from exc


def _metric(spec: PerformanceSpec, task: str | None) -> str | None:
    """The metric judged: the spec's, else the task's default (None: decided by the predictions)."""
    if spec.metric is None:
        return None if task is None else performance.default_metric(task)
    if task is not None and performance.task_of(spec.metric) != task:
        raise InvalidSpec(
            f"performance.metric {spec.metric} is a {performance.task_of(spec.metric)} metric; the deployed "
            f"model is a {task} model ({', '.join(_metrics_of(task))})",
            field="performance.metric",
        )
    return spec.metric


def _metrics_of(task: str) -> tuple[str, ...]:
    return performance.REGRESSION_METRICS if task == "regression" else performance.CLASSIFICATION_METRICS


# ---- the job -----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the job read from the database before it reads any file."""

    deployment_id: int
    deployment: str
    window: predictions.LogWindow
    start: datetime
    end: datetime
    reference: str
    reference_version: DatasetVersion
    reference_columns: list[str]
    window_hours: float | None
    # Input columns of the versions in the window (and the primary), with their signature types.
    inputs: dict[str, str]
    primary_model: str
    primary_version: int
    primary_prefix: str
    primary_inputs: dict[str, str]
    target: str | None
    task: str | None
    feedback: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Labelled:
    """The predictions of one version that have feedback, gathered while reading."""

    times: list[np.ndarray] = field(default_factory=list)
    predicted: list[Any] = field(default_factory=list)
    actual: list[Any] = field(default_factory=list)


@dataclass
class _Window:
    """What reading the window gathered: its inputs and predictions (bounded collectors), the
    rows of each version, the first and last prediction times, and the labelled predictions."""

    inputs: ColumnCollector
    predictions: ColumnCollector | None = None
    prediction_type: pa.DataType | None = None
    rows: int = 0
    rows_by_version: dict[tuple[str, int], int] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None
    labelled: dict[tuple[str, int], _Labelled] = field(default_factory=dict)


def run(runtime: JobRuntime, ctx: JobContext) -> None:
    spec = DriftCheckSpec.model_validate(ctx.spec)
    ctx.progress(0.02, f"finding the logged predictions of {spec.deployment}")
    with runtime.sessions.begin(write=False) as session:
        plan = _plan(session, runtime, spec)
    if not plan.window.segments:
        raise InvalidState(_no_rows(plan, spec))
    categorical = [name for name, kind in plan.inputs.items() if kind in _CATEGORICAL_TYPES]
    options = _options(spec.options, categorical=categorical, known=plan.inputs)
    ctx.progress(0.05, f"reading the reference {plan.reference}")
    reference = _read_reference(runtime, plan, categorical)
    window = _read_window(runtime, ctx, plan, categorical)
    if window.rows == 0:
        raise InvalidState(_no_rows(plan, spec))
    ctx.progress(0.88, "computing the drift of each column")
    drift = dataset_drift(reference.inputs, window.inputs, options)
    prediction = _prediction_drift(reference, window, spec.options)
    judged = _performance(plan, spec.performance, window)
    start, end = _window_span(plan, window)
    body = _body(plan, spec, drift, prediction, judged, reference.inputs.rows, window)
    ctx.progress(0.97, "storing the drift report")
    with runtime.sessions.begin() as session:
        report = service.store_report(
            session,
            deployment_id=plan.deployment_id,
            job_id=ctx.job_id,
            created_by=ctx.actor.username,
            window_start=start,
            window_end=end,
            body=body,
        )
        audit.record(
            session,
            ctx.actor,
            "drift_report.create",
            "deployment",
            plan.deployment,
            {"report_id": report.id, "job_id": ctx.job_id},
        )
        report_id = report.id
    # The monitor acts on the stored report before the job completes: a retried attempt finds
    # the report, and the actions already taken recorded against it, and takes only the rest.
    taken = actions.carry_out(runtime, ctx, report_id)
    with runtime.sessions.begin() as session:
        succeed(runtime, session, ctx, {**_result(report_id, body), "actions": taken})


def _read_window(runtime: JobRuntime, ctx: JobContext, plan: _Plan, categorical: Sequence[str]) -> _Window:
    """Every input the window's versions take (one the reference lacks is reported as such), the
    predictions, and those with feedback, one segment at a time."""
    names = list(plan.inputs)
    wanted = [INPUT_PREFIX + name for name in names] + ["prediction_id", "predicted_at", PREDICTION]
    gathered = _Window(inputs=ColumnCollector(categorical=categorical))
    known_ids = pa.array(list(plan.feedback), type=pa.string()) if plan.feedback else None
    expected = plan.window.max_rows
    for segment, table in predictions.read_window(runtime.store, plan.window, wanted):
        if table.num_rows:
            _gather(gathered, (segment.model, segment.version), table, names)
            if known_ids is not None:
                labelled = gathered.labelled.setdefault((segment.model, segment.version), _Labelled())
                _gather_labelled(table, known_ids, plan.feedback, labelled)
        del table
        # Arrow's allocator keeps freed segments for reuse; what the collectors hold is all that must stay.
        pa.default_memory_pool().release_unused()
        ctx.progress(
            0.3 + 0.55 * min(gathered.rows / max(expected, 1), 1.0),
            f"read {gathered.rows:,} of about {expected:,} logged rows",
        )
    return gathered


def _gather(gathered: _Window, version: tuple[str, int], table: pa.Table, names: Sequence[str]) -> None:
    gathered.rows += table.num_rows
    gathered.rows_by_version[version] = gathered.rows_by_version.get(version, 0) + table.num_rows
    first, last = pc.min(table["predicted_at"]).as_py(), pc.max(table["predicted_at"]).as_py()
    gathered.first_at = first if gathered.first_at is None else min(first, gathered.first_at)
    gathered.last_at = last if gathered.last_at is None else max(last, gathered.last_at)
    answers = table[PREDICTION]
    if gathered.predictions is None and not pa.types.is_null(answers.type):
        gathered.prediction_type = answers.type
        gathered.predictions = ColumnCollector(categorical=_prediction_categorical(answers.type))
    inputs = table.select([INPUT_PREFIX + name for name in names]).rename_columns(list(names))
    for batch in inputs.to_batches(max_chunksize=BATCH_ROWS):
        gathered.inputs.add(batch.to_pandas())
    if gathered.predictions is not None:
        for batch in table.select([PREDICTION]).to_batches(max_chunksize=BATCH_ROWS):
            gathered.predictions.add(batch.to_pandas())


def _no_rows(plan: _Plan, spec: DriftCheckSpec) -> str:
    what = f"in the last {spec.window.hours:g} h" if spec.window.hours is not None else "at all"
    return (
        f"deployment {plan.deployment!r} has no logged predictions {what}: nothing to compare with "
        f"{plan.reference} (rows still in a server's buffer are written every SHIPYARD_PREDICTION_LOG_FLUSH_SECONDS)"
    )


def _plan(session: Session, runtime: JobRuntime, spec: DriftCheckSpec) -> _Plan:
    deployment = deployments.get(session, spec.deployment)
    primary = _primary(session, deployment)
    reference, reference_version = _reference(session, spec, primary.model.name, primary.version)
    end = utcnow()
    if spec.window.hours is not None:
        start = end - timedelta(hours=spec.window.hours)
        window = predictions.plan_window(session, runtime.store, deployment.name, since=start, until=end)
    else:
        window = predictions.plan_window(session, runtime.store, deployment.name, last=spec.window.predictions)
        start = window.since or min((s.first_at for s in window.segments), default=end)
    inputs = dict(_inputs(primary.version))
    for version_id in dict.fromkeys(s.model_version_id for s in window.segments):
        found = registry.version_by_id(session, version_id)
        if found is not None:
            for name, kind in _inputs(found).items():
                inputs.setdefault(name, kind)
    manifest = primary.version.manifest or {}
    return _Plan(
        deployment_id=deployment.id,
        deployment=deployment.name,
        window=window,
        start=start,
        end=end,
        reference=reference,
        reference_version=reference_version,
        reference_columns=[str(c["name"]) for c in reference_version.schema],
        window_hours=spec.window.hours,
        inputs=inputs,
        primary_model=primary.model.name,
        primary_version=primary.version.version,
        primary_prefix=primary.version.storage_prefix,
        primary_inputs=_inputs(primary.version),
        target=manifest.get("target"),
        task=_task(primary.version),
        feedback=predictions.feedback_since(session, deployment.id, start),
    )


# ---- the reference side ------------------------------------------------------------------------


@dataclass
class _Reference:
    """The reference's inputs, and the reference side of the prediction drift: the primary
    version's own predictions on the reference rows, else (when it cannot predict them) the
    reference's target column, else none; `source` says which, and why not the model."""

    inputs: ColumnCollector
    predictions: ColumnCollector | None = None
    source: dict[str, Any] = field(default_factory=dict)


def _read_reference(runtime: JobRuntime, plan: _Plan, categorical: Sequence[str]) -> _Reference:
    """One pass over the reference file, batch by batch."""
    common = [name for name in plan.inputs if name in plan.reference_columns]
    model, why_not = _reference_model(runtime, plan)
    target = plan.target if plan.target is not None and plan.target in plan.reference_columns else None
    wanted = list(dict.fromkeys([*common, *(plan.primary_inputs if model else ()), *([target] if target else [])]))
    read = _Reference(inputs=ColumnCollector(categorical=categorical))
    answers: ColumnCollector | None = None
    targets: ColumnCollector | None = None
    for frame in datasets.read_batches(runtime.store, plan.reference_version, wanted, BATCH_ROWS):
        read.inputs.add(frame[common])
        if model is not None:
            try:
                answered = _predict(model, frame)
            except (AppError, ValueError, TypeError) as exc:
                # Rows the version cannot take (a missing value in a long column): the target instead.
                detail = exc.detail if isinstance(exc, AppError) else str(exc)
                why_not = (
                    f"version {plan.primary_version} of {plan.primary_model!r} cannot predict the reference: {detail}"
                )
                model, answers = None, None
            else:
                if answers is None:
                    answers = ColumnCollector(categorical=_prediction_categorical(pa.array(answered.tolist()).type))
                answers.add(pd.DataFrame({PREDICTION: answered}))
        if target is not None:
            if targets is None:
                targets = ColumnCollector(categorical=() if _is_float(frame[target]) else (PREDICTION,))
            targets.add(frame[[target]].set_axis([PREDICTION], axis=1))
    if answers is not None:
        read.predictions = answers
        read.source = {"source": "model", "model": plan.primary_model, "version": plan.primary_version}
    elif targets is not None:
        read.predictions = targets
        read.source = {"source": "target", "column": target, "reason": why_not}
    else:
        read.source = {"source": None, "reason": why_not or "the reference has no target column"}
    return read


def _reference_model(runtime: JobRuntime, plan: _Plan) -> tuple[LoadedModel | None, str]:
    missing = [name for name in plan.primary_inputs if name not in plan.reference_columns]
    if not plan.primary_inputs or missing:
        return None, f"the reference lacks the inputs {', '.join(missing) or '(none in the signature)'}"
    try:
        loaded = load_version(
            runtime.store,
            plan.primary_model,
            plan.primary_version,
            plan.primary_prefix,
            max_ratio=runtime.settings.max_compression_ratio,
            min_bytes=runtime.settings.compression_ratio_min_bytes,
        )
    except AppError as exc:
        return None, exc.detail
    return loaded, ""


def _predict(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    columns = {c.name: _typed(c, frame[c.name]) for c in model.signature}
    answered, _ = model.predict(Batch(columns, len(frame), return_proba=False))
    return np.asarray(answered)


def _typed(column: Column, values: pd.Series) -> np.ndarray:
    if column.type == "double":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    if column.type == "long":
        if values.isna().any():
            raise ValueError(f"column {column.name!r} has missing values the signature's long type cannot hold")
        return values.to_numpy(dtype=np.int64)
    if column.type == "boolean":
        if values.isna().any():
            raise ValueError(f"column {column.name!r} has missing values the signature's boolean type cannot hold")
        return values.to_numpy(dtype=bool)
    return np.asarray([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _is_float(values: pd.Series) -> bool:
    return bool(pd.api.types.is_float_dtype(values.dtype))


def _prediction_categorical(kind: pa.DataType) -> tuple[str, ...]:
    """Labels (integers, text, booleans) are categories; numbers that are floats are measured."""
    return () if pa.types.is_floating(kind) else (PREDICTION,)


def _prediction_drift(reference: _Reference, window: _Window, spec: DriftOptionsSpec) -> dict[str, Any]:
    """The logged predictions against the reference side, as one column; `drifted` None (with
    the reason) when either side has none."""
    if window.predictions is None:
        return {**reference.source, "drifted": None, "reason": "the window's predictions are all missing"}
    if reference.predictions is None:
        return {**reference.source, "drifted": None}
    categorical = _prediction_categorical(window.prediction_type) if window.prediction_type is not None else ()
    options = DriftOptions(preset=spec.preset, categorical=frozenset(categorical))
    found = dataset_drift(reference.predictions, window.predictions, options).column(PREDICTION)
    return {**found.to_dict(), **reference.source}


# ---- performance -------------------------------------------------------------------------------


def _gather_labelled(table: pa.Table, known_ids: pa.Array, feedback: dict[str, Any], into: _Labelled) -> None:
    mask = pc.is_in(table["prediction_id"], value_set=known_ids)
    found = table.filter(mask)
    if found.num_rows == 0:
        return
    into.times.append(found["predicted_at"].cast(pa.int64()).to_numpy())
    into.predicted.extend(found[PREDICTION].to_pylist())
    into.actual.extend(feedback[i] for i in found["prediction_id"].to_pylist())


def _performance(plan: _Plan, spec: PerformanceSpec | None, window: _Window) -> dict[str, Any] | None:
    """Each version's metrics over the window and their curve over its spans; with a threshold,
    whether each decayed. None when no prediction of the window has feedback and no threshold
    was asked for."""
    total = sum(len(v.predicted) for v in window.labelled.values())
    if total == 0 and spec is None:
        return None
    metric = _metric(spec, plan.task) if spec is not None else None
    task = plan.task or (performance.task_of(metric) if metric else _task_of_predictions(window.prediction_type))
    metric = metric or performance.default_metric(task)
    start, end = _window_span(plan, window)
    start_micros, end_micros = micros(start), max(micros(end), micros(start) + 1)
    versions = []
    for (model, version), gathered in sorted(window.labelled.items()):
        found = _as_labelled(task, gathered)
        if found.predicted.size == 0:
            continue
        metrics = performance.scores(task, found.predicted, found.actual)
        entry: dict[str, Any] = {
            "model": model,
            "version": version,
            "labelled": int(found.predicted.size),
            "metrics": metrics,
            "value": metrics[metric],
            "curve": [
                {**point, "start": _iso(point["start"]), "end": _iso(point["end"])}
                for point in performance.curve(task, found, start_micros, end_micros, spec.buckets if spec else 10)
            ],
        }
        if spec is not None:
            if found.predicted.size < spec.min_labelled:
                entry["verdict"] = "too_few_labelled"
            else:
                entry["verdict"] = "decayed" if performance.decayed(metric, metrics[metric], spec.threshold) else "ok"
        versions.append(entry)
    return {
        "task": task,
        "metric": metric,
        "threshold": spec.threshold if spec is not None else None,
        "min_labelled": spec.min_labelled if spec is not None else None,
        "higher_is_better": metric not in performance.LOWER_IS_BETTER,
        "labelled": sum(v["labelled"] for v in versions),
        "versions": versions,
        "decay_detected": any(v.get("verdict") == "decayed" for v in versions) if spec is not None else None,
    }


def _task_of_predictions(kind: pa.DataType | None) -> str:
    return "regression" if kind is not None and pa.types.is_floating(kind) else "classification"


def _window_span(plan: _Plan, window: _Window) -> tuple[datetime, datetime]:
    """The hours asked for, or from the first to the last of the N predictions."""
    if plan.window_hours is not None or window.first_at is None or window.last_at is None:
        return plan.start, plan.end
    return window.first_at, window.last_at


def _as_labelled(task: str, gathered: _Labelled) -> performance.Labelled:
    times = np.concatenate(gathered.times) if gathered.times else np.empty(0, dtype=np.int64)
    if task == "regression":
        pairs = [
            (t, float(p), float(a))
            for t, p, a in zip(times.tolist(), gathered.predicted, gathered.actual, strict=True)
            if _is_number(p) and _is_number(a)
        ]
        return performance.Labelled(
            times=np.asarray([t for t, _, _ in pairs], dtype=np.int64),
            predicted=np.asarray([p for _, p, _ in pairs], dtype=np.float64),
            actual=np.asarray([a for _, _, a in pairs], dtype=np.float64),
        )
    return performance.Labelled(
        times=times,
        predicted=performance.labels_as_text(gathered.predicted),
        actual=performance.labels_as_text(gathered.actual),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _iso(moment: float) -> str:
    return from_micros(int(moment)).isoformat()


# ---- the report --------------------------------------------------------------------------------


def _body(
    plan: _Plan,
    spec: DriftCheckSpec,
    drift: DatasetDrift,
    prediction: dict[str, Any],
    judged: dict[str, Any] | None,
    reference_rows: int,
    window: _Window,
) -> dict[str, Any]:
    start, end = _window_span(plan, window)
    dataset = {key: value for key, value in drift.to_dict().items() if key != "columns"}
    return {
        "deployment": plan.deployment,
        "window": {
            **spec.window.model_dump(exclude_none=True),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "first_prediction_at": window.first_at.isoformat() if window.first_at else None,
            "last_prediction_at": window.last_at.isoformat() if window.last_at else None,
        },
        "rows": {"current": window.rows, "reference": reference_rows},
        "reference": plan.reference,
        "model_versions": [
            {"model": model, "version": version, "rows": rows}
            for (model, version), rows in sorted(window.rows_by_version.items())
        ],
        "options": spec.options.model_dump(mode="json"),
        "dataset": dataset,
        "columns": [c.to_dict() for c in drift.columns],
        "drifted_columns": [c.column for c in drift.columns if c.drifted],
        "not_in_reference": [c.column for c in drift.columns if c.verdict == "not_in_reference"],
        "prediction": prediction,
        # The inputs drifted as a dataset, or the predictions drifted.
        "drift_detected": bool(drift.drift_detected) or prediction.get("drifted") is True,
        "performance": judged,
    }


def _result(report_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """What the job's result carries for what chains on it (alerts, retraining)."""
    performance_section = body.get("performance") or {}
    return {
        "report_id": report_id,
        "deployment": body["deployment"],
        "reference": body["reference"],
        "rows": body["rows"],
        "drift_detected": body["drift_detected"],
        "dataset_drift": body["dataset"]["drift_detected"],
        "prediction_drift": body["prediction"].get("drifted"),
        "drifted_share": body["dataset"]["drifted_share"],
        "drifted_columns": body["drifted_columns"],
        "decay_detected": performance_section.get("decay_detected"),
    }
