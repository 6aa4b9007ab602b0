"""API schemas of webhook deliveries and the test delivery."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from app.outbound import MAX_URL_LENGTH
from app.schemas import StrictBody

EVENT_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
EventName = Annotated[str, StringConstraints(pattern=EVENT_PATTERN)]
MAX_SECRET_LENGTH = 256


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None = Field(description="The receiver's HTTP status; null when no answer came.")
    error: str | None = Field(description="Why this attempt did not deliver; null when it did.")
    response_excerpt: str = Field(description="The start of the receiver's answer.")


class DeliveryRead(BaseModel):
    id: str = Field(description="Sent as X-Shipyard-Delivery (and as `id` in the body).")
    event: str
    url: str
    deployment: str | None
    status: DeliveryStatus
    signed: bool = Field(description="Whether X-Shipyard-Signature was sent (a secret was set).")
    payload: dict[str, Any] = Field(description="The event's data, sent as `data` in the body.")
    attempt_count: int
    response_status: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempts: list[AttemptRead]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryRead]
    next_page_token: str | None


class WebhookTest(StrictBody):
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="The receiver: http(s), no credentials, a public address (or a host the server allows).",
    )
    secret: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SECRET_LENGTH,
        description="Signs the body (X-Shipyard-Signature); never stored nor shown.",
    )
