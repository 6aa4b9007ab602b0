"""The retrain job: the serving version's own training spec, on the newest version of its dataset
or on the rows it trained on plus the labelled production rows; then, with gates, an evaluation
against the serving version; then, when it passes, the rollout it was given. The run and the
dataset version it trains on are written first (a retried attempt finds them again); the model
version, its evaluation and the rollout go in one final transaction with the job's completion,
so a retried or duplicated attempt registers one version."""

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.context import Principal
from app.datasets import service as datasets
from app.db.tables import Dataset, DatasetVersion, ModelVersion
from app.deployments import service as deployments
from app.deployments.schemas import RolloutCreate, RouteMode
from app.errors import AppError, DatasetNotFound, InvalidInput, InvalidSpec, JobNotFound
from app.jobs import service as jobs
from app.jobs.context import JobContext
from app.jobs.runner import JobRuntime
from app.ml.errors import SpecError
from app.ml.evaluation import Gate, Task, check_gate_setup, check_gates, deltas, parse_gates
from app.ml.training import TrainSpec, check_spec
from app.predictions import service as predictions
from app.registry import service as registry
from app.registry.schemas import VersionStatus
from app.retraining.schemas import RetrainData, RetrainSpec
from app.rollouts import service as rollouts
from app.serving.state import ServingState
from app.training import service as training

# The tag a training job puts on the version it registers.
JOB_TAG = "shipyard.job_id"


@dataclass(frozen=True)
class Serving:
    """The version a deployment serves, and how it was trained."""

    deployment: str
    model: str
    version: ModelVersion
    train_spec: TrainSpec
    # The dataset version it trained on (through lineage); None when it is gone.
    trained_on: tuple[Dataset, DatasetVersion] | None
    dataset_name: str

    @property
    def task(self) -> Task | None:
        found = (self.version.manifest or {}).get("task")
        return "classification" if found == "classification" else "regression" if found == "regression" else None

    @property
    def inputs(self) -> list[str]:
        return [str(column["name"]) for column in (self.version.signature or {}).get("inputs", [])]


def check_job_spec(
    session: Session, actor: Principal, job_type: str, spec: dict[str, Any], *, protected_aliases: Sequence[str]
) -> dict[str, Any]:
    """The retrain spec checked against what the deployment serves now: InvalidSpec (400) naming
    what is wrong, e.g. a serving version with no training spec to retrain with."""
    return check_spec_of(session, spec).model_dump(mode="json")


def check_spec_of(session: Session, spec: dict[str, Any]) -> RetrainSpec:
    """A retrain spec parsed and checked (a monitor's retrain action is checked through here too)."""
    try:
        parsed = RetrainSpec.model_validate(spec)
    except ValidationError as exc:
        raise training.spec_fields_error(exc, RetrainSpec) from exc
    try:
        serving = serving_of(session, parsed.deployment)
        _check_data(session, parsed, serving)
        _gates(parsed, serving)
        if parsed.holdout is not None:
            _holdout(session, parsed.holdout, serving.train_spec.target)
        if parsed.rollout is not None:
            try:
                rollouts.check_plan(parsed.rollout)
            except InvalidInput as exc:
                field = exc.extra.get("field")
                raise InvalidSpec(exc.detail, field=f"rollout.{field}" if field else "rollout") from exc
    except (SpecError, ValueError) as exc:
        raise training.spec_error(exc) from exc
    return parsed


def serving_of(session: Session, deployment_name: str) -> Serving:
    """The primary version the deployment serves and its training spec; InvalidSpec when it was
    not registered by a training job (uploaded by hand), so there is nothing to retrain it with."""
    deployment = deployments.get(session, deployment_name)
    primaries = [t for t in deployments.current_targets(session, deployment) if t.mode == RouteMode.PRIMARY]
    if not primaries:
        raise InvalidSpec(f"deployment {deployment.name!r} routes to no primary version", field="deployment")
    primary = max(primaries, key=lambda target: target.weight)
    model, version = primary.model.name, primary.version
    train_spec = training_spec(session, model, version)
    if train_spec is None:
        raise InvalidSpec(
            f"version {version.version} of {model!r}, which deployment {deployment.name!r} serves, was not "
            "registered by a train job, so it has no training spec to retrain it with; deploy a version trained "
            "by a `train` job (POST /jobs)",
            field="deployment",
        )
    trained_on = datasets.trained_on(session, version.source_run_id) if version.source_run_id else None
    dataset_name = trained_on[0].name if trained_on else datasets.parse_reference(train_spec.dataset)[0]
    return Serving(deployment.name, model, version, train_spec, trained_on, dataset_name)


def training_spec(session: Session, model: str, version: ModelVersion) -> TrainSpec | None:
    """The train spec of the job that registered this version (a retrain job's is in its result),
    or None. The job must say it registered this very version: a tag alone proves nothing."""
    job_id = (version.tags or {}).get(JOB_TAG)
    if not job_id:
        return None
    try:
        job = jobs.get_job(session, job_id)
    except JobNotFound:
        return None
    result = job.result or {}
    if job.status != "succeeded" or result.get("model", {}).get("version") != version.version:
        return None
    if result["model"].get("name") != model:
        return None
    found = job.spec if job.type == "train" else result.get("train_spec") if job.type == "retrain" else None
    if not isinstance(found, dict):
        return None
    try:
        return TrainSpec.model_validate(found)
    except ValidationError:
        return None


def _check_data(session: Session, spec: RetrainSpec, serving: Serving) -> None:
    if spec.data == RetrainData.REFERENCE_PLUS_FEEDBACK:
        if serving.trained_on is None:
            raise InvalidSpec(
                f"the dataset version {serving.train_spec.dataset} that version {serving.version.version} of "
                f"{serving.model!r} trained on no longer exists, so there are no reference rows to add feedback to",
                field="data",
            )
        columns = [str(c["name"]) for c in serving.trained_on[1].schema]
    else:
        try:
            _, newest = datasets.resolve(session, f"{serving.dataset_name}@latest")
        except DatasetNotFound as exc:
            raise InvalidSpec(f"cannot retrain on the newest data: {exc.detail}", field="data") from exc
        columns = [str(c["name"]) for c in newest.schema]
    check_spec(_new_train_spec(serving, serving.train_spec.dataset), columns)


def _gates(spec: RetrainSpec, serving: Serving) -> list[Gate]:
    gates = parse_gates(spec.gates)
    check_gate_setup(gates, serving.task, baseline=True, sensitive=False)
    return gates


def _holdout(session: Session, ref: str, target: str) -> tuple[Dataset, DatasetVersion]:
    try:
        found = datasets.resolve(session, ref)
    except (DatasetNotFound, InvalidInput) as exc:
        raise InvalidSpec(f"holdout: {exc.detail}", field="holdout") from exc
    if target not in {column["name"] for column in found[1].schema}:
        raise InvalidSpec(f"holdout {ref} has no column {target!r}, the target the model predicts", field="holdout")
    return found


def _new_train_spec(serving: Serving, dataset_ref: str) -> TrainSpec:
    """The serving version's training spec on other data, registering the deployment's model; no
    alias moves (what serves is the rollout's decision)."""
    return serving.train_spec.model_copy(update={"dataset": dataset_ref, "register_as": serving.model, "alias": None})


# ---- the job -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Judged:
    dataset: str
    dataset_name: str
    dataset_version: int
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    gates: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(gate["passed"] for gate in self.gates)


def run_retrain(runtime: JobRuntime, ctx: JobContext) -> None:
    spec = RetrainSpec.model_validate(ctx.spec)
    run_id = training.job_run_id(ctx.job_id)
    ctx.progress(0.02, f"reading what deployment {spec.deployment} serves")
    with runtime.sessions.begin(write=False) as session:
        serving = serving_of(session, spec.deployment)
        gates = _gates(spec, serving)
        holdout = _holdout(session, spec.holdout, serving.train_spec.target) if spec.holdout else None
    dataset, version = _training_data(runtime, ctx, spec, serving, run_id)
    train_spec = _new_train_spec(serving, f"{dataset.name}@{version.version}")
    with training.run_outcome(runtime, ctx, run_id):
        ctx.progress(0.08, f"loading {dataset.name}@{version.version}")
        frame = datasets.load_frame(runtime.store, version)
        result = training.fit(ctx, train_spec, frame, start=0.1, end=0.6)
        judged = None
        if gates:
            data = holdout or (dataset, version)
            ctx.progress(0.65, f"judging the gates against version {serving.version.version} on {_ref(*data)}")
            eval_frame = frame if holdout is None else datasets.load_frame(runtime.store, holdout[1])
            judged = _judge(runtime, serving, result.model, eval_frame, gates, data)

        def finish(session: Session, outcome: dict[str, Any]) -> dict[str, Any]:
            return _finish(runtime, session, ctx, spec, serving, train_spec, judged, outcome)

        training.record(runtime, ctx, train_spec, run_id, result, finish)


def _training_data(
    runtime: JobRuntime, ctx: JobContext, spec: RetrainSpec, serving: Serving, run_id: str
) -> tuple[Dataset, DatasetVersion]:
    """The dataset version to train on, linked to the job's run: the one an earlier attempt
    linked, else the newest version, else a new version of reference plus labelled rows."""
    with runtime.sessions.begin(write=False) as session:
        found = datasets.trained_on(session, run_id)
    if found is None and spec.data == RetrainData.NEWEST:
        with runtime.sessions.begin(write=False) as session:
            found = datasets.resolve(session, f"{serving.dataset_name}@latest")
    if found is not None:
        with runtime.sessions.begin() as session:
            training.begin_run(session, ctx, serving.train_spec, run_id, *found)
        return found
    ctx.progress(0.04, "adding the labelled production rows to the reference rows")
    if serving.trained_on is None:
        raise InvalidSpec(f"the dataset version {serving.train_spec.dataset} is gone", field="data")
    reference_set, reference = serving.trained_on
    frame = _reference_plus_feedback(runtime, serving, reference)
    with tempfile.TemporaryDirectory(prefix="shipyard-retrain-") as tmp:
        path = Path(tmp) / datasets.DATA_FILE
        frame.to_parquet(path, index=False)
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        with runtime.sessions.begin() as session:
            made, _ = datasets.upload_version(
                session,
                runtime.store,
                ctx.actor,
                reference_set.name,
                path,
                fmt="parquet",
                size=path.stat().st_size,
                sha256=sha256,
            )
            found = datasets.resolve(session, made.reference)
            training.begin_run(session, ctx, serving.train_spec, run_id, *found)
    ctx.log(f"training on {made.reference}: {reference.rows} reference rows and {len(frame) - reference.rows} labelled")
    return found


def _reference_plus_feedback(runtime: JobRuntime, serving: Serving, reference: DatasetVersion) -> pd.DataFrame:
    """The reference rows, then the deployment's logged inputs that have feedback since the
    reference was made (earlier ones are in it already, when it was made this way), the feedback
    as the target."""
    target = serving.train_spec.target
    base = datasets.load_frame(runtime.store, reference)
    with runtime.sessions.begin(write=False) as session:
        labelled = predictions.labelled_inputs(
            session, runtime.store, serving.deployment, serving.inputs, since=reference.created_at
        )
    if labelled.empty:
        raise InvalidSpec(
            f"no prediction of deployment {serving.deployment!r} logged since {_ref_of(serving)} was made has "
            "feedback yet; send feedback (POST /deployments/{name}/feedback) or retrain on the newest data",
            field="data",
        )
    added = labelled.drop(columns=["actual"])
    try:
        added[target] = labelled["actual"].astype(base[target].dtype) if target in base else labelled["actual"]
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(
            f"the feedback of deployment {serving.deployment!r} does not fit the target column {target!r} "
            f"({base[target].dtype}): {exc}",
            field="data",
        ) from exc
    return pd.concat([base, added], ignore_index=True)


def _judge(
    runtime: JobRuntime,
    serving: Serving,
    model: Any,
    frame: pd.DataFrame,
    gates: list[Gate],
    data: tuple[Dataset, DatasetVersion],
) -> _Judged:
    target, task = serving.train_spec.target, serving.task
    mine = training.score(model, frame, target, task, None)["metrics"]
    baseline = training.load_model(runtime.store, list(serving.version.files), serving.version.storage_prefix)
    theirs = training.score(baseline, frame, target, task, None)["metrics"]
    judged = [vars(result) for result in check_gates(gates, mine, theirs)]
    return _Judged(_ref(*data), data[0].name, data[1].version, mine, theirs, judged)


def _finish(
    runtime: JobRuntime,
    session: Session,
    ctx: JobContext,
    spec: RetrainSpec,
    serving: Serving,
    train_spec: TrainSpec,
    judged: _Judged | None,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    """In the final transaction, after the new version is registered: its evaluation, and its
    rollout when it passed."""
    number = int(outcome["model"]["version"])
    _, version = registry.resolve_version(session, serving.model, str(number))
    result: dict[str, Any] = {
        **outcome,
        "deployment": serving.deployment,
        "data": spec.data.value,
        "dataset": train_spec.dataset,
        "train_spec": train_spec.model_dump(mode="json"),
        "baseline": {"model": serving.model, "version": serving.version.version},
        "gate": None,
        "promoted": False,
        "rollout_id": None,
        "rollout_job_id": None,
        "rollout_skipped": None,
    }
    if judged is not None:
        registry.record_evaluation(
            session,
            version.id,
            ctx.job_id,
            dataset=judged.dataset_name,
            dataset_version=judged.dataset_version,
            metrics=judged.metrics,
            baseline={"model": f"{serving.model}/{serving.version.version}", "metrics": judged.baseline_metrics},
            deltas=deltas(judged.metrics, judged.baseline_metrics),
            gates=judged.gates,
            passed=judged.passed,
            fairness=None,
        )
        result["gate"] = {
            "passed": judged.passed,
            "dataset": judged.dataset,
            "gates": judged.gates,
            "metrics": judged.metrics,
            "baseline_metrics": judged.baseline_metrics,
        }
        if not judged.passed:
            failed = "; ".join(gate["reason"] for gate in judged.gates if not gate["passed"])
            result["rollout_skipped"] = f"the gate failed: {failed}"
            return result
    if version.status != VersionStatus.READY.value:
        result["rollout_skipped"] = f"version {number} is {version.status}: {version.status_message}"
    elif spec.rollout is not None:
        _roll_out(runtime, session, ctx, spec, serving, number, result)
    return result


def _roll_out(
    runtime: JobRuntime,
    session: Session,
    ctx: JobContext,
    spec: RetrainSpec,
    serving: Serving,
    number: int,
    result: dict[str, Any],
) -> None:
    assert spec.rollout is not None
    plan = spec.rollout.model_dump()
    plan["reason"] = plan["reason"] or f"retrained by job {ctx.job_id}" + (f": {spec.reason}" if spec.reason else "")
    settings = runtime.settings
    # A worker serves nothing: a state of its own loads the new version and predicts its input
    # example, as any rollout does before it routes traffic; the servers' pollers take the routes.
    warm_up = ServingState(
        runtime.store,
        cache_size=1,
        max_ratio=settings.max_compression_ratio,
        min_bytes=settings.compression_ratio_min_bytes,
    )
    try:
        with session.begin_nested():
            read = rollouts.start_rollout(
                session,
                warm_up,
                runtime.queue,
                ctx.actor,
                serving.deployment,
                RolloutCreate.model_validate({**plan, "version": number}),
                deployments.ServingRules(allow_pickle=settings.allow_pickle),
            )
    except AppError as exc:
        # The version stays registered; what serves is unchanged, and the result says why.
        result["rollout_skipped"] = f"{exc.code}: {exc.detail}"
        return
    if read.rollout is None:  # direct: the new version serves all the traffic already
        result["promoted"] = True
        return
    result["promoted"] = None  # its analysis promotes or rolls back
    result["rollout_id"] = read.rollout.id
    result["rollout_job_id"] = read.rollout.job_id


def _ref(dataset: Dataset, version: DatasetVersion) -> str:
    return f"{dataset.name}@{version.version}"


def _ref_of(serving: Serving) -> str:
    return _ref(*serving.trained_on) if serving.trained_on else serving.train_spec.dataset
