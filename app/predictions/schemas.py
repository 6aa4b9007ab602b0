"""API schemas of the prediction log and feedback."""

import math
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
)

from app.predictions.ids import PREDICTION_ID_PATTERN
from app.schemas import StrictBody

MAX_FEEDBACK_ITEMS = 10_000
PredictionId = Annotated[str, StringConstraints(pattern=PREDICTION_ID_PATTERN, max_length=64)]
Actual = StrictBool | StrictInt | StrictFloat | Annotated[str, StringConstraints(max_length=1000)]


class FeedbackItem(StrictBody):
    prediction_id: PredictionId = Field(description="An id predict returned.")
    actual: Actual = Field(description="The true label (classification) or value (regression).")

    @field_validator("actual")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("actual must be a finite number")
        return value


class FeedbackCreate(StrictBody):
    feedback: list[FeedbackItem] = Field(
        min_length=1,
        max_length=MAX_FEEDBACK_ITEMS,
        description="An id given more than once keeps its last item, as a later call would.",
    )


class FeedbackResult(BaseModel):
    received: int = Field(description="Prediction ids given feedback (each replaces any sent before for its id).")
    matched: int = Field(description="Of those, the ids found in the flushed prediction log.")
    unmatched: int = Field(
        description="Ids not (yet) in the log: not sampled, not flushed yet, or not minted by this deployment."
    )


class PredictionPage(BaseModel):
    predictions: list[dict[str, Any]] = Field(
        description="Logged rows, newest first: prediction_id, predicted_at, version, revision, latency_ms, "
        "`input.<column>` per signature column, prediction, probabilities (or the columns asked for)."
    )
    next_page_token: str | None
