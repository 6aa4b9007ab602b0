"""The forest predictor answers exactly what the forest's own predict and predict_proba answer,
and declines whatever it does not take, so the forest answers those itself."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.ml.forest import forest_classifier_predictor


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    return data.data, data.target


def _iris_named() -> tuple[np.ndarray, np.ndarray]:
    data = load_iris()
    return data.data, np.array(["setosa", "versicolor", "virginica"])[data.target]


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
    predictor = forest_classifier_predictor(forest, [f"x{i}" for i in range(features.shape[1])])
    assert predictor is not None
    for rows in (features[:1], features[:7], features):
        probabilities = predictor.predict_proba(np.ascontiguousarray(rows))
        assert probabilities is not None
        assert np.array_equal(probabilities, forest.predict_proba(rows))
        assert np.array_equal(predictor.predict(probabilities), forest.predict(rows))
    integers = np.rint(features[:5]).astype(np.int64)
    ints_answer = predictor.predict_proba(integers)
    assert ints_answer is not None and np.array_equal(ints_answer, forest.predict_proba(integers))


def test_feature_names_must_be_the_signature_order() -> None:
    features, target = _breast_cancer()
    names = [f"x{i}" for i in range(features.shape[1])]
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(pd.DataFrame(features, columns=names), target)
    assert forest_classifier_predictor(forest, names) is not None
    assert forest_classifier_predictor(forest, list(reversed(names))) is None


def test_other_estimators_are_declined() -> None:
    features, target = _breast_cancer()

    class Forest(RandomForestClassifier):
        pass

    names = [f"x{i}" for i in range(features.shape[1])]
    two_outputs = np.column_stack([target, 1 - target])
    assert forest_classifier_predictor(Forest(n_estimators=3).fit(features, target), names) is None
    assert forest_classifier_predictor(RandomForestRegressor(n_estimators=3).fit(features, target), names) is None
    assert forest_classifier_predictor(RandomForestClassifier(n_estimators=3).fit(features, two_outputs), names) is None
    assert forest_classifier_predictor(RandomForestClassifier(n_estimators=3), names) is None  # not fitted


def test_inputs_it_does_not_take_are_left_to_the_forest() -> None:
    features, target = _breast_cancer()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)
    predictor = forest_classifier_predictor(forest, [f"x{i}" for i in range(features.shape[1])])
    assert predictor is not None
    too_large = features[:2].copy()
    too_large[0, 0] = 1e39  # a finite double, but past float32's range
    missing = features[:2].copy()
    missing[1, 3] = np.nan
    assert predictor.predict_proba(too_large) is None
    assert predictor.predict_proba(missing) is None
    assert predictor.predict_proba(features[:2, :-1]) is None
    assert predictor.predict_proba(features[:2].astype(object)) is None


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
    unseen = pd.DataFrame({"age": [30.0, 70.0], "plan": ["gold", "pro"]})
    for rows in (frame.head(1), frame, unseen):
        probabilities = predictor.predict_proba(rows)
        assert probabilities is not None
        assert np.array_equal(probabilities, pipeline.predict_proba(rows))
        assert np.array_equal(predictor.predict(probabilities), pipeline.predict(rows))


def test_a_pipeline_is_declined_when_its_forest_takes_a_frame_or_a_sparse_matrix() -> None:
    frame, target = _customers()
    encode = ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["plan"])], remainder="passthrough")
    framed = make_pipeline(encode, RandomForestClassifier(5, random_state=0)).set_output(transform="pandas")
    assert forest_classifier_predictor(framed.fit(frame, target), ["age", "plan"]) is None
    sparse = make_pipeline(OneHotEncoder(), RandomForestClassifier(5, random_state=0)).fit(frame[["plan"]], target)
    predictor = forest_classifier_predictor(sparse, ["plan"])
    assert predictor is not None
    assert predictor.predict_proba(frame[["plan"]].head(3)) is None  # the forest takes the sparse matrix itself
    assert forest_classifier_predictor(make_pipeline(StandardScaler(), LogisticRegression()), ["x"]) is None
