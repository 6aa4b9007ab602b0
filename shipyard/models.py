"""The client side of the model format: save an estimator as a model folder (skops file +
`model.json` manifest with signature and input example), and load one back safely."""

import hashlib
import json
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_FILE = "model.json"
MODEL_FILE = "model.skops"
# Types from these packages may be loaded; anything else in a model file (a user's class,
# os.system, eval …) is refused, so loading a model can never run an attacker's code.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.", "scipy.stats.")
# numpy, pandas and skops are imported where they are used: together they take about two
# seconds to import, which every CLI call and `import shipyard` would otherwise pay.
_MODEL_URI = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?:(?:@|/)(?P<ref>[A-Za-z0-9_-]{1,64}))?$"
)


class ModelLoadError(Exception):
    """The downloaded model does not match its registry entry, or holds untrusted types."""


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


def load_model_folder(folder: Path, expected_files: list[dict[str, Any]]) -> Any:
    """Check every file against the SHA-256 the registry lists, then load with trusted types only."""
    import skops.io as sio

    for item in expected_files:
        path = folder.joinpath(*item["path"].split("/"))
        if not path.is_file() or sha256_file(path) != item["sha256"]:
            raise ModelLoadError(f"{item['path']} does not match the SHA-256 recorded by the registry")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    model_path = folder / manifest.get("model_file", MODEL_FILE)
    found = sio.get_untrusted_types(file=model_path)
    refused = [name for name in found if not name.startswith(TRUSTED_MODULE_PREFIXES)]
    if refused:
        raise ModelLoadError(f"{model_path.name} holds types outside the allow-list: {', '.join(refused)}")
    return sio.load(model_path, trusted=found)
