"""The model format: a folder with the estimator serialized by skops and a `model.json`
manifest. Loading trusts only the allow-list of `shipyard.model_trust`, so a model file can never act."""

import hashlib
import json
import platform
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.model_trust import (
    COMPRESSION_RATIO_MIN_BYTES,
    MAX_COMPRESSION_RATIO,
    UnsafeModelFile,
    check_relative_path,
    check_skops_archive,
    find_pickles,
    schema_names,
    untrusted,
)

# skops is imported by the functions that read or write model files: it pulls in scikit-learn
# (~100 MB and ~2 s), which the API process should pay only once it validates or loads a model.
MANIFEST_FILE = "model.json"
MODEL_FILE = "model.skops"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")


# What kind of refusal: "format" is a model that is merely broken or incomplete; the others are
# files that could act or escape (untrusted types, pickles, paths, unlisted or special files, bombs).
ErrorKind = Literal["format", "untrusted", "pickle", "path", "unlisted", "unsafe", "too_large"]


class ModelFormatError(ValueError):
    """The files are not a model Shipyard can load safely; the message says why."""

    def __init__(
        self,
        message: str,
        *,
        untrusted_types: list[str] | None = None,
        is_pickle: bool = False,
        kind: ErrorKind = "format",
    ) -> None:
        super().__init__(message)
        self.untrusted_types = untrusted_types or []
        self.is_pickle = is_pickle
        self.kind = kind


class ColumnSpec(BaseModel):
    name: str
    type: str


class Signature(BaseModel):
    inputs: list[ColumnSpec] = Field(min_length=1)
    outputs: list[ColumnSpec] = Field(min_length=1)


class InputExample(BaseModel):
    columns: list[str]
    data: list[list[Any]]


class Manifest(BaseModel):
    """model.json: what a model version must say about itself to be READY."""

    model_config = ConfigDict(extra="allow")

    format_version: Literal[1] = 1
    flavor: Literal["sklearn"]
    model_file: str = MODEL_FILE
    estimator: str
    python_version: str
    library_versions: dict[str, str]
    signature: Signature
    input_example: InputExample | None = None
    artifacts: dict[str, str] = Field(description="SHA-256 of each file, by relative path.")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def looks_like_pickle(
    path: Path,
    *,
    label: str | None = None,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    min_bytes: int = COMPRESSION_RATIO_MIN_BYTES,
) -> bool:
    """Pickle/joblib by name or by content: a pickle of any protocol, compressed (gzip, bz2, xz)
    or inside a zip or tar archive. Raises ModelFormatError for a file unsafe in another way."""
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    try:
        find_pickles(path, label=label, max_ratio=max_ratio, min_bytes=min_bytes)
    except UnsafeModelFile as exc:
        if exc.is_pickle:
            return True
        raise _unsafe(exc) from exc
    return False


def _unsafe(exc: UnsafeModelFile) -> ModelFormatError:
    kind: ErrorKind = "pickle" if exc.is_pickle else "too_large" if exc.too_large else "unsafe"
    return ModelFormatError(str(exc), is_pickle=exc.is_pickle, kind=kind)


def _skops_types(model_path: Path, *, max_ratio: float, min_bytes: int) -> tuple[list[str], list[str]]:
    """What a skops file names (types and functions, from its schema), and what skops itself
    would need trusted beyond its defaults, after checking the archive's members."""
    import skops.io as sio

    try:
        schema = check_skops_archive(model_path, max_ratio=max_ratio, min_bytes=min_bytes)
    except UnsafeModelFile as exc:
        raise _unsafe(exc) from exc
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from exc
    try:
        reported: list[str] = sio.get_untrusted_types(file=model_path)
    except Exception as exc:  # skops raises many kinds on a damaged archive
        raise ModelFormatError(f"{model_path.name} cannot be read by skops: {exc}") from exc
    return sorted(schema_names(schema) | set(reported)), reported


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    if path.is_symlink() or not path.is_file():
        raise ModelFormatError(f"the model has no {MANIFEST_FILE}")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ModelFormatError(f"{MANIFEST_FILE} is incomplete: {problems}") from exc


def validate_model_folder(
    folder: Path, *, max_ratio: float = MAX_COMPRESSION_RATIO, min_bytes: int = COMPRESSION_RATIO_MIN_BYTES
) -> Manifest:
    """Check a downloaded model folder the way the registry does before marking it READY:
    only listed files, no pickles, a complete manifest whose paths stay inside the folder,
    matching hashes, only trusted types, and it loads."""
    return load_model_folder(folder, max_ratio=max_ratio, min_bytes=min_bytes)[0]


def folder_files(folder: Path) -> list[str]:
    """Every file below `folder`, relative to it; a link, device or fifo anywhere is refused."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ModelFormatError(f"{relative} is a link or a special file, not a plain file", kind="unsafe")
        if path.is_file():
            found.append(relative)
    return sorted(found)


def manifest_path(folder: Path, raw: str, field: str) -> str:
    """A path from the manifest, refused unless it is a plain relative path that stays inside the
    folder. Checked on the text alone, so the refusal says nothing about what exists on disk."""
    try:
        relative = check_relative_path(raw)
    except ValueError as exc:
        raise ModelFormatError(f"{MANIFEST_FILE} {field}: {exc}", kind="path") from exc
    if not folder.joinpath(*relative.split("/")).resolve().is_relative_to(folder.resolve()):
        raise ModelFormatError(f"{MANIFEST_FILE} {field}: the path leaves the model folder", kind="path")
    return relative


def load_model_folder(
    folder: Path, *, max_ratio: float = MAX_COMPRESSION_RATIO, min_bytes: int = COMPRESSION_RATIO_MIN_BYTES
) -> tuple[Manifest, Any]:
    """validate_model_folder, and the model it loaded."""
    present = folder_files(folder)
    for relative in present:
        path = folder.joinpath(*relative.split("/"))
        if looks_like_pickle(path, label=relative, max_ratio=max_ratio, min_bytes=min_bytes):
            raise ModelFormatError(
                f"{relative} is or holds a pickle/joblib file; these can run code when loaded and are "
                "refused. Save the model with skops (shipyard's log_model does)",
                is_pickle=True,
                kind="pickle",
            )
    manifest = read_manifest(folder)
    listed = {
        manifest_path(folder, key, f"artifacts key {key!r}"): expected for key, expected in manifest.artifacts.items()
    }
    model_file = manifest_path(folder, manifest.model_file, "model_file")
    if model_file not in listed:
        raise ModelFormatError(f"{MANIFEST_FILE} model_file must be one of the files listed in artifacts", kind="path")
    unlisted = sorted(set(present) - set(listed) - {MANIFEST_FILE})
    if unlisted:
        raise ModelFormatError(
            f"the model folder holds files its {MANIFEST_FILE} does not list: {', '.join(unlisted)}", kind="unlisted"
        )
    for relative, expected in listed.items():
        if relative not in present:
            raise ModelFormatError(f"the manifest lists {relative}, which is missing")
        if sha256_file(folder.joinpath(*relative.split("/"))) != expected:
            raise ModelFormatError(f"{relative} does not match the SHA-256 in the manifest")
    model = load_model_file(folder.joinpath(*model_file.split("/")), max_ratio=max_ratio, min_bytes=min_bytes)
    return manifest, model


def load_model_file(
    model_path: Path, *, max_ratio: float = MAX_COMPRESSION_RATIO, min_bytes: int = COMPRESSION_RATIO_MIN_BYTES
) -> Any:
    import skops.io as sio

    if not zipfile.is_zipfile(model_path):
        raise ModelFormatError(f"{model_path.name} is not a skops file")
    named, reported = _skops_types(model_path, max_ratio=max_ratio, min_bytes=min_bytes)
    refused = untrusted(named)
    if refused:
        raise ModelFormatError(
            f"{model_path.name} holds types or functions outside the allow-list: {', '.join(refused)}",
            untrusted_types=refused,
            kind="untrusted",
        )
    try:
        model = sio.load(model_path, trusted=reported)
    except Exception as exc:
        raise ModelFormatError(f"{model_path.name} does not load: {exc}") from exc
    check_tree_structures(model, model_path.name)
    return model


# Attributes through which an ensemble hands its own input, unchanged, to what they hold: a tree
# below them may read no feature its ensemble was not given.
_SAME_INPUT_ATTRIBUTES = ("estimators_", "estimator_", "_predictors", "tree_")


def check_tree_structures(model: Any, where: str) -> None:
    """Refuse tree node arrays that scikit-learn's compiled predict would follow out of bounds.

    skops loads a Tree's or TreePredictor's node indices as the file gives them, and prediction
    indexes with them unchecked (skops' UNTRUSTED_TYPE_REASONS): a crafted file could read memory
    or crash the process. Each tree must be well formed: children after their parent and inside
    the array, and features inside the input its owner accepts."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(model, None)]
    while stack:
        item, bound = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Tree):
            _check_tree(item, bound, where)
        elif isinstance(item, TreePredictor):
            _check_predictor(item, bound, where)
        elif isinstance(item, dict):
            stack.extend((value, bound) for value in item.values())
        elif isinstance(item, list | tuple) or (isinstance(item, np.ndarray) and item.dtype == object):
            stack.extend((value, bound) for value in item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            declared = getattr(item, "n_features_in_", None)
            own = int(declared) if isinstance(declared, int | np.integer) else None
            widths = [width for width in (own, bound) if width is not None]
            given = min(widths) if widths else None
            # Only what is handed the same input inherits the width; a pipeline's steps see other columns.
            stack.extend(
                (value, given if name in _SAME_INPUT_ATTRIBUTES else None) for name, value in vars(item).items()
            )


def _refuse_tree(where: str, what: str) -> ModelFormatError:
    return ModelFormatError(f"{where} holds a malformed tree: {what}", kind="unsafe")


def _check_children(left: Any, right: Any, internal: Any, count: int, where: str) -> None:
    index = np.arange(count)
    for side, children in (("left", left), ("right", right)):
        inside = (children[internal] > index[internal]) & (children[internal] < count)
        if not bool(inside.all()):
            raise _refuse_tree(where, f"a {side} child points outside the tree or back up it")


def _check_tree(tree: Any, bound: int | None, where: str) -> None:
    nodes = tree.__getstate__()["nodes"]
    count = int(tree.node_count)
    if not 0 < count <= len(nodes):
        raise _refuse_tree(where, f"node_count {count} for {len(nodes)} nodes")
    left, right = nodes["left_child"][:count], nodes["right_child"][:count]
    feature = nodes["feature"][:count]
    leaf = left == -1
    if not bool((right[leaf] == -1).all()):
        raise _refuse_tree(where, "a node has one child")
    internal = ~leaf
    _check_children(left, right, internal, count, where)
    limit = min(int(tree.n_features), bound) if bound is not None else int(tree.n_features)
    if not bool(((feature[internal] >= 0) & (feature[internal] < limit)).all()):
        raise _refuse_tree(where, f"a split on a feature outside the {limit} it is given")


def _check_predictor(predictor: Any, bound: int | None, where: str) -> None:
    nodes = predictor.nodes
    count = len(nodes)
    if count == 0:
        raise _refuse_tree(where, "a tree without nodes")
    internal = nodes["is_leaf"] == 0
    _check_children(nodes["left"], nodes["right"], internal, count, where)
    feature = nodes["feature_idx"]
    if bound is None or not bool(((feature[internal] >= 0) & (feature[internal] < bound)).all()):
        raise _refuse_tree(where, "a split on a feature outside the input")
    categorical = internal & (nodes["is_categorical"] != 0)
    bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if not bool((nodes["bitset_idx"][categorical] < bitsets).all()):
        raise _refuse_tree(where, "a categorical split outside its bitsets")


def save_model_folder(
    estimator: Any, folder: Path, *, signature: dict[str, Any], input_example: Any, extra: dict[str, Any]
) -> Manifest:
    """Write `estimator` as a model folder (skops file + manifest), as training jobs register it."""
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / MODEL_FILE
    sio.dump(estimator, model_path)
    example = json.loads(input_example.head(5).to_json(orient="split", index=False, date_format="iso"))
    manifest = Manifest.model_validate(
        {
            "flavor": "sklearn",
            "model_file": MODEL_FILE,
            "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "python_version": platform.python_version(),
            "library_versions": {name: _version_of(name) for name in ("scikit-learn", "skops", "numpy", "pandas")},
            "signature": signature,
            "input_example": {"columns": [str(c) for c in example["columns"]], "data": example["data"]},
            "artifacts": {MODEL_FILE: sha256_file(model_path)},
            **extra,
        }
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    return manifest


def _version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
