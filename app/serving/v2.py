"""The Open Inference Protocol (KServe V2) over the same deployments: an infer request's tensors
turned into the columns predict takes (then the same typed checks, as app.serving.payload does
them), the answer as output tensors, and model metadata and readiness from the served version."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import (
    InferenceRequestInvalid,
    ModelVersionNotFound,
    PayloadTooLarge,
    PredictionInputInvalid,
)
from app.serving.loading import LoadedModel
from app.serving.payload import Batch, Column, parse_request
from app.serving.service import pinned_route, served_table
from app.serving.state import Route, RouteTable, ServingState

PREDICT, PROBA = "predict", "predict_proba"
_REQUEST_KEYS = {"id", "inputs", "outputs", "parameters"}
_TENSOR_KEYS = {"name", "shape", "datatype", "data", "parameters"}
_INT_RANGES = {
    "INT8": (-(2**7), 2**7),
    "INT16": (-(2**15), 2**15),
    "INT32": (-(2**31), 2**31),
    "INT64": (-(2**63), 2**63),
    "UINT8": (0, 2**8),
    "UINT16": (0, 2**16),
    "UINT32": (0, 2**32),
    "UINT64": (0, 2**64),
}
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
# The tensor datatypes each signature type takes: a double column takes integers too.
_ACCEPTS = {
    "double": _FLOATS | set(_INT_RANGES),
    "long": frozenset(_INT_RANGES),
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
}
_DATATYPE_OF = {"double": "FP64", "long": "INT64", "boolean": "BOOL", "string": "BYTES"}


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    data: list[Any]  # flattened, row-major


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[str, ...]


def _bad(message: str, **extra: Any) -> InferenceRequestInvalid:
    return InferenceRequestInvalid(message, **extra)


def parse_infer_request(body: Any, max_rows: int) -> InferRequest:
    """The request's envelope and tensors, checked against the protocol (not yet the signature)."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object with `inputs`")
    unknown = sorted(set(body) - _REQUEST_KEYS)
    if unknown:
        raise _bad(f"unknown field {unknown[0]!r}; an infer request has id, inputs, outputs and parameters")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad("id must be a string")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad("parameters must be an object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad("inputs must be a non-empty list of tensors")
    tensors = tuple(_tensor(index, raw, max_rows) for index, raw in enumerate(inputs))
    if len({t.name for t in tensors}) != len(tensors):
        raise _bad("two input tensors have the same name")
    return InferRequest(request_id, tensors, _outputs(body.get("outputs"), parameters))


def _outputs(raw: Any, parameters: dict[str, Any]) -> tuple[str, ...]:
    proba = parameters.get("return_proba", False)
    if not isinstance(proba, bool):
        raise _bad("parameters.return_proba must be true or false")
    if raw is None:
        return (PREDICT, PROBA) if proba else (PREDICT,)
    if not isinstance(raw, list) or not raw:
        raise _bad("outputs must be a non-empty list of {name}")
    names = []
    for index, output in enumerate(raw):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in (PREDICT, PROBA):
            raise _bad(f"outputs[{index}] must name {PREDICT!r} or {PROBA!r}")
        if name not in names:
            names.append(name)
    if proba and PROBA not in names:
        names.append(PROBA)
    return tuple(names)


def _tensor(index: int, raw: Any, max_rows: int) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be a tensor object")
    unknown = sorted(set(raw) - _TENSOR_KEYS)
    if unknown:
        raise _bad(f"{where} has an unknown field {unknown[0]!r}")
    name, shape, datatype = raw.get("name"), raw.get("shape"), raw.get("datatype")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name must be a non-empty string")
    where = f"input {name!r}"
    if not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(type(d) is int and d >= 0 for d in shape):
        raise _bad(f"{where}: shape must be [N] or [N, F] of whole numbers", input=name)
    if datatype not in _INT_RANGES and datatype not in _FLOATS and datatype not in ("BOOL", "BYTES"):
        raise _bad(f"{where}: datatype {datatype!r} is not one this server takes", input=name)
    if shape[0] > max_rows:
        raise PayloadTooLarge(
            f"the request holds {shape[0]} rows; at most {max_rows} are taken at once", max_rows=max_rows
        )
    data = _flatten(raw.get("data"), len(shape), where)
    if len(data) != math.prod(shape):
        raise _bad(f"{where}: shape {shape} holds {math.prod(shape)} values, data has {len(data)}", input=name)
    for position, value in enumerate(data):
        if not _fits(datatype, value):
            raise _bad(f"{where}: value {position} is not a {datatype}", input=name)
    return Tensor(name, tuple(shape), datatype, data)


def _flatten(data: Any, depth: int, where: str) -> list[Any]:
    """Flat or nested (row-major) data, as the protocol allows, down to a list of scalars."""
    if not isinstance(data, list):
        raise _bad(f"{where}: data must be a list")
    flat = data
    for _ in range(depth - 1):
        if flat and all(isinstance(v, list) for v in flat):
            flat = [v for row in flat for v in row]
    if any(isinstance(v, list | dict) for v in flat):
        raise _bad(f"{where}: data is nested deeper than its shape")
    return flat


def _fits(datatype: str, value: Any) -> bool:
    if datatype == "BOOL":
        return type(value) is bool
    if datatype == "BYTES":
        return type(value) is str
    if datatype in _FLOATS:
        return type(value) in (int, float)
    low, high = _INT_RANGES[datatype]
    return type(value) is int and low <= value < high


def to_batch(request: InferRequest, signature: Sequence[Column], max_rows: int) -> Batch:
    """The columns, in signature order: one tensor per signature column ([N] or [N, 1]), or one
    [N, F] tensor whose F columns are the signature's in order; then predict's own typed checks."""
    names = [c.name for c in signature]
    by_name = {t.name: t for t in request.inputs}
    if len(request.inputs) == 1 and len(request.inputs[0].shape) == 2 and request.inputs[0].shape[1] > 1:
        columns = _from_matrix(request.inputs[0], signature)
    elif set(by_name) == set(names):
        columns = {}
        for column in signature:
            tensor = by_name[column.name]
            if len(tensor.shape) == 2 and tensor.shape[1] != 1:
                raise _bad(f"input {tensor.name!r}: a column's shape is [N] or [N, 1]", input=tensor.name)
            _check_datatype(tensor, column)
            columns[column.name] = tensor.data
        if len({len(v) for v in columns.values()}) > 1:
            raise _bad("the input tensors hold different numbers of rows")
    else:
        missing = [n for n in names if n not in by_name]
        extra = [t.name for t in request.inputs if t.name not in names]
        said = f"missing {missing[0]!r}" if missing else f"{extra[0]!r} is not in it"
        raise _bad(
            f"send one tensor per signature column ({', '.join(names)}; {said}), "
            f"or one [N, {len(names)}] tensor with them in that order",
            input=(missing or extra)[0],
        )
    try:
        return parse_request({"inputs": columns, "return_proba": PROBA in request.outputs}, signature, max_rows)
    except PredictionInputInvalid as exc:
        raise InferenceRequestInvalid(exc.detail, **exc.extra) from exc


def _from_matrix(tensor: Tensor, signature: Sequence[Column]) -> dict[str, list[Any]]:
    width = tensor.shape[1]
    if width != len(signature):
        raise _bad(
            f"input {tensor.name!r}: shape [N, {width}] but the signature has {len(signature)} columns "
            f"({', '.join(c.name for c in signature)})",
            input=tensor.name,
        )
    for column in signature:
        _check_datatype(tensor, column)
    return {column.name: tensor.data[j::width] for j, column in enumerate(signature)}


def _check_datatype(tensor: Tensor, column: Column) -> None:
    if tensor.datatype not in _ACCEPTS.get(column.type, ()):
        raise _bad(
            f"input {tensor.name!r}: datatype {tensor.datatype} does not fit column {column.name!r} "
            f"({column.type}, sent as {_DATATYPE_OF.get(column.type, 'BYTES')})",
            input=tensor.name,
            column=column.name,
        )


def infer_response(answer: dict[str, Any], request: InferRequest) -> dict[str, Any]:
    predictions = answer["predictions"]
    outputs = []
    if PREDICT in request.outputs:
        outputs.append(
            {"name": PREDICT, "shape": [len(predictions)], "datatype": _datatype(predictions), "data": predictions}
        )
    probabilities = answer.get("probabilities")
    if PROBA in request.outputs and probabilities is not None:
        width = len(probabilities[0]) if probabilities else 0
        flat = [p for row in probabilities for p in row]
        outputs.append({"name": PROBA, "shape": [len(probabilities), width], "datatype": "FP64", "data": flat})
    response: dict[str, Any] = {
        "model_name": answer["deployment"],
        "model_version": str(answer["version"]),
        "outputs": outputs,
        "parameters": {"prediction_ids": answer["prediction_ids"], "model": answer["model"]},
    }
    if request.id is not None:
        response["id"] = request.id
    return response


def _datatype(values: Sequence[Any]) -> str:
    if all(type(v) is bool for v in values):
        return "BOOL"
    if all(type(v) is int for v in values):
        return "INT64"
    if all(type(v) in (int, float) for v in values):
        return "FP64"
    return "BYTES"


# ---- metadata and readiness ---------------------------------------------------------------------


def check_served(state: ServingState, name: str, version: int | None) -> RouteTable:
    """The deployment's route table, once it is known to route to `version` (when given)."""
    table = served_table(state, name)
    _routes(table, version)
    return table


def _routes(table: RouteTable, version: int | None) -> tuple[Route, ...]:
    return (pinned_route(table, version),) if version is not None else table.answering


def model_metadata(state: ServingState, name: str, version: int | None) -> dict[str, Any]:
    """Name, the versions that answer, platform, and the input and output tensors the signature
    of the (first) answering version takes and gives."""
    table = served_table(state, name)
    routes = _routes(table, version)
    if not routes:
        raise ModelVersionNotFound(f"deployment {name!r} has no version taking traffic")
    loaded = state.model(routes[0])
    return {
        "name": table.deployment,
        "versions": [str(r.version) for r in routes],
        "platform": "sklearn",
        "inputs": [
            {"name": c.name, "datatype": _DATATYPE_OF.get(c.type, "BYTES"), "shape": [-1]} for c in loaded.signature
        ],
        "outputs": _output_metadata(loaded),
        "parameters": {"model": loaded.model_name},
    }


def _output_metadata(loaded: LoadedModel) -> list[dict[str, Any]]:
    classes = getattr(loaded.estimator, "classes_", None)
    kind = getattr(getattr(classes, "dtype", None), "kind", "f")
    datatype = {"b": "BOOL", "i": "INT64", "u": "INT64", "f": "FP64"}.get(kind, "BYTES")
    outputs = [{"name": PREDICT, "datatype": datatype, "shape": [-1]}]
    if hasattr(loaded.estimator, "predict_proba") and classes is not None:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(classes)]})
    return outputs


def model_ready(state: ServingState, name: str, version: int | None) -> bool:
    """Whether the deployment (or that version of it) answers now: its versions are loaded here."""
    table = served_table(state, name)
    routes = _routes(table, version)
    return bool(routes) and all(r.key in state.cache for r in routes)
