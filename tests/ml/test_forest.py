"""The forest predictor answers exactly what the estimator's own predict and predict_proba answer
(or raises what they raise), for bare forests and pipelines ending in one, and takes no other
estimator."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.ml.forest import ForestClassifierPredictor, forest_classifier_predictor


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    return data.data, data.target


def _iris_named() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return data.data, np.array(["setosa", "versicolor", "virginica"])[data.target]


def _names(features: np.ndarray) -> list[str]:
    return [f"x{i}" for i in range(features.shape[1])]


def assert_same_answers(predictor: ForestClassifierPredictor, estimator: Any, rows: Any) -> None:
    """Equal to the bit (np.array_equal on float64), or the same error."""
    try:
        expected = (estimator.predict(rows), estimator.predict_proba(rows))
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)[:40]):
            predictor.predict(rows, True)
        return
    predictions, probabilities = predictor.predict(rows, True)
    assert np.array_equal(predictions, expected[0])
    assert probabilities is not None
    assert np.array_equal(probabilities, expected[1])
    assert np.array_equal(predictor.predict(rows, False)[0], expected[0])
    assert predictor.predict(rows, False)[1] is None


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda: RandomForestClassifier(n_estimators=30, random_state=0), _breast_cancer),
        (lambda: ExtraTreesClassifier(n_estimators=20, random_state=1), _iris_named),
        (lambda: RandomForestClassifier(n_estimators=10, max_depth=3, class_weight="balanced"), _iris_named),
    ],
)
def test_same_answers_to_the_bit(make: Any, data: Any) -> None:
    features, target = data()
    forest = make().fit(features, target)
    predictor = forest_classifier_predictor(forest, _names(features))
    assert predictor is not None
    for rows in (features[:1], features[:7], features, np.rint(features[:5]).astype(np.int64)):
        assert_same_answers(predictor, forest, np.ascontiguousarray(rows))


def test_values_the_trees_do_not_sum_are_the_forests_to_answer() -> None:
    features, target = _breast_cancer()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)
    predictor = forest_classifier_predictor(forest, _names(features))
    assert predictor is not None
    too_large = features[:2].copy()
    too_large[0, 0] = 1e39  # a finite double, past float32's range: the forest refuses it
    missing = features[:2].copy()
    missing[1, 3] = np.nan  # the forest predicts missing values by its own rules
    for rows in (too_large, missing, features[:2, :-1]):
        assert_same_answers(predictor, forest, rows)


def test_feature_names_must_be_the_signature_order() -> None:
    features, target = _breast_cancer()
    names = _names(features)
    frame = pd.DataFrame(features, columns=names)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, target)
    predictor = forest_classifier_predictor(forest, names)
    assert predictor is not None
    assert_same_answers(predictor, forest, frame.head(4))
    assert forest_classifier_predictor(forest, list(reversed(names))) is None


def test_other_estimators_are_declined() -> None:
    features, target = _breast_cancer()

    class Forest(RandomForestClassifier):
        pass

    names = _names(features)
    two_outputs = np.column_stack([target, 1 - target])
    assert forest_classifier_predictor(Forest(n_estimators=3).fit(features, target), names) is None
    assert forest_classifier_predictor(RandomForestRegressor(n_estimators=3).fit(features, target), names) is None
    assert forest_classifier_predictor(RandomForestClassifier(n_estimators=3).fit(features, two_outputs), names) is None
    assert forest_classifier_predictor(RandomForestClassifier(n_estimators=3), names) is None  # not fitted
    assert forest_classifier_predictor(make_pipeline(StandardScaler(), LogisticRegression()), ["x"]) is None


def _customers() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.uniform(18, 80, 200), "plan": rng.choice(["basic", "pro", "max"], 200)})
    return frame, np.where(frame["age"] > 45, "churn", "stay")


@pytest.mark.parametrize("middle", [None, "passthrough", StandardScaler()])
def test_a_pipeline_ending_in_a_forest_answers_as_its_own_predict(middle: Any) -> None:
    frame, target = _customers()
    preprocess = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])],
        sparse_threshold=0.0,
    )
    pipeline = Pipeline(
        [("preprocess", preprocess), ("middle", middle), ("model", RandomForestClassifier(20, random_state=0))]
    ).fit(frame, target)
    predictor = forest_classifier_predictor(pipeline, ["age", "plan"])
    assert predictor is not None
    assert predictor.in_pipeline
    unseen = pd.DataFrame({"age": [30.0, 70.0], "plan": ["gold", "pro"]})
    for rows in (frame.head(1), frame, unseen):
        assert_same_answers(predictor, pipeline, rows)


def test_a_pipeline_whose_forest_takes_a_sparse_matrix_or_a_frame() -> None:
    frame, target = _customers()
    sparse = make_pipeline(OneHotEncoder(), RandomForestClassifier(5, random_state=0)).fit(frame[["plan"]], target)
    predictor = forest_classifier_predictor(sparse, ["plan"])
    assert predictor is not None
    assert_same_answers(predictor, sparse, frame[["plan"]].head(3))
    encode = ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["plan"])], remainder="passthrough")
    framed = make_pipeline(encode, RandomForestClassifier(5, random_state=0)).set_output(transform="pandas")
    assert forest_classifier_predictor(framed.fit(frame, target), ["age", "plan"]) is None
