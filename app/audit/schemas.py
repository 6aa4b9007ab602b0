"""API schemas for the audit trail."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    action: str
    resource_type: str
    resource_id: str
    request_id: str | None
    detail: dict[str, Any] | None


class AuditEventList(BaseModel):
    events: list[AuditEventRead]
    next_page_token: str | None
