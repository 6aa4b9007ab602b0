"""The client side of the model format: save an estimator as a model folder (skops file +
`model.json` manifest with signature and input example), unpack a downloaded version safely,
and load one back with trusted types only."""

import hashlib
import json
import platform
import re
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError
from shipyard.model_trust import (
    COMPRESSION_RATIO_MIN_BYTES,
    MAX_COMPRESSION_RATIO,
    UnsafeModelFile,
    check_ratio,
    check_relative_path,
    check_skops_archive,
    schema_names,
    untrusted,
)

MANIFEST_FILE = "model.json"
MODEL_FILE = "model.skops"
# numpy, pandas and skops are imported where they are used: together they take about two
# seconds to import, which every CLI call and `import shipyard` would otherwise pay.
_MODEL_URI = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?:(?:@|/)(?P<ref>[A-Za-z0-9_-]{1,64}))?$"
)

PICKLE_FLAVOR = "sklearn-pickle"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
_DRIVE = re.compile(r"^[A-Za-z]:")
_COPY_CHUNK_BYTES = 1024 * 1024

__all__ = [
    "MANIFEST_FILE",
    "MODEL_FILE",
    "PICKLE_FLAVOR",
    "ModelLoadError",
    "extract_model_archive",
    "infer_signature",
    "load_model_folder",
    "load_pickle_folder",
    "parse_model_uri",
    "save_model",
    "sha256_file",
    "verify_files",
]


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`models:/churn@production`, `churn@production`, `models:/churn/3`, `churn/3` or `churn`
    (the newest READY version) -> (name, version number or alias or "latest")."""
    found = _MODEL_URI.match(uri.strip())
    if not found:
        raise ValueError(f"{uri!r} is not a model reference like models:/NAME@ALIAS or models:/NAME/3")
    return found["name"], found["ref"] or "latest"


def _column_type(dtype: Any) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"b": "boolean", "i": "long", "u": "long", "f": "double", "M": "datetime"}.get(kind, "string")


def infer_signature(input_example: Any, predictions: Any) -> dict[str, Any]:
    """Column names and types of the input (a DataFrame, or an array: columns 0..n-1) and the output."""
    import numpy as np
    import pandas as pd

    frame = input_example if isinstance(input_example, pd.DataFrame) else pd.DataFrame(np.asarray(input_example))
    inputs = [{"name": str(column), "type": _column_type(frame[column].dtype)} for column in frame.columns]
    output = np.asarray(predictions)
    outputs = [{"name": "prediction", "type": _column_type(output.dtype)}]
    return {"inputs": inputs, "outputs": outputs}


def _example_payload(input_example: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    frame = input_example if isinstance(input_example, pd.DataFrame) else pd.DataFrame(np.asarray(input_example))
    rows = json.loads(frame.head(5).to_json(orient="split", index=False, date_format="iso"))
    return {"columns": [str(c) for c in rows["columns"]], "data": rows["data"]}


def _version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(estimator: Any, folder: Path, input_example: Any) -> dict[str, Any]:
    """Write `estimator` to `folder` in the registry format and return the manifest."""
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / MODEL_FILE
    sio.dump(estimator, model_path)
    predictions = estimator.predict(input_example)
    manifest = {
        "format_version": 1,
        "flavor": "sklearn",
        "model_file": MODEL_FILE,
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "python_version": platform.python_version(),
        "library_versions": {
            name: version
            for name in ("scikit-learn", "skops", "numpy", "pandas", "scipy")
            if (version := _version_of(name)) is not None
        },
        "signature": infer_signature(input_example, predictions),
        "input_example": _example_payload(input_example),
        "artifacts": {MODEL_FILE: sha256_file(model_path)},
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return manifest


def _member_name(name: str) -> str:
    """A zip member's name, refused unless it is a plain relative path inside the folder."""
    parts = name.rstrip("/").split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or _DRIVE.match(name)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ModelLoadError(f"the archive holds an unsafe path: {name!r}")
    return "/".join(parts)


def extract_model_archive(archive: Path, folder: Path, expected_files: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Unpack a version's zip into `folder`, writing only the files the registry lists.

    Every member name is checked (no absolute paths, drive letters, ``..``, backslashes or
    links), each member must be a listed file of the listed size, and every listed file must be
    there; the SHA-256 check is `verify_files`.
    """
    expected = {str(item["path"]): int(item["size"]) for item in expected_files}
    written: list[Path] = []
    try:
        opened = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError("the download is not a zip archive") from exc
    with opened:
        members = opened.infolist()
        names = [_member_name(member.filename) for member in members]
        _refuse_collisions([name for member, name in zip(members, names, strict=True) if not member.is_dir()])
        for member, name in zip(members, names, strict=True):
            mode = member.external_attr >> 16
            if member.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise ModelLoadError(f"the archive holds a link or a special file: {name!r}")
            if member.is_dir():
                continue
            try:
                check_ratio(
                    member, "the archive", max_ratio=MAX_COMPRESSION_RATIO, min_bytes=COMPRESSION_RATIO_MIN_BYTES
                )
            except UnsafeModelFile as exc:
                raise ModelLoadError(str(exc)) from exc
            if name not in expected:
                raise ModelLoadError(f"the archive holds {name!r}, which the registry does not list")
            if member.file_size != expected[name]:
                raise ModelLoadError(f"{name} is {member.file_size} bytes; the registry lists {expected[name]}")
            target = folder.joinpath(*name.split("/"))
            if target in written:
                raise ModelLoadError(f"the archive holds {name!r} twice")
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            # The header's size is the sender's word; the bytes actually inflated are what count.
            try:
                with opened.open(member) as source, target.open("wb") as out:
                    while chunk := source.read(_COPY_CHUNK_BYTES):
                        size += len(chunk)
                        if size > expected[name]:
                            raise ModelLoadError(f"{name} inflates beyond the {expected[name]} bytes listed")
                        out.write(chunk)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error) as exc:
                raise ModelLoadError(f"{name} cannot be read from the archive: {exc}") from exc
            written.append(target)
    missing = sorted(set(expected) - {path.relative_to(folder).as_posix() for path in written})
    if missing:
        raise ModelLoadError(f"the archive lacks {', '.join(missing)}")
    return written


def _refuse_collisions(names: Sequence[str]) -> None:
    """A file `d` and a file `d/x`, or one name twice, would overwrite each other: refused."""
    files = set(names)
    if len(files) != len(names):
        raise ModelLoadError("the archive holds a file twice")
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in files:
                raise ModelLoadError(f"the archive holds a file {'/'.join(parts[:depth])!r} and also {name!r}")


def verify_files(folder: Path, expected_files: Sequence[Mapping[str, Any]]) -> None:
    """Check every listed file against the SHA-256 the registry recorded for it."""
    for item in expected_files:
        path = folder.joinpath(*str(item["path"]).split("/"))
        if not path.is_file() or sha256_file(path) != item["sha256"]:
            raise ModelLoadError(f"{item['path']} does not match the SHA-256 recorded by the registry")


def load_model_folder(folder: Path, expected_files: Sequence[Mapping[str, Any]]) -> Any:
    """Check every file against the SHA-256 the registry lists, then load with trusted types only."""
    import skops.io as sio

    verify_files(folder, expected_files)
    listed = {str(item["path"]) for item in expected_files}
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    raw = manifest.get("model_file", MODEL_FILE) if isinstance(manifest, dict) else None
    try:
        model_file = check_relative_path(raw if isinstance(raw, str) else "")
    except ValueError as exc:
        raise ModelLoadError(f"{MANIFEST_FILE} model_file: {exc}") from exc
    if model_file not in listed:
        raise ModelLoadError(f"{MANIFEST_FILE} model_file is not one of the version's files")
    model_path = folder.joinpath(*model_file.split("/"))
    try:
        schema = check_skops_archive(model_path)
    except ValueError as exc:  # UnsafeModelFile included
        raise ModelLoadError(str(exc)) from exc
    reported = sio.get_untrusted_types(file=model_path)
    refused = untrusted(schema_names(schema) | set(reported))
    if refused:
        raise ModelLoadError(f"{model_path.name} holds types or functions outside the allow-list: {', '.join(refused)}")
    return sio.load(model_path, trusted=reported)


def load_pickle_folder(folder: Path, expected_files: Sequence[Mapping[str, Any]]) -> Any:
    """UNSAFE: unpickle the version's pickle/joblib file, which can run any code it holds.

    Only for an ``sklearn-pickle`` version an admin registered, from a source you trust."""
    import joblib

    verify_files(folder, expected_files)
    paths = [str(item["path"]) for item in expected_files]
    pickles = [path for path in paths if path.lower().endswith(PICKLE_SUFFIXES)] or paths
    if len(pickles) != 1:
        raise ModelLoadError(f"expected one pickle file in the version, found {', '.join(pickles) or 'none'}")
    return joblib.load(folder.joinpath(*pickles[0].split("/")))
