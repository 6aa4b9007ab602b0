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
