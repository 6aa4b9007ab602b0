"""Training: the estimator allow-list, the train spec and its checks, the preprocessing pipeline,
and `train`, which splits, optionally searches hyperparameters, fits and scores deterministically."""

import difflib
import importlib
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import (
    KFold,
    ParameterGrid,
    ParameterSampler,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.multiclass import type_of_target

from app.ml.errors import SpecError
from app.ml.evaluation import Task, score_model
from app.ml.profiling import schema_of

Progress = Callable[[float, str], None]

MAX_CANDIDATES = 200
MIN_ROWS = 10
# An integer target with at most this many distinct values is taken for class labels.
MAX_CLASSES_FOR_INTEGER_TARGET = 20
IMPORTANCE_REPEATS = 5
INPUT_EXAMPLE_ROWS = 5
MODEL_STEP = "model"
ENVIRONMENT_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "skops")


# A model's signature speaks the serving types (as the SDK's log_model writes them), not the
# dataset profile's: serving checks each request column against them.
_SIGNATURE_TYPES = {"integer": "long", "float": "double", "boolean": "boolean", "datetime": "datetime"}


def signature_of(df: pd.DataFrame) -> list[dict[str, str]]:
    """[{"name", "type"}] in column order; types: long, double, boolean, datetime, string."""
    return [{"name": c["name"], "type": _SIGNATURE_TYPES.get(c["type"], "string")} for c in schema_of(df)]


@dataclass(frozen=True)
class EstimatorInfo:
    path: str
    task: Task


# The only estimators a spec can name. Nothing outside this table is ever imported.
ESTIMATORS: dict[str, EstimatorInfo] = {
    "logistic_regression": EstimatorInfo("sklearn.linear_model.LogisticRegression", "classification"),
    "random_forest": EstimatorInfo("sklearn.ensemble.RandomForestClassifier", "classification"),
    "gradient_boosting": EstimatorInfo("sklearn.ensemble.GradientBoostingClassifier", "classification"),
    "hist_gradient_boosting": EstimatorInfo("sklearn.ensemble.HistGradientBoostingClassifier", "classification"),
    "decision_tree": EstimatorInfo("sklearn.tree.DecisionTreeClassifier", "classification"),
    "knn": EstimatorInfo("sklearn.neighbors.KNeighborsClassifier", "classification"),
    # SVC keeps sklearn's default probability=False (deprecated since 1.9): no roc_auc / log_loss.
    "svc": EstimatorInfo("sklearn.svm.SVC", "classification"),
    "naive_bayes": EstimatorInfo("sklearn.naive_bayes.GaussianNB", "classification"),
    "linear_regression": EstimatorInfo("sklearn.linear_model.LinearRegression", "regression"),
    "ridge": EstimatorInfo("sklearn.linear_model.Ridge", "regression"),
    "lasso": EstimatorInfo("sklearn.linear_model.Lasso", "regression"),
    "random_forest_regressor": EstimatorInfo("sklearn.ensemble.RandomForestRegressor", "regression"),
    "gradient_boosting_regressor": EstimatorInfo("sklearn.ensemble.GradientBoostingRegressor", "regression"),
    "hist_gradient_boosting_regressor": EstimatorInfo("sklearn.ensemble.HistGradientBoostingRegressor", "regression"),
    "decision_tree_regressor": EstimatorInfo("sklearn.tree.DecisionTreeRegressor", "regression"),
    "knn_regressor": EstimatorInfo("sklearn.neighbors.KNeighborsRegressor", "regression"),
}


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42
    stratify: bool = True


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["grid", "random"] = "grid"
    space: dict[str, list[Any]] = Field(min_length=1)
    cv: int = Field(3, ge=2, le=10)
    n_iter: int = Field(10, ge=1, le=MAX_CANDIDATES)
    scoring: str | None = None

    @field_validator("space")
    @classmethod
    def _no_empty_lists(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [name for name, values in space.items() if not values]
        if empty:
            raise ValueError(f"every search parameter needs at least one value; empty: {', '.join(empty)}")
        return space


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, description='A dataset reference such as "churn-data@3" or "churn-data@latest".')
    target: str = Field(min_length=1)
    features: list[str] | None = Field(None, description="Default: every column but the target.")
    task: Task | None = Field(None, description="Default: the estimator's task.")
    estimator: str = Field(min_length=1, description="A short name from ESTIMATORS or its sklearn path.")
    params: dict[str, Any] = Field(default_factory=dict)
    split: SplitSpec = Field(default_factory=SplitSpec)
    search: SearchSpec | None = None
    register_as: str | None = None
    alias: str | None = None
    experiment: str = "training"


@dataclass(frozen=True)
class ResolvedSpec:
    """A TrainSpec checked against the allow-list and the dataset's columns."""

    spec: TrainSpec
    estimator_name: str
    estimator_path: str
    estimator_class: type[BaseEstimator]
    task: Task
    features: list[str]

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def task_explicit(self) -> bool:
        return self.spec.task is not None

    @property
    def seed(self) -> int:
        return self.spec.split.seed

    def estimator_params(self) -> dict[str, Any]:
        """The user's params, plus random_state=seed where the estimator takes one and the user
        did not set it, so the same spec and data always train the same model."""
        params = dict(self.spec.params)
        if "random_state" in self.estimator_class().get_params(deep=False):
            params.setdefault("random_state", self.seed)
        return params


@dataclass
class TrainResult:
    model: Pipeline
    task: Task
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, float]
    confusion_matrix: dict[str, list[Any]] | None
    feature_importance: list[dict[str, Any]]
    input_example: pd.DataFrame
    input_schema: list[dict[str, str]]
    output_schema: list[dict[str, str]]
    train_rows: int
    test_rows: int
    dropped_rows: int
    candidates: list[dict[str, Any]] | None = None
    best_params: dict[str, Any] | None = None
    search_scoring: str | None = None
    warnings: list[str] = field(default_factory=list)


def resolve_estimator(name: str) -> tuple[str, EstimatorInfo]:
    """(short name, info) for an allow-listed short name or sklearn path; SpecError otherwise."""
    if name in ESTIMATORS:
        return name, ESTIMATORS[name]
    for short, info in ESTIMATORS.items():
        if info.path == name:
            return short, info
    allowed = sorted(ESTIMATORS)
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise SpecError(
        f"unknown estimator '{name}'{hint}; allowed: {', '.join(allowed)}",
        field="estimator",
        extra={"allowed": allowed, "allowed_paths": sorted(info.path for info in ESTIMATORS.values())},
    )


def estimator_class(info: EstimatorInfo) -> type[BaseEstimator]:
    """Import the class of an allow-listed entry; only ever called with a path from ESTIMATORS."""
    module_name, _, class_name = info.path.rpartition(".")
    cls: type[BaseEstimator] = getattr(importlib.import_module(module_name), class_name)
    return cls


def check_spec(spec: TrainSpec, columns: list[str]) -> ResolvedSpec:
    """Check the spec against the allow-list, the estimator's own parameters and the dataset's
    columns; SpecError names the first problem (its `field` says where)."""
    name, info = resolve_estimator(spec.estimator)
    if spec.task is not None and spec.task != info.task:
        others = sorted(short for short, other in ESTIMATORS.items() if other.task == spec.task)
        raise SpecError(
            f"estimator {name} is for {info.task}, but the spec says task={spec.task}; "
            f"{spec.task} estimators: {', '.join(others)}",
            field="task",
            extra={"allowed": others},
        )
    cls = estimator_class(info)
    for key, value in spec.params.items():
        _check_param(name, cls, key, [value], f"params.{key}")
    if spec.search is not None:
        for key, values in spec.search.space.items():
            _check_param(name, cls, key, values, f"search.space.{key}")
        _check_search(spec.search)
    features = _check_columns(spec.target, spec.features, columns)
    return ResolvedSpec(
        spec=spec,
        estimator_name=name,
        estimator_path=info.path,
        estimator_class=cls,
        task=info.task,
        features=features,
    )


def infer_task(y: pd.Series) -> Task:
    """Classification for non-numeric targets and integers with few distinct values; regression
    for floats and for integers with many values."""
    if pd.api.types.is_bool_dtype(y.dtype) or not pd.api.types.is_numeric_dtype(y.dtype):
        return "classification"
    if pd.api.types.is_integer_dtype(y.dtype) and y.nunique(dropna=True) <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"


def build_pipeline(resolved: ResolvedSpec, X: pd.DataFrame) -> Pipeline:
    """Numbers: median imputation and scaling; numpy booleans: one-hot; everything else:
    most-frequent imputation and one-hot, unknown categories ignored; then the estimator."""
    numeric: list[str] = []
    boolean: list[str] = []
    categorical: list[str] = []
    for name in resolved.features:
        dtype = X[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
            raise SpecError(
                f"feature '{name}' holds dates/times, which the pipeline cannot encode; "
                "derive numeric columns from it or leave it out of features",
                field="features",
            )
        if dtype == np.bool_:
            # SimpleImputer refuses numpy bool arrays, and such a column has no missing values anyway.
            boolean.append(name)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numeric.append(name)
        else:
            categorical.append(name)
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        numbers = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numbers, numeric))
    if boolean:
        transformers.append(("boolean", OneHotEncoder(handle_unknown="ignore", sparse_output=False), boolean))
    if categorical:
        categories = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categories, categorical))
    # Dense output: GaussianNB and the histogram boosters do not take sparse input.
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    model = resolved.estimator_class(**resolved.estimator_params())
    return Pipeline([("preprocess", preprocess), (MODEL_STEP, model)])


def train(resolved: ResolvedSpec, df: pd.DataFrame, progress: Progress | None = None) -> TrainResult:
    """Split, search (when the spec asks), fit, score on the test split and explain.

    `progress(fraction, message)` is called between the expensive steps (and after each search
    candidate); the caller may raise from it to cancel, and that exception propagates."""
    report: Progress = progress or _ignore_progress
    warnings: list[str] = []
    _check_columns(resolved.target, resolved.features, [str(c) for c in df.columns])
    data = df.loc[df[resolved.target].notna()]
    if len(data) < MIN_ROWS:
        raise SpecError(
            f"training needs at least {MIN_ROWS} rows with a value for target '{resolved.target}'; "
            f"the dataset has {len(data)}",
            field="dataset",
        )
    X = data[resolved.features]
    y = data[resolved.target]
    _check_target(resolved, y, warnings)

    X_train, X_test, y_train, y_test = _split(resolved, X, y, warnings)
    report(0.1, f"split into {len(X_train)} training and {len(X_test)} test rows")

    pipeline = build_pipeline(resolved, X_train)
    candidates: list[dict[str, Any]] | None = None
    best_params: dict[str, Any] | None = None
    scoring: str | None = None
    if resolved.spec.search is not None:
        scoring = resolved.spec.search.scoring or _default_scoring(resolved.task)
        best_params, candidates = _search(resolved, resolved.spec.search, pipeline, X_train, y_train, report, warnings)
        pipeline.set_params(**{f"{MODEL_STEP}__{key}": value for key, value in best_params.items()})
        report(0.7, f"search done; fitting the best candidate on {len(X_train)} rows")
    else:
        report(0.2, f"fitting {resolved.estimator_name} on {len(X_train)} rows")
    _fit(pipeline, X_train, y_train)

    report(0.75, "fitted; scoring the test split")
    scores = score_model(pipeline, X_test, y_test, resolved.task)

    report(0.8, "computing permutation feature importance")
    importance = _feature_importance(pipeline, X_test, y_test, resolved.seed)
    report(0.9, "training finished")

    model_params = resolved.estimator_params()
    model_params.update(best_params or {})
    return TrainResult(
        model=pipeline,
        task=resolved.task,
        estimator=resolved.estimator_path,
        params=model_params,
        metrics=scores.metrics,
        confusion_matrix=scores.confusion_matrix,
        feature_importance=importance,
        input_example=X_test.head(INPUT_EXAMPLE_ROWS).copy(),
        input_schema=signature_of(X),
        output_schema=signature_of(y.to_frame()),
        train_rows=len(X_train),
        test_rows=len(X_test),
        dropped_rows=len(df) - len(data),
        candidates=candidates,
        best_params=best_params,
        search_scoring=scoring,
        warnings=warnings,
    )


def environment() -> dict[str, Any]:
    """The Python and library versions, shaped like the model manifest's fields."""
    versions: dict[str, str] = {}
    for package in ENVIRONMENT_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"python_version": platform.python_version(), "library_versions": versions}


def _ignore_progress(fraction: float, message: str) -> None:
    return None


def _check_param(estimator: str, cls: type[BaseEstimator], key: str, values: list[Any], field_name: str) -> None:
    allowed = sorted(cls().get_params(deep=False))
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SpecError(
            f"estimator {estimator} has no param '{key}'{hint}",
            field=field_name,
            extra={"param": key, "allowed": allowed},
        )
    for value in values:
        candidate = cls().set_params(**{key: value})
        # sklearn's own constraint table checks the value now rather than at fit time in a worker.
        validate = getattr(candidate, "_validate_params", None)
        if validate is None:
            continue
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise SpecError(f"estimator {estimator}: {exc}", field=field_name, extra={"param": key}) from exc


def _check_search(search: SearchSpec) -> None:
    if search.scoring is not None and search.scoring not in get_scorer_names():
        close = difflib.get_close_matches(search.scoring, get_scorer_names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpecError(f"unknown scoring '{search.scoring}'{hint}", field="search.scoring")
    if search.kind == "grid":
        size = len(ParameterGrid(search.space))
        if size > MAX_CANDIDATES:
            raise SpecError(
                f"the grid has {size} candidates; at most {MAX_CANDIDATES} are allowed "
                "(use kind=random with n_iter to sample it)",
                field="search.space",
            )


def _check_columns(target: str, features: list[str] | None, columns: list[str]) -> list[str]:
    listing = ", ".join(columns)
    if target not in columns:
        raise SpecError(
            f"target column '{target}' is not in the dataset (columns: {listing})",
            field="target",
            extra={"columns": columns},
        )
    if features is None:
        chosen = [name for name in columns if name != target]
    else:
        missing = [name for name in features if name not in columns]
        if missing:
            raise SpecError(
                f"feature columns not in the dataset: {', '.join(missing)} (columns: {listing})",
                field="features",
                extra={"missing": missing, "columns": columns},
            )
        if target in features:
            raise SpecError(f"the target '{target}' is also listed in features", field="features")
        duplicates = sorted({name for name in features if features.count(name) > 1})
        if duplicates:
            raise SpecError(f"features listed twice: {', '.join(duplicates)}", field="features")
        chosen = list(features)
    if not chosen:
        raise SpecError("no feature columns: the dataset holds only the target", field="features")
    return chosen


def _check_target(resolved: ResolvedSpec, y: pd.Series, warnings: list[str]) -> None:
    others = sorted(short for short, info in ESTIMATORS.items() if info.task != resolved.task)
    if resolved.task == "classification":
        kind = type_of_target(y.to_numpy())
        if kind not in ("binary", "multiclass"):
            raise SpecError(
                f"target '{resolved.target}' holds {kind} values, not class labels, so {resolved.estimator_name} "
                f"(classification) cannot learn it; regression estimators: {', '.join(others)}",
                field="estimator",
                extra={"allowed": others},
            )
        if y.nunique() < 2:
            raise SpecError(f"target '{resolved.target}' has a single class; classification needs two", field="target")
    elif pd.api.types.is_bool_dtype(y.dtype) or not pd.api.types.is_numeric_dtype(y.dtype):
        raise SpecError(
            f"target '{resolved.target}' is not numeric, so {resolved.estimator_name} (regression) cannot learn it; "
            f"classification estimators: {', '.join(others)}",
            field="estimator",
            extra={"allowed": others},
        )
    inferred = infer_task(y)
    if not resolved.task_explicit and inferred != resolved.task:
        warnings.append(
            f"target '{resolved.target}' looks like {inferred}, but {resolved.estimator_name} does "
            f"{resolved.task}; set task to silence this"
        )


def _split(
    resolved: ResolvedSpec, X: pd.DataFrame, y: pd.Series, warnings: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    split = resolved.spec.split
    stratify = None
    if resolved.task == "classification" and split.stratify:
        if _can_stratify(y, split.test_size):
            stratify = y
        else:
            warnings.append("some class is too small to stratify the split; split without stratification")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=split.test_size, random_state=split.seed, stratify=stratify
    )
    if resolved.task == "classification" and y_train.nunique() < 2:
        raise SpecError("the training split holds a single class; add rows or change the split", field="split")
    return X_train, X_test, y_train, y_test


def _can_stratify(y: pd.Series, test_size: float) -> bool:
    counts = y.value_counts()
    test_rows = math.ceil(test_size * len(y))
    return bool(counts.min() >= 2 and test_rows >= len(counts) and len(y) - test_rows >= len(counts))


def _default_scoring(task: Task) -> str:
    return "accuracy" if task == "classification" else "r2"


def _search(
    resolved: ResolvedSpec,
    search: SearchSpec,
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    report: Progress,
    warnings: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GridSearchCV / RandomizedSearchCV procedure (same candidate generators, scorer and
    ranking, best candidate refitted by the caller) run one candidate at a time, so progress and
    cancellation can happen between candidates."""
    if search.kind == "grid":
        settings = list(ParameterGrid(search.space))
    else:
        n_iter = min(search.n_iter, len(ParameterGrid(search.space)))
        settings = list(ParameterSampler(search.space, n_iter=n_iter, random_state=resolved.seed))
    folds = _folds(resolved, y, search.cv, warnings)
    scoring = search.scoring or _default_scoring(resolved.task)
    results: list[dict[str, Any]] = []
    report(0.2, f"searching {len(settings)} candidates with {search.cv}-fold cross-validation")
    for index, params in enumerate(settings):
        candidate = clone(pipeline).set_params(**{f"{MODEL_STEP}__{k}": v for k, v in params.items()})
        try:
            fold_scores = cross_val_score(candidate, X, y, cv=folds, scoring=scoring, error_score="raise")
        except (ValueError, TypeError) as exc:
            # A combination of valid values can still be refused at fit time; it ranks last.
            results.append({"params": params, "mean_score": None, "std_score": None, "error": str(exc)})
        else:
            results.append(
                {
                    "params": params,
                    "mean_score": float(np.mean(fold_scores)),
                    "std_score": float(np.std(fold_scores)),
                    "error": None,
                }
            )
        report(0.2 + 0.5 * (index + 1) / len(settings), f"candidate {index + 1}/{len(settings)} done")
    scored = [r for r in results if r["mean_score"] is not None and math.isfinite(r["mean_score"])]
    if not scored:
        raise SpecError(f"every search candidate failed; the first: {results[0]['error']}", field="search.space")
    ranks = rankdata([-r["mean_score"] for r in scored], method="min")
    for result, rank in zip(scored, ranks, strict=True):
        result["rank"] = int(rank)
    for result in results:
        result.setdefault("rank", len(scored) + 1)
    best = min(scored, key=lambda r: r["rank"])
    ordered = [{key: r[key] for key in ("params", "mean_score", "std_score", "rank", "error")} for r in results]
    return dict(best["params"]), ordered


def _folds(resolved: ResolvedSpec, y: pd.Series, cv: int, warnings: list[str]) -> KFold | StratifiedKFold:
    if len(y) < cv:
        raise SpecError(f"cross-validation with cv={cv} needs at least {cv} training rows", field="search.cv")
    if resolved.task == "classification":
        if y.value_counts().min() >= cv:
            return StratifiedKFold(n_splits=cv, shuffle=True, random_state=resolved.seed)
        warnings.append(f"some class has fewer than cv={cv} training rows; cross-validation folds are not stratified")
    return KFold(n_splits=cv, shuffle=True, random_state=resolved.seed)


def _fit(pipeline: Pipeline, X: pd.DataFrame, y: pd.Series) -> None:
    try:
        pipeline.fit(X, y)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"training failed: {exc}", field="params") from exc


def _feature_importance(pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, seed: int) -> list[dict[str, Any]]:
    # Permuting the raw input columns (before preprocessing) gives one importance per original
    # column, however many one-hot columns it became.
    found = permutation_importance(pipeline, X, y, n_repeats=IMPORTANCE_REPEATS, random_state=seed)
    rows = [
        {"feature": str(name), "importance_mean": float(mean), "importance_std": float(std)}
        for name, mean, std in zip(X.columns, found.importances_mean, found.importances_std, strict=True)
    ]
    return sorted(rows, key=lambda row: (-row["importance_mean"], row["feature"]))
