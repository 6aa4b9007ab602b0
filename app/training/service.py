"""Training and evaluation as jobs. Specs are checked when the job is submitted (a bad spec is a
400 at once); the handlers compute everything first and write every effect in one final
transaction with the job's completion, so a retried or duplicated attempt leaves exactly one
run, one model version and one evaluation."""

import contextlib
import io
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from app import validation
from app.auth.security import Role
from app.context import Principal
from app.datasets import service as datasets
from app.db.tables import Dataset, DatasetVersion
from app.errors import Forbidden, InvalidSpec, ModelVersionNotFound
from app.jobs.context import JobCancelled, JobContext, LeaseLost
from app.jobs.runner import JobRuntime, succeed
from app.ml.errors import SpecError
from app.ml.evaluation import check_gate_setup, check_gates, deltas, evaluate, parse_gates
from app.ml.model_io import load_model_folder, save_model_folder, sha256_file
from app.ml.training import TrainResult, TrainSpec, check_spec, environment, train
from app.registry import packaging
from app.registry import service as registry
from app.registry.schemas import VersionFile, VersionStatus
from app.storage import ArtifactStore, join_key
from app.tracking import service as tracking
from app.tracking.schemas import LogBatch, MetricIn, ParamIn, RunCreate, RunSource, RunStatus, RunUpdate, TagIn
from app.training.schemas import EvaluateSpec, TrainNames

_RUN_NAMESPACE = uuid.UUID("5b1d8c4e-2f0a-4c69-9d7e-3a6f1b2c8e90")


def job_run_id(job_id: str, part: str = "run") -> str:
    """Runs made by a job have ids derived from it, so every attempt finds the same run."""
    return uuid.uuid5(_RUN_NAMESPACE, f"{job_id}/{part}").hex


def spec_error(exc: SpecError | ValueError) -> InvalidSpec:
    extra = dict(getattr(exc, "extra", {}) or {})
    field = getattr(exc, "field", None)
    return InvalidSpec(str(exc), **({"field": field} if field else {}), **extra)


def spec_fields_error(exc: ValidationError, model: type[BaseModel]) -> InvalidSpec:
    """A spec that does not fit its model, in one sentence per error (a typo gets a suggestion)."""
    errors = exc.errors(include_url=False)
    sentences = [
        validation.sentence(
            error,
            allowed=validation.fields_at(model, error["loc"][:-1]) if error["type"] == "extra_forbidden" else None,
        )
        for error in errors
    ]
    listed = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
    field = ".".join(str(part) for part in errors[0]["loc"]) if errors else None
    return InvalidSpec(validation.detail(sentences), **({"field": field} if field else {}), errors=listed)


def check_job_spec(
    session: Session, actor: Principal, job_type: str, spec: dict[str, Any], *, protected_aliases: Sequence[str]
) -> dict[str, Any]:
    """Validate a spec against what exists now and what its submitter may do; return it
    normalised. InvalidSpec (400) if it is wrong, Forbidden (403) if the submitter may not."""
    try:
        if job_type == "train":
            train_spec = TrainSpec.model_validate(spec)
            _check_names(train_spec, actor, protected_aliases)
            _, version = datasets.resolve(session, train_spec.dataset)
            check_spec(train_spec, [column["name"] for column in version.schema])
            return train_spec.model_dump(mode="json")
        evaluate_spec = EvaluateSpec.model_validate(spec)
        gates = parse_gates(evaluate_spec.gates)
        _, version = _ready_version(session, evaluate_spec.model)
        if evaluate_spec.baseline:
            _ready_version(session, evaluate_spec.baseline)
        _, data_version = datasets.resolve(session, evaluate_spec.dataset)
        manifest = version.manifest or {}
        target = evaluate_spec.target or manifest.get("target")
        if not target:
            raise InvalidSpec(
                f"{evaluate_spec.model} does not say which column it predicts; give `target`", field="target"
            )
        if target not in {column["name"] for column in data_version.schema}:
            raise InvalidSpec(f"target column {target!r} is not in {evaluate_spec.dataset}", field="target")
        task = manifest.get("task")
        check_gate_setup(
            gates,
            task if task in ("classification", "regression") else None,
            baseline=evaluate_spec.baseline is not None,
            sensitive=evaluate_spec.sensitive is not None,
        )
        return evaluate_spec.model_dump(mode="json")
    except ValidationError as exc:
        raise spec_fields_error(exc, TrainSpec if job_type == "train" else EvaluateSpec) from exc
    except (SpecError, ValueError) as exc:
        raise spec_error(exc) from exc


def _check_names(spec: TrainSpec, actor: Principal, protected_aliases: Sequence[str]) -> None:
    """Names as the API checks them, and an alias the submitter may move, before any work is done."""
    try:
        TrainNames.model_validate({"register_as": spec.register_as, "alias": spec.alias, "experiment": spec.experiment})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"])
        raise InvalidSpec(f"{field} {getattr(spec, field)!r} is not a valid name: {error['msg']}", field=field) from exc
    if spec.alias and not spec.register_as:
        raise InvalidSpec("alias needs register_as: it names the model the alias is set on", field="alias")
    if spec.alias in protected_aliases and not actor.role.allows(Role.admin):
        raise Forbidden(
            f"alias {spec.alias!r} is protected: only an admin can move it, so only an admin's job may set it",
            field="alias",
        )


def _split_ref(ref: str) -> tuple[str, str]:
    ref = ref.removeprefix("models:/")
    for separator in ("@", "/"):
        if separator in ref:
            name, _, version = ref.partition(separator)
            return name, version
    return ref, "latest"


def _ready_version(session: Session, ref: str) -> Any:
    name, version_ref = _split_ref(ref)
    model, version = registry.resolve_version(session, name, version_ref)
    if version.status != VersionStatus.READY.value:
        raise ModelVersionNotFound(f"{ref} is {version.status}, not READY")
    return model, version


# ---- train -------------------------------------------------------------------------------------


def run_train(runtime: JobRuntime, ctx: JobContext) -> None:
    spec = TrainSpec.model_validate(ctx.spec)
    run_id = job_run_id(ctx.job_id)
    with runtime.sessions.begin() as session:
        dataset, version = datasets.resolve(session, spec.dataset)
        begin_run(session, ctx, spec, run_id, dataset, version)
    with run_outcome(runtime, ctx, run_id):
        ctx.progress(0.05, f"loading {dataset.name}@{version.version}")
        frame = datasets.load_frame(runtime.store, version)
        result = fit(ctx, spec, frame, start=0.1, end=0.9)
        record(runtime, ctx, spec, run_id, result)


def begin_run(
    session: Session, ctx: JobContext, spec: TrainSpec, run_id: str, dataset: Dataset, version: DatasetVersion
) -> None:
    """The job's run (the same one on every attempt), linked to the dataset version it trains on."""
    tracking.ensure_run(
        session,
        ctx.actor,
        spec.experiment,
        run_id,
        RunCreate(
            name=f"{ctx.job_type}-{ctx.job_id[:8]}",
            tags={"shipyard.job_id": ctx.job_id},
            source=RunSource(entry_point=f"shipyard job {ctx.job_id}"),
            environment=environment(),
        ),
    )
    datasets.link_version(session, ctx.actor, run_id, dataset, version, "training")
    if ctx.attempt > 1:  # an earlier attempt may have marked the run FAILED before it was retried
        tracking.update_run(session, ctx.actor, run_id, RunUpdate(status=RunStatus.RUNNING))


@contextlib.contextmanager
def run_outcome(runtime: JobRuntime, ctx: JobContext, run_id: str) -> Iterator[None]:
    """The run says how its job ended: FAILED (or KILLED on a cancel) when the body raises; a
    later attempt moves it back to RUNNING and on."""
    try:
        yield
    except LeaseLost:
        raise  # another worker owns the job, and the run with it
    except BaseException as exc:
        status = RunStatus.KILLED if isinstance(exc, JobCancelled) else RunStatus.FAILED
        with contextlib.suppress(Exception), runtime.sessions.begin() as session:
            tracking.update_run(session, ctx.actor, run_id, RunUpdate(status=status))
        raise


def abandon_train(session: Session, job_id: str) -> None:
    """The job's worker died for good: its run, if it got one, ends FAILED rather than RUNNING."""
    run_id = job_run_id(job_id)
    if tracking.find_run_status(session, run_id) == RunStatus.RUNNING.value:
        tracking.update_run(session, Principal.system(), run_id, RunUpdate(status=RunStatus.FAILED))


def fit(ctx: JobContext, spec: TrainSpec, frame: pd.DataFrame, *, start: float, end: float) -> TrainResult:
    """Train as the spec says on `frame`, reporting progress between `start` and `end`."""
    resolved = check_spec(spec, [str(c) for c in frame.columns])
    return train(
        resolved, frame, progress=lambda fraction, message: ctx.progress(start + (end - start) * fraction, message)
    )


# What a job that trains adds to the final transaction: (session, the training's outcome) -> the job's result.
Finish = Callable[[Session, dict[str, Any]], dict[str, Any]]


def record(
    runtime: JobRuntime,
    ctx: JobContext,
    spec: TrainSpec,
    run_id: str,
    result: TrainResult,
    finish: Finish | None = None,
) -> None:
    """Save the trained model, then in one transaction record the run and the model version, call
    `finish` and mark the job succeeded: a retried or duplicated attempt leaves each once."""
    ctx.progress(0.92, "saving the model")
    with tempfile.TemporaryDirectory(prefix="shipyard-train-") as tmp:
        folder = Path(tmp) / "model"
        save_model_folder(
            result.model,
            folder,
            signature={"inputs": result.input_schema, "outputs": result.output_schema},
            input_example=result.input_example,
            extra={"task": result.task, "target": spec.target},
        )
        ctx.progress(0.95, "recording the run and the model")
        with runtime.sessions.begin() as session:
            written: list[str] = []
            try:
                outcome = _record_training(runtime, session, ctx, spec, run_id, result, folder, written)
                if finish is not None:
                    outcome = finish(session, outcome)
                succeed(runtime, session, ctx, outcome)
            except BaseException:
                # The version's row rolls back with this transaction, so its files go too; removed
                # while the transaction still holds the model's version counter, so no other
                # registration can have been given the same folder yet.
                for prefix in written:
                    with contextlib.suppress(Exception):
                        runtime.store.delete_prefix(prefix)
                raise


def _record_training(
    runtime: JobRuntime,
    session: Session,
    ctx: JobContext,
    spec: TrainSpec,
    run_id: str,
    result: TrainResult,
    folder: Path,
    written: list[str],
) -> dict[str, Any]:
    """Every effect of a finished training; the storage prefix of a registered version is added
    to `written` as soon as its files are in the store."""
    params = {
        "estimator": result.estimator,
        "target": spec.target,
        "test_size": str(spec.split.test_size),
        "seed": str(spec.split.seed),
        **{k: _text(v) for k, v in result.params.items()},
    }
    tracking.log_batch(
        session,
        ctx.actor,
        run_id,
        LogBatch(
            params=[ParamIn(key=k[:250], value=v[:6000]) for k, v in params.items()],
            metrics=[MetricIn(key=k, value=v) for k, v in result.metrics.items()],
            tags=[
                TagIn(key="shipyard.task", value=result.task),
                TagIn(key="shipyard.rows.train", value=str(result.train_rows)),
            ],
        ),
    )
    _put_json(runtime.store, run_id, "feature_importance.json", result.feature_importance)
    if result.confusion_matrix is not None:
        _put_json(runtime.store, run_id, "confusion_matrix.json", result.confusion_matrix)
    for index, candidate in enumerate(result.candidates or []):
        child_id = job_run_id(ctx.job_id, f"candidate-{index}")
        tracking.ensure_run(
            session, ctx.actor, spec.experiment, child_id, RunCreate(name=f"candidate-{index}", parent_run_id=run_id)
        )
        tracking.log_batch(
            session,
            ctx.actor,
            child_id,
            LogBatch(
                params=[ParamIn(key=k[:250], value=_text(v)[:6000]) for k, v in candidate["params"].items()],
                metrics=[
                    MetricIn(key="cv_score_mean", value=candidate["mean_score"]),
                    MetricIn(key="cv_score_std", value=candidate["std_score"]),
                ]
                if candidate.get("mean_score") is not None
                else [],
            ),
        )
        tracking.update_run(session, ctx.actor, child_id, RunUpdate(status=RunStatus.FINISHED))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            runtime.store.put_file(join_key("runs", run_id, "artifacts", "model", path.name), handle)
    outcome: dict[str, Any] = {
        "run_id": run_id,
        "metrics": result.metrics,
        "task": result.task,
        "best_params": result.best_params,
        "warnings": result.warnings,
    }
    if spec.register_as:
        version = registry.create_version_from_folder(
            session,
            runtime.store,
            ctx.actor,
            spec.register_as,
            folder,
            run_id=run_id,
            source_path="model",
            metrics=result.metrics,
            tags={"shipyard.job_id": ctx.job_id},
        )
        written.append(version.storage_location)
        outcome["model"] = {"name": version.model, "version": version.version, "status": version.status.value}
        if spec.alias and version.status == VersionStatus.READY:
            registry.set_alias(
                session, ctx.actor, version.model, spec.alias, version.version, runtime.settings.protected_aliases
            )
    tracking.update_run(session, ctx.actor, run_id, RunUpdate(status=RunStatus.FINISHED))
    return outcome


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _put_json(store: ArtifactStore, run_id: str, name: str, value: Any) -> None:
    store.put_file(join_key("runs", run_id, "artifacts", name), io.BytesIO(json.dumps(value, default=str).encode()))


# ---- evaluate ----------------------------------------------------------------------------------


def run_evaluate(runtime: JobRuntime, ctx: JobContext) -> None:
    spec = EvaluateSpec.model_validate(ctx.spec)
    with runtime.sessions.begin(write=False) as session:
        _, version = _ready_version(session, spec.model)
        version_id, files, prefix = version.id, list(version.files), version.storage_prefix
        manifest = dict(version.manifest or {})
        data_set, data_version = datasets.resolve(session, spec.dataset)
        data_ref = f"{data_set.name}@{data_version.version}"
        baseline = _ready_version(session, spec.baseline)[1] if spec.baseline else None
        baseline_files = (list(baseline.files), baseline.storage_prefix) if baseline is not None else None
    target = spec.target or manifest.get("target")
    if not target:
        raise InvalidSpec("the model does not say which column it predicts; give `target`", field="target")
    task = manifest.get("task")
    gates = parse_gates(spec.gates)
    check_gate_setup(
        gates,
        task if task in ("classification", "regression") else None,
        baseline=spec.baseline is not None,
        sensitive=spec.sensitive is not None,
    )
    ctx.progress(0.1, "loading the model and the data")
    frame = datasets.load_frame(runtime.store, data_version)
    model = load_model(runtime.store, files, prefix)
    ctx.progress(0.4, f"scoring {spec.model} on {spec.dataset}")
    report = score(model, frame, target, task, spec.sensitive)
    baseline_metrics = None
    if baseline_files is not None:
        ctx.progress(0.7, f"scoring the baseline {spec.baseline}")
        baseline_metrics = score(load_model(runtime.store, *baseline_files), frame, target, task, None)["metrics"]
    judged = [vars(r) for r in check_gates(gates, report["metrics"], baseline_metrics)]
    passed = all(g["passed"] for g in judged)
    outcome = {
        "model": spec.model,
        "dataset": data_ref,
        "metrics": report["metrics"],
        "baseline": spec.baseline,
        "baseline_metrics": baseline_metrics,
        "deltas": deltas(report["metrics"], baseline_metrics) if baseline_metrics else None,
        "gates": judged,
        "passed": passed,
        "fairness": report.get("fairness"),
        "rows": report["rows"],
    }
    ctx.progress(0.95, "recording the evaluation")
    with runtime.sessions.begin() as session:
        registry.record_evaluation(
            session,
            version_id,
            ctx.job_id,
            dataset=data_ref.partition("@")[0],
            dataset_version=data_version.version,
            metrics=report["metrics"],
            baseline={"model": spec.baseline, "metrics": baseline_metrics} if spec.baseline else None,
            deltas=outcome["deltas"],
            gates=judged,
            passed=passed if judged else None,
            fairness=report.get("fairness"),
        )
        succeed(runtime, session, ctx, outcome)


def load_model(store: ArtifactStore, files: list[dict[str, Any]], prefix: str) -> Any:
    """Download a READY version, check each file against the SHA-256 the registry recorded, load it."""
    with tempfile.TemporaryDirectory(prefix="shipyard-eval-") as tmp:
        folder = Path(tmp)
        packaging.download_prefix(store, prefix, folder)
        for item in (VersionFile.model_validate(f) for f in files):
            if sha256_file(folder.joinpath(*item.path.split("/"))) != item.sha256:
                raise InvalidSpec(f"{item.path} of the model no longer matches its recorded SHA-256")
        return load_model_folder(folder)[1]


def score(model: Any, frame: pd.DataFrame, target: str, task: Any, sensitive: str | None) -> dict[str, Any]:
    try:
        return evaluate(model, frame, target, task, sensitive=sensitive)
    except (SpecError, KeyError, ValueError) as exc:
        raise InvalidSpec(f"cannot evaluate on this dataset: {exc}") from exc
