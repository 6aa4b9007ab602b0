"""A random forest's class probabilities summed tree by tree in the calling thread.

scikit-learn's forest predict hands each tree to joblib, whose scikit-learn wrapper re-enters the
scikit-learn config and re-applies every warning filter of the process for every tree: for one row
and 50 trees that is most of the call (about 2.7 ms of CPU against 0.5 ms here), and it grows with
each filter a library of the server registers. The sums are those ForestClassifier.predict_proba
makes, in the same order and dtype, so the answers are the same to the bit; whatever this does not
take (other estimators, several outputs, values a float32 cannot hold) the forest answers itself."""

from collections.abc import Sequence
from typing import Any

import numpy as np

# Exact classes, not subclasses: a subclass may predict otherwise.
FOREST_CLASSIFIERS = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
    }
)


class ForestClassifierPredictor:
    """Predicts for one fitted single-output forest classifier, fed a 2-D array in its feature order."""

    def __init__(self, forest: Any) -> None:
        self._trees = tuple(forest.estimators_)
        self._classes = forest.classes_
        self._n_classes = int(forest.n_classes_)
        self._n_features = int(forest.n_features_in_)

    def predict_proba(self, features: np.ndarray) -> np.ndarray | None:
        """The class probabilities, or None when the forest's own predict must answer."""
        if features.ndim != 2 or features.shape[1] != self._n_features or features.dtype.kind not in "fiu":
            return None
        # What the forest's input check converts to; a value past float32's range (or a missing
        # one) is left to the forest, which refuses or predicts it by its own rules.
        with np.errstate(over="ignore"):  # the forest warns of that overflow itself
            matrix = np.asarray(features, dtype=np.float32)
        if not bool(np.isfinite(matrix).all()):
            return None
        total = np.zeros((matrix.shape[0], self._n_classes), dtype=np.float64)
        for tree in self._trees:
            total += tree.predict_proba(matrix, check_input=False)
        total /= len(self._trees)
        return total

    def predict(self, probabilities: np.ndarray) -> np.ndarray:
        """The classes of `probabilities` (from predict_proba), as ForestClassifier.predict picks them."""
        return self._classes.take(np.argmax(probabilities, axis=1), axis=0)


def forest_classifier_predictor(estimator: Any, feature_order: Sequence[str]) -> ForestClassifierPredictor | None:
    """A predictor for `estimator` when it is a fitted single-output forest classifier whose
    feature names (if it was fitted with any) are `feature_order`; None otherwise."""
    kind = type(estimator)
    if f"{kind.__module__}.{kind.__qualname__}" not in FOREST_CLASSIFIERS:
        return None
    if getattr(estimator, "n_outputs_", None) != 1 or not getattr(estimator, "estimators_", None):
        return None
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and list(names) != list(feature_order):
        return None
    return ForestClassifierPredictor(estimator)
