"""HTTP endpoint listing audit events (admins only)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventList, AuditEventRead
from app.deps import API_PREFIX, Admin, SessionDep
from app.errors import InvalidInput, error_responses

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


@router.get(
    "/audit", summary="Read the audit trail", response_model=AuditEventList, responses=error_responses(InvalidInput)
)
def list_audit_events(
    session: SessionDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=32)] = None,
    resource_id: Annotated[str | None, Query(max_length=256)] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEventList:
    events, next_token = service.list_events(
        session,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        page_token=page_token,
        max_results=max_results,
    )
    return AuditEventList(events=[AuditEventRead.model_validate(e) for e in events], next_page_token=next_token)
