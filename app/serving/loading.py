"""A model version loaded for serving: fetched from the store into a temporary folder, loaded
only through load_model_folder (allow-list, hashes, tree bounds), and warmed on its own example."""

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import ArtifactNotFound, ModelError, PredictionInputInvalid, WarmupFailed
from app.ml.forest import ForestClassifierPredictor, forest_classifier_predictor
from app.ml.model_io import ModelFormatError, load_model_folder
from app.registry import packaging
from app.serving.payload import Batch, Column, model_input, parse_request
from app.storage import ArtifactStore


@dataclass(frozen=True)
class LoadedModel:
    model_name: str
    version: int
    estimator: Any
    signature: tuple[Column, ...]
    # Fitted on a DataFrame (it knows feature names): fed one; otherwise a plain 2-D array.
    as_frame: bool
    example: dict[str, Any] | None
    # A random forest classifier, predicted tree by tree without joblib's per-tree cost (app.ml.forest).
    forest: ForestClassifierPredictor | None = None

    def predict(self, batch: Batch) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions (and class probabilities when asked); ModelError when the model raises."""
        if batch.return_proba and not hasattr(self.estimator, "predict_proba"):
            raise PredictionInputInvalid(
                f"version {self.version} of {self.model_name!r} gives no class probabilities", field="return_proba"
            )
        try:
            predictions, probabilities = self._predict(batch)
        except Exception as exc:
            raise ModelError(f"the model raised {type(exc).__name__}: {str(exc)[:300]}") from exc
        for values in (predictions, probabilities):
            if values is not None and values.dtype.kind == "f" and not bool(np.isfinite(values).all()):
                raise ModelError("the model answered with a value that is not a finite number")
        return predictions.tolist(), probabilities.tolist() if probabilities is not None else None

    def _predict(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        if self.forest is not None:
            return self.forest.predict(self._forest_input(batch), batch.return_proba)
        features = model_input(batch, self.signature, self.as_frame)
        predictions = np.asarray(self.estimator.predict(features))
        return predictions, np.asarray(self.estimator.predict_proba(features)) if batch.return_proba else None

    def _forest_input(self, batch: Batch) -> Any:
        """What the model was fitted on, but for a bare forest fitted on a frame of doubles: the
        rows as one array (the frame's values exactly), without building the frame."""
        if self.as_frame and batch.matrix is not None and self.forest is not None and not self.forest.in_pipeline:
            return batch.matrix
        return model_input(batch, self.signature, self.as_frame)


def load_version(
    store: ArtifactStore, model_name: str, version: int, prefix: str, *, max_ratio: float, min_bytes: int
) -> LoadedModel:
    """Load a version from the store and predict its input example; WarmupFailed says why not."""
    with tempfile.TemporaryDirectory(prefix="shipyard-serve-") as tmp:
        folder = Path(tmp)
        try:
            packaging.download_prefix(store, prefix, folder)
            manifest, estimator = load_model_folder(folder, max_ratio=max_ratio, min_bytes=min_bytes)
        except ArtifactNotFound as exc:
            raise WarmupFailed(f"version {version} of {model_name!r} has no files in the store") from exc
        except ModelFormatError as exc:
            raise WarmupFailed(f"version {version} of {model_name!r} does not load: {exc}") from exc
    signature = tuple(Column(c.name, c.type) for c in manifest.signature.inputs)
    loaded = LoadedModel(
        model_name=model_name,
        version=version,
        estimator=estimator,
        signature=signature,
        as_frame=hasattr(estimator, "feature_names_in_"),
        example=manifest.input_example.model_dump() if manifest.input_example else None,
        forest=forest_classifier_predictor(estimator, [c.name for c in signature]),
    )
    warm(loaded)
    return loaded


def warm(loaded: LoadedModel) -> None:
    if loaded.example is None or not loaded.example["data"]:
        raise WarmupFailed(f"version {loaded.version} of {loaded.model_name!r} has no input example to warm up with")
    try:
        batch = parse_request(
            {"dataframe_split": loaded.example}, loaded.signature, max_rows=len(loaded.example["data"])
        )
        loaded.predict(batch)
    except (PredictionInputInvalid, ModelError) as exc:
        raise WarmupFailed(
            f"version {loaded.version} of {loaded.model_name!r} fails on its own input example: {exc.detail}"
        ) from exc
