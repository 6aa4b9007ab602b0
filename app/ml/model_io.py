"""The model format: a folder with the estimator serialized by skops and a `model.json`
manifest. Loading trusts only an allow-list of types, so a model file can never run code."""

import hashlib
import json
import platform
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# skops is imported by the functions that read or write model files: it pulls in scikit-learn
# (~100 MB and ~2 s), which the API process should pay only once it validates or loads a model.
MANIFEST_FILE = "model.json"
MODEL_FILE = "model.skops"
# Beyond what skops trusts by default, types from these packages may appear in a model;
# anything else (a user's own class, os.system, builtins.eval …) makes the file untrusted.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.", "scipy.stats.")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")


class ModelFormatError(ValueError):
    """The files are not a model Shipyard can load safely; the message says why."""

    def __init__(self, message: str, *, untrusted_types: list[str] | None = None, is_pickle: bool = False) -> None:
        super().__init__(message)
        self.untrusted_types = untrusted_types or []
        self.is_pickle = is_pickle


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


def is_trusted_type(name: str) -> bool:
    return name.startswith(TRUSTED_MODULE_PREFIXES)


def looks_like_pickle(path: Path) -> bool:
    """Pickle/joblib by name or by content: protocol 2+ pickles open with byte 0x80."""
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    with path.open("rb") as handle:
        head = handle.read(4)
    return head[:1] == b"\x80"


def _skops_types(model_path: Path) -> list[str]:
    """The types a skops file would need trusted beyond skops' own defaults."""
    import skops.io as sio

    if not zipfile.is_zipfile(model_path):
        raise ModelFormatError(f"{model_path.name} is not a skops file")
    try:
        found: list[str] = sio.get_untrusted_types(file=model_path)
    except Exception as exc:  # skops raises many kinds on a damaged archive
        raise ModelFormatError(f"{model_path.name} cannot be read by skops: {exc}") from exc
    return found


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ModelFormatError(f"the model has no {MANIFEST_FILE}")
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ModelFormatError(f"{MANIFEST_FILE} is incomplete: {problems}") from exc


def validate_model_folder(folder: Path) -> Manifest:
    """Check a downloaded model folder the way the registry does before marking it READY:
    no pickles, a complete manifest, matching hashes, only trusted types, and it loads."""
    return load_model_folder(folder)[0]


def load_model_folder(folder: Path) -> tuple[Manifest, Any]:
    """validate_model_folder, and the model it loaded."""
    for path in folder.rglob("*"):
        if path.is_file() and looks_like_pickle(path):
            raise ModelFormatError(
                f"{path.relative_to(folder)} is a pickle/joblib file; these can run code when loaded and are "
                "refused. Save the model with skops (shipyard's log_model does)",
                is_pickle=True,
            )
    manifest = read_manifest(folder)
    for relative, expected in manifest.artifacts.items():
        path = folder / relative
        if not path.is_file():
            raise ModelFormatError(f"the manifest lists {relative}, which is missing")
        if sha256_file(path) != expected:
            raise ModelFormatError(f"{relative} does not match the SHA-256 in the manifest")
    model_path = folder / manifest.model_file
    if not model_path.is_file():
        raise ModelFormatError(f"the model file {manifest.model_file} is missing")
    return manifest, load_model_file(model_path)


def load_model_file(model_path: Path) -> Any:
    import skops.io as sio

    needed = _skops_types(model_path)
    refused = sorted(name for name in needed if not is_trusted_type(name))
    if refused:
        raise ModelFormatError(
            f"{model_path.name} holds types outside the allow-list: {', '.join(refused)}", untrusted_types=refused
        )
    try:
        return sio.load(model_path, trusted=needed)
    except Exception as exc:
        raise ModelFormatError(f"{model_path.name} does not load: {exc}") from exc


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
