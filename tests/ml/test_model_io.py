"""The allow-list is wide enough for what models really hold and no wider: every trainable
estimator and the common pipelines load, and functions outside the short list are refused."""

import importlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from scipy import sparse
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import dump_svmlight_file, make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.feature_selection import SelectKBest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from app.ml.model_io import ModelFormatError, load_model_file, looks_like_pickle
from app.ml.training import ESTIMATORS, TrainSpec, check_spec, train
from shipyard.model_trust import TRUSTED_FUNCTIONS, TRUSTED_TYPES, trusted_names


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    X, y = make_classification(n_samples=120, n_features=3, n_informative=3, n_redundant=0, random_state=1)
    df = pd.DataFrame(X, columns=["tenure", "spend", "calls"])
    df["segment"] = np.where(X[:, 0] > 0, "retail", "business")
    df.loc[::7, "spend"] = np.nan
    df["churned"] = y
    df["amount"] = X[:, 1] * 10 + 3
    return df


def round_trip(estimator: Any, tmp_path: Path) -> Any:
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    return load_model_file(path)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_trainable_estimator_loads_as_the_training_job_saves_it(
    estimator: str, frame: pd.DataFrame, tmp_path: Path
) -> None:
    task = ESTIMATORS[estimator].task
    target = "churned" if task == "classification" else "amount"
    data = frame.drop(columns=["amount" if target == "churned" else "churned"])
    spec = TrainSpec.model_validate({"dataset": "d@latest", "target": target, "estimator": estimator})
    result = train(check_spec(spec, list(data.columns)), data)

    loaded = round_trip(result.model, tmp_path)

    example = result.input_example
    assert np.asarray(loaded.predict(example)).tolist() == np.asarray(result.model.predict(example)).tolist()


def common_pipelines() -> dict[str, Any]:
    numeric, categorical = ["tenure", "spend", "calls"], ["segment"]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                categorical,
            ),
        ]
    )
    ordinal = ColumnTransformer(
        [
            ("num", SimpleImputer(), numeric),
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
        ]
    )
    return {
        "column transformer + logistic regression": Pipeline([("pre", pre), ("model", LogisticRegression())]),
        "log1p then scaler + extra trees": make_pipeline(
            ordinal, FunctionTransformer(np.log1p, inverse_func=np.expm1), MinMaxScaler(), ExtraTreesClassifier(5)
        ),
        "feature union + select k best + sgd": make_pipeline(
            ordinal,
            FeatureUnion([("pca", PCA(2)), ("poly", PolynomialFeatures(2))]),
            SelectKBest(k=3),
            SGDClassifier(random_state=0),
        ),
        "voting": make_pipeline(
            pre, VotingClassifier([("lr", LogisticRegression()), ("knn", KNeighborsClassifier())], voting="soft")
        ),
        "stacking": make_pipeline(
            pre, StackingClassifier([("lr", LogisticRegression()), ("mlp", MLPClassifier((4,), max_iter=50))])
        ),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", list(common_pipelines()))
def test_common_pipelines_load(kind: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    X = frame[["tenure", "spend", "calls", "segment"]]
    model = common_pipelines()[kind].fit(X, frame["churned"])
    assert round_trip(model, tmp_path).predict(X).tolist() == model.predict(X).tolist()


def test_a_regressor_with_a_listed_function_pair_loads(frame: pd.DataFrame, tmp_path: Path) -> None:
    X = frame[["tenure", "calls"]]
    model = TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1).fit(X, frame["amount"].abs())
    assert round_trip(model, tmp_path).predict(X).tolist() == model.predict(X).tolist()


@pytest.mark.parametrize(
    ("func", "named"),
    [
        (dump_svmlight_file, "sklearn.datasets._svmlight_format_io.dump_svmlight_file"),
        (np.load, "numpy.load"),
        (np.fromfile, "numpy.fromfile"),
        (np.savetxt, "numpy.savetxt"),
        (np.frexp, "numpy.frexp"),  # a ufunc skops trusts by default, not on the short list
        (json.loads, "json.loads"),
    ],
)
def test_a_function_off_the_list_is_refused_by_name(func: Any, named: str, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(make_pipeline(FunctionTransformer(func=func), StandardScaler()), path)
    with pytest.raises(ModelFormatError) as refused:
        load_model_file(path)
    assert refused.value.kind == "untrusted"
    assert refused.value.untrusted_types == [named]
    assert named in str(refused.value)


def test_a_bound_method_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(FunctionTransformer(func=StandardScaler().fit), path)
    with pytest.raises(ModelFormatError) as refused:
        load_model_file(path)
    assert any(name.endswith("StandardScaler.fit") for name in refused.value.untrusted_types)


def test_the_list_names_exact_things_that_exist() -> None:
    assert len(set(TRUSTED_TYPES)) == len(TRUSTED_TYPES)
    assert not any(name.endswith((".", "*")) for name in TRUSTED_TYPES + TRUSTED_FUNCTIONS)
    missing = []
    for name in TRUSTED_TYPES + TRUSTED_FUNCTIONS:
        module, _, attribute = name.rpartition(".")
        if not hasattr(importlib.import_module(module), attribute):
            missing.append(name)
    assert missing == []
    # What the file format names (the defining module) is trusted along with the public name.
    assert "sklearn.ensemble._forest.RandomForestClassifier" in trusted_names()
    assert "numpy.load" not in trusted_names()
    assert not any(name.startswith("sklearn.datasets") for name in trusted_names())


def test_a_model_holding_a_sparse_matrix_loads(frame: pd.DataFrame, tmp_path: Path) -> None:
    X = sparse.csr_matrix(frame[["tenure", "calls"]].to_numpy())
    model = KNeighborsClassifier(3, algorithm="brute").fit(X, frame["churned"])
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    with zipfile.ZipFile(path) as archive:
        assert any(name.endswith(".npz") for name in archive.namelist())
    assert load_model_file(path).predict(X).tolist() == model.predict(X).tolist()


@pytest.mark.parametrize("seed", range(20))
def test_binary_and_text_files_are_not_taken_for_pickles(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    samples = {
        "random.bin": rng.bytes(4096),
        "array.npy": b"",
        "table.csv": pd.DataFrame(rng.normal(size=(50, 3))).to_csv().encode(),
        "notes.md": b"# Notes\n\nIntended use: scoring. Not for credit decisions.\n",
    }
    np.save(tmp_path / "array.npy", rng.normal(size=(seed + 1, 3)))
    samples["array.npy"] = (tmp_path / "array.npy").read_bytes()
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert not looks_like_pickle(path), name


def crafted_tree(tree: Any, field: str, node: int, value: int) -> Any:
    """A copy of `tree` whose node array says something else: what a hostile file would hold."""
    cls, args, state = tree.__reduce__()
    state["nodes"][field][node] = value
    copy = cls(*args)
    copy.__setstate__(state)
    return copy


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("left_child", 10**6, "left child"),
        ("right_child", 0, "right child"),  # back to the root: prediction would never end
        ("feature", 50, "feature"),
        ("feature", -7, "feature"),
    ],
)
def test_a_tree_whose_nodes_point_outside_is_refused(
    frame: pd.DataFrame, tmp_path: Path, field: str, value: int, message: str
) -> None:
    X = frame[["tenure", "calls"]]
    model = RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, frame["churned"])
    model.estimators_[1].tree_ = crafted_tree(model.estimators_[1].tree_, field, 0, value)
    path = tmp_path / "model.skops"
    sio.dump(model, path)  # never predicted with here: the process could crash
    with pytest.raises(ModelFormatError, match=message) as refused:
        load_model_file(path)
    assert refused.value.kind == "unsafe"


def test_a_boosted_tree_reading_past_its_input_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    X = frame[["tenure", "calls"]]
    model = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, frame["churned"])
    # The stage claims a wider input than the ensemble it belongs to is given.
    stage = model.estimators_[0, 0]
    stage.n_features_in_ = 40
    cls, (_, *rest), state = stage.tree_.__reduce__()
    state["nodes"]["feature"][0] = 30
    wide = cls(40, *rest)
    wide.__setstate__(state)
    stage.tree_ = wide
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    with pytest.raises(ModelFormatError, match="feature"):
        load_model_file(path)


@pytest.mark.parametrize(("field", "value"), [("left", 10**5), ("right", 0), ("feature_idx", 9)])
def test_a_histogram_tree_whose_nodes_point_outside_is_refused(
    frame: pd.DataFrame, tmp_path: Path, field: str, value: int
) -> None:
    X = frame[["tenure", "calls"]]
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, frame["churned"])
    predictor = model._predictors[0][0]
    internal = int(np.flatnonzero(predictor.nodes["is_leaf"] == 0)[0])
    predictor.nodes[field][internal] = value
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    with pytest.raises(ModelFormatError, match="malformed tree"):
        load_model_file(path)
