"""API schemas of the prediction log and feedback."""

import math
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
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
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: set[str] = set()
        for item in self.feedback:
            if item.prediction_id in seen:
                raise ValueError(f"prediction_id {item.prediction_id!r} appears more than once")
            seen.add(item.prediction_id)
        return self


class FeedbackResult(BaseModel):
    received: int = Field(description="Feedback items stored (each replaces any sent before for its id).")
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
