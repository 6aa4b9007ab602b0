"""A random forest's class probabilities summed tree by tree in the calling thread.

scikit-learn's forest predict hands each tree to joblib, whose scikit-learn wrapper re-enters the
scikit-learn config and re-applies every warning filter of the process for every tree: for one row
and 50 trees that is most of the call (about 2.7 ms of CPU against 0.5 ms here), and it grows with
each filter a library of the server registers. The sums are those ForestClassifier.predict_proba
makes, in the same order and dtype, so the answers are the same to the bit; whatever this does not
take (other estimators, several outputs, values a float32 cannot hold) the forest answers itself.
A pipeline ending in such a forest (what Shipyard's training builds) runs its steps as its own
predict runs them, then this."""

from collections.abc import Sequence
from typing import Any

import numpy as np

# Exact classes, not subclasses: a subclass may predict otherwise.
PIPELINE = "sklearn.pipeline.Pipeline"
FOREST_CLASSIFIERS = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
    }
)


class ForestClassifierPredictor:
    """Predicts for one fitted single-output forest classifier, alone (fed a 2-D array in its
    feature order) or at the end of a pipeline (fed what the pipeline takes)."""

    def __init__(self, forest: Any, steps: Sequence[Any] = ()) -> None:
        self._forest = forest
        # The pipeline's transforms before the forest, in order.
        self._steps = tuple(steps)
        self._trees = tuple(forest.estimators_)
        self._n_classes = int(forest.n_classes_)
        self._n_features = int(forest.n_features_in_)

    @property
    def in_pipeline(self) -> bool:
        return bool(self._steps)

    def predict(self, features: Any, with_probabilities: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The classes, and the class probabilities when asked, as the estimator's own
        predict and predict_proba give them."""
        for step in self._steps:
            features = step.transform(features)
        probabilities = self._summed(features)
        if probabilities is None:
            predictions = self._forest.predict(features)
            return predictions, self._forest.predict_proba(features) if with_probabilities else None
        # The classes from the probabilities once, as ForestClassifier.predict picks them.
        predictions = self._forest.classes_.take(np.argmax(probabilities, axis=1), axis=0)
        return predictions, probabilities if with_probabilities else None

    def _summed(self, features: Any) -> np.ndarray | None:
        """The trees' mean probabilities; None for what the forest checks and converts itself (a
        frame, a sparse matrix, a value past float32's range, a missing one)."""
        if (
            not isinstance(features, np.ndarray)
            or features.ndim != 2
            or features.shape[1] != self._n_features
            or features.dtype.kind not in "fiu"
        ):
            return None
        with np.errstate(over="ignore"):  # the forest warns of that overflow itself
            matrix = np.asarray(features, dtype=np.float32)  # what the forest's input check converts to
        if not bool(np.isfinite(matrix).all()):
            return None
        total = np.zeros((matrix.shape[0], self._n_classes), dtype=np.float64)
        for tree in self._trees:
            total += tree.predict_proba(matrix, check_input=False)
        total /= len(self._trees)
        return total


def forest_classifier_predictor(estimator: Any, feature_order: Sequence[str]) -> ForestClassifierPredictor | None:
    """A predictor for `estimator` when it is a fitted single-output forest classifier whose
    feature names (if it was fitted with any) are `feature_order`, or a pipeline ending in one
    fitted on its steps' plain arrays; None otherwise."""
    if _class_path(estimator) == PIPELINE:
        *head, (_, forest) = estimator.steps
        # Pipeline.predict skips the steps set to None or "passthrough".
        steps = [step for _, step in head if step is not None and not (isinstance(step, str) and step == "passthrough")]
        if not _is_forest(forest) or hasattr(forest, "feature_names_in_"):
            return None
        return ForestClassifierPredictor(forest, steps)
    if not _is_forest(estimator):
        return None
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and list(names) != list(feature_order):
        return None
    return ForestClassifierPredictor(estimator)


def _is_forest(estimator: Any) -> bool:
    return (
        _class_path(estimator) in FOREST_CLASSIFIERS
        and getattr(estimator, "n_outputs_", None) == 1
        and bool(getattr(estimator, "estimators_", None))
    )


def _class_path(estimator: Any) -> str:
    kind = type(estimator)
    return f"{kind.__module__}.{kind.__qualname__}"
