"""Prediction ids: `<32 hex>-<row>`, one base per predict request. The base opens with the
request's time in milliseconds, so feedback finds the log segments that may hold an id from the
id alone, without an index of every id."""

import re
import secrets
import time
from datetime import UTC, datetime

PREDICTION_ID_PATTERN = r"^[0-9a-f]{32}-[0-9]{1,9}$"
_PATTERN = re.compile(PREDICTION_ID_PATTERN)


def new_base(now: float | None = None) -> str:
    """48 bits of milliseconds since the epoch, then 80 random bits (unique per request)."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis & 0xFFFFFFFFFFFF:012x}{secrets.token_hex(10)}"


def predicted_at(prediction_id: str) -> datetime | None:
    """When the request behind the id was answered, or None for an id this server did not mint."""
    if not _PATTERN.match(prediction_id):
        return None
    return datetime.fromtimestamp(int(prediction_id[:12], 16) / 1000, UTC)
