"""API schemas of predict: the three payload shapes (as documented, parsed by app.serving.payload)
and the answer."""

from typing import Any

from pydantic import BaseModel, Field

# The request body, for the OpenAPI schema: the route reads the JSON itself, straight into arrays.
PREDICT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Exactly one of `inputs` (a list of records, or an object of columns) and "
    "`dataframe_split` (`columns` and `data` rows, as MLflow's scoring server takes it).",
    "properties": {
        "inputs": {
            "oneOf": [
                {"type": "array", "items": {"type": "object"}},
                {"type": "object", "additionalProperties": {"type": "array"}},
            ]
        },
        "dataframe_split": {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}},
                "index": {"type": "array"},
            },
            "additionalProperties": False,
        },
        "return_proba": {"type": "boolean", "default": False},
    },
    "additionalProperties": False,
}


class PredictResponse(BaseModel):
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        default=None, description="Class probabilities per row, with `return_proba`."
    )
    model: str
    version: int = Field(description="The model version that answered.")
    deployment: str
    revision: int
    prediction_ids: list[str] = Field(description="One per row, to attach feedback to later.")


# ---- Open Inference Protocol (KServe V2) --------------------------------------------------------

_TENSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 2},
        "datatype": {
            "type": "string",
            "enum": ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]
            + ["FP16", "FP32", "FP64", "BYTES"],
        },
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
    "additionalProperties": False,
}
V2_INFER_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR_SCHEMA, "minItems": 1},
        "outputs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "enum": ["predict", "predict_proba"]}},
            },
        },
        "parameters": {"type": "object", "properties": {"return_proba": {"type": "boolean"}}},
    },
    "additionalProperties": False,
}


class V2Server(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]
    parameters: dict[str, Any] = Field(default_factory=dict)


class V2ModelReady(BaseModel):
    name: str
    ready: bool


class V2Tensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class V2InferResponse(BaseModel):
    model_name: str = Field(description="The deployment's name.")
    model_version: str
    id: str | None = None
    outputs: list[V2Tensor]
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="`prediction_ids` (one per row, for feedback) and the `model` name."
    )
