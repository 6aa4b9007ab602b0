"""Recording and listing audit events."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.audit import repository
from app.context import Principal, request_id_var
from app.db.tables import AuditEvent
from app.pagination import decode_page_token, int_from_cursor, take_page


def record(
    session: Session,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: str | int,
    detail: dict[str, Any] | None = None,
) -> None:
    repository.add_event(
        session,
        {
            "actor_id": actor.user_id,
            "actor": actor.username,
            "action": action,
            "resource_type": resource_type,
            "resource_id": str(resource_id),
            "request_id": request_id_var.get(),
            "detail": detail,
        },
    )


def list_events(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    page_token: str | None = None,
    max_results: int = 100,
) -> tuple[Sequence[AuditEvent], str | None]:
    before_id = int_from_cursor(decode_page_token(page_token), "before_id")
    events = repository.list_events(
        session,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before_id=before_id,
        limit=max_results + 1,
    )
    return take_page(events, max_results, lambda event: {"before_id": event.id})
