"""SQL for audit events."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.tables import AuditEvent

# One cached Core statement: every mutation records an event, and the ORM's flush of it at commit
# cost more than the rest of creating a run. It has no foreign keys, so writing it at once rather
# than at the flush changes nothing else; it is in the same transaction as the change it records.
_INSERT_EVENT = insert(AuditEvent)


def add_event(session: Session, values: dict[str, Any]) -> None:
    """Write one event (`values` by column name; `created_at` defaults to now) in the session's transaction."""
    session.connection().execute(_INSERT_EVENT, [values])


def list_events(
    session: Session,
    *,
    actor: str | None,
    action: str | None,
    resource_type: str | None,
    resource_id: str | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if resource_type:
        query = query.where(AuditEvent.resource_type == resource_type)
    if resource_id:
        query = query.where(AuditEvent.resource_id == resource_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return session.scalars(query).all()
