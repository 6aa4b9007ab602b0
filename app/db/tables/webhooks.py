"""Webhook deliveries (one event sent to one URL) and each attempt at sending it. The secret that
signed a delivery is never stored."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class WebhookDelivery(Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # Listings are newest first, by (created_at, id), optionally of one deployment.
        Index("ix_webhook_delivery_created_at_id", "created_at", "id"),
        Index("ix_webhook_delivery_deployment_id_created_at", "deployment_id", "created_at"),
    )

    # Sent as X-Shipyard-Delivery: receivers drop a delivery id they have seen.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    # pending while attempts go on, then delivered or failed.
    status: Mapped[str] = mapped_column(String(16))
    # Whether the body was signed (X-Shipyard-Signature); the secret itself is not kept.
    signed: Mapped[bool] = mapped_column(default=False)
    # The event's data, as sent in the envelope's `data`.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # The last attempt's HTTP status, and why the delivery failed.
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempt"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_delivery.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # What went wrong in words (a timeout, a refused address, a 500), None when it was accepted.
    error: Mapped[str | None] = mapped_column(Text)
    # The start of the receiver's answer, for debugging a refusal.
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
