"""The train spec checks, the pipeline and `train` end to end on small synthetic data."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_classification, make_regression

from app.ml.errors import SpecError
from app.ml.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
from app.ml.model_io import load_model_file
from app.ml.training import ESTIMATORS, TrainResult, TrainSpec, check_spec, infer_task, train


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    X, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=3)
    df = pd.DataFrame(X, columns=["tenure", "spend", "calls", "noise"])
    df["segment"] = np.where(X[:, 0] > 0, "retail", "business")
    df.loc[::9, "segment"] = None
    df.loc[::13, "spend"] = np.nan
    df["churned"] = np.where(y == 1, "yes", "no")
    return df


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    X, y = make_regression(n_samples=200, n_features=3, noise=3.0, random_state=5)
    df = pd.DataFrame(X, columns=["size", "age", "floor"])
    df["district"] = np.where(X[:, 1] > 0, "north", "south")
    df.loc[::11, "age"] = np.nan
    df["price"] = y
    return df


def spec(**fields: Any) -> TrainSpec:
    return TrainSpec.model_validate({"dataset": "churn-data@latest", "target": "churned", **fields})


def run(df: pd.DataFrame, **fields: Any) -> TrainResult:
    return train(check_spec(spec(**fields), list(df.columns)), df)


def test_classification_end_to_end(churn: pd.DataFrame) -> None:
    steps: list[tuple[float, str]] = []

    result = train(
        check_spec(spec(estimator="logistic_regression"), list(churn.columns)),
        churn,
        lambda fraction, message: steps.append((fraction, message)),
    )

    assert result.task == "classification"
    assert result.estimator == "sklearn.linear_model.LogisticRegression"
    assert set(result.metrics) == set(CLASSIFICATION_METRICS)
    assert result.metrics["accuracy"] > 0.7
    assert (result.train_rows, result.test_rows) == (160, 40)
    assert result.confusion_matrix is not None
    assert result.confusion_matrix["labels"] == ["no", "yes"]
    assert sum(map(sum, result.confusion_matrix["matrix"])) == 40
    features = [row["feature"] for row in result.feature_importance]
    assert sorted(features) == ["calls", "noise", "segment", "spend", "tenure"]
    means = [row["importance_mean"] for row in result.feature_importance]
    assert means == sorted(means, reverse=True)
    assert list(result.input_example.columns) == ["tenure", "spend", "calls", "noise", "segment"]
    assert len(result.input_example) == 5
    assert result.output_schema == [{"name": "churned", "type": "string"}]
    assert result.params == {"random_state": 42}
    # In the types a predict request is checked against, so the model can be deployed as it is.
    assert [(c["name"], c["type"]) for c in result.input_schema] == [
        ("tenure", "double"),
        ("spend", "double"),
        ("calls", "double"),
        ("noise", "double"),
        ("segment", "string"),
    ]
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions)
    assert fractions[0] > 0
    assert fractions[-1] <= 1
    # The model predicts from raw rows, unseen categories included.
    unseen = result.input_example.assign(segment="government")
    assert set(result.model.predict(unseen)) <= {"no", "yes"}


def test_regression_end_to_end(prices: pd.DataFrame) -> None:
    result = run(prices, target="price", estimator="ridge")

    assert result.task == "regression"
    assert set(result.metrics) == set(REGRESSION_METRICS)
    assert result.metrics["r2"] > 0.9
    assert result.confusion_matrix is None
    assert result.feature_importance[0]["feature"] in {"size", "age", "floor"}
    assert "random_state" in result.params  # Ridge takes one, for its stochastic solvers


def test_multiclass_uses_weighted_averages() -> None:
    X, y = make_classification(n_samples=150, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=1)
    df = pd.DataFrame(X, columns=list("abcd")).assign(label=y)

    result = run(df, target="label", estimator="decision_tree", params={"max_depth": 3})

    assert set(result.metrics) == set(CLASSIFICATION_METRICS)
    assert result.confusion_matrix is not None
    assert result.confusion_matrix["labels"] == [0, 1, 2]


def test_same_spec_same_data_same_metrics(churn: pd.DataFrame) -> None:
    fields = {"estimator": "random_forest", "params": {"n_estimators": 15}, "split": {"seed": 7}}

    first, second = run(churn, **fields), run(churn, **fields)

    assert first.metrics == second.metrics
    assert first.feature_importance == second.feature_importance
    assert first.input_example.equals(second.input_example)


def test_grid_search_returns_candidates_and_the_best(churn: pd.DataFrame) -> None:
    search = {"kind": "grid", "space": {"max_depth": [1, 4], "min_samples_leaf": [1, 5]}, "cv": 3}

    result = run(churn, estimator="decision_tree", search=search)

    assert result.candidates is not None
    assert len(result.candidates) == 4
    assert sorted({c["rank"] for c in result.candidates})[0] == 1
    best = min(result.candidates, key=lambda c: c["rank"])
    assert best["mean_score"] == max(c["mean_score"] for c in result.candidates)
    assert result.best_params == best["params"]
    assert result.search_scoring == "accuracy"
    assert result.model.named_steps["model"].max_depth == best["params"]["max_depth"]
    assert result.params["max_depth"] == best["params"]["max_depth"]


def test_random_search_is_reproducible(churn: pd.DataFrame) -> None:
    search = {"kind": "random", "space": {"max_depth": [1, 2, 3, 4, 5]}, "n_iter": 2, "cv": 2, "scoring": "f1_macro"}

    first = run(churn, estimator="decision_tree", search=search)
    second = run(churn, estimator="decision_tree", search=search)

    assert first.candidates is not None
    assert len(first.candidates) == 2
    assert first.candidates == second.candidates


def test_trained_model_saves_and_loads_through_the_model_format(churn: pd.DataFrame, tmp_path: Path) -> None:
    result = run(churn, estimator="random_forest", params={"n_estimators": 5})
    path = tmp_path / "model.skops"
    sio.dump(result.model, path)

    loaded = load_model_file(path)

    example = result.input_example
    assert loaded.predict(example).tolist() == result.model.predict(example).tolist()


def test_cancelling_from_progress_stops_training(churn: pd.DataFrame) -> None:
    class Cancelled(Exception):
        pass

    def cancel_after_split(fraction: float, message: str) -> None:
        if fraction >= 0.2:
            raise Cancelled

    with pytest.raises(Cancelled):
        train(check_spec(spec(estimator="decision_tree"), list(churn.columns)), churn, cancel_after_split)


def test_unknown_estimator_lists_the_allowed_ones() -> None:
    with pytest.raises(SpecError) as caught:
        check_spec(spec(estimator="foo"), ["churned", "a"])

    message = str(caught.value)
    assert message.startswith("unknown estimator 'foo'; allowed: decision_tree, decision_tree_regressor, ")
    assert caught.value.field == "estimator"
    assert caught.value.extra["allowed"] == sorted(ESTIMATORS)


@pytest.mark.parametrize(
    "name",
    ["os.system", "sklearn.utils.something_not_allowed", "builtins.eval", "sklearn.cluster.KMeans", "__import__"],
)
def test_paths_outside_the_allow_list_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="unknown estimator"):
        check_spec(spec(estimator=name), ["churned", "a"])


def test_allow_listed_path_is_accepted() -> None:
    resolved = check_spec(spec(estimator="sklearn.ensemble.RandomForestClassifier"), ["churned", "a"])

    assert resolved.estimator_name == "random_forest"
    assert resolved.estimator_class.__name__ == "RandomForestClassifier"


def test_unknown_param_suggests_the_right_one() -> None:
    with pytest.raises(SpecError) as caught:
        check_spec(spec(estimator="random_forest", params={"depth": 3}), ["churned", "a"])

    assert str(caught.value) == "estimator random_forest has no param 'depth' (did you mean max_depth?)"
    assert caught.value.field == "params.depth"
    assert "max_depth" in caught.value.extra["allowed"]


def test_unknown_param_in_search_space_is_refused() -> None:
    search = {"kind": "grid", "space": {"n_estimator": [10, 20]}}

    with pytest.raises(SpecError, match="did you mean n_estimators") as caught:
        check_spec(spec(estimator="random_forest", search=search), ["churned", "a"])

    assert caught.value.field == "search.space.n_estimator"


def test_bad_param_value_is_refused_before_training() -> None:
    with pytest.raises(SpecError, match="max_depth") as caught:
        check_spec(spec(estimator="decision_tree", params={"max_depth": -1}), ["churned", "a"])

    assert caught.value.field == "params.max_depth"


def test_too_large_grid_is_refused() -> None:
    space = {"max_depth": list(range(1, 21)), "min_samples_leaf": list(range(1, 21))}

    with pytest.raises(SpecError, match="400 candidates"):
        check_spec(spec(estimator="decision_tree", search={"kind": "grid", "space": space}), ["churned", "a"])


def test_unknown_scoring_is_refused() -> None:
    search = {"kind": "grid", "space": {"max_depth": [1]}, "scoring": "f1_macr"}

    with pytest.raises(SpecError, match="did you mean f1_macro"):
        check_spec(spec(estimator="decision_tree", search=search), ["churned", "a"])


def test_task_mismatch_is_refused() -> None:
    with pytest.raises(SpecError, match="random_forest is for classification") as caught:
        check_spec(spec(estimator="random_forest", task="regression"), ["churned", "a"])

    assert "random_forest_regressor" in caught.value.extra["allowed"]


def test_missing_target_is_refused() -> None:
    with pytest.raises(SpecError) as caught:
        check_spec(spec(estimator="knn"), ["a", "b", "c"])

    assert str(caught.value) == "target column 'churned' is not in the dataset (columns: a, b, c)"
    assert caught.value.field == "target"


@pytest.mark.parametrize(
    ("features", "message"),
    [(["a", "zz"], "feature columns not in the dataset: zz"), (["a", "churned"], "also listed in features")],
)
def test_bad_features_are_refused(features: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        check_spec(spec(estimator="knn", features=features), ["churned", "a", "b"])


def test_features_default_to_every_other_column() -> None:
    assert check_spec(spec(estimator="knn"), ["a", "churned", "b"]).features == ["a", "b"]


def test_classifier_on_a_continuous_target_is_refused(prices: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match="not class labels") as caught:
        run(prices, target="price", estimator="random_forest")

    assert "random_forest_regressor" in caught.value.extra["allowed"]


def test_regressor_on_text_labels_is_refused(churn: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match="is not numeric"):
        run(churn, estimator="linear_regression")


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.5, 1.5, 2.25], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_infer_task(values: list[Any], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_spec_validation_at_the_edge() -> None:
    with pytest.raises(ValueError, match="test_size"):
        spec(estimator="knn", split={"test_size": 1.5})
    with pytest.raises(ValueError, match="cv"):
        spec(estimator="knn", search={"kind": "grid", "space": {"n_neighbors": [3]}, "cv": 11})
