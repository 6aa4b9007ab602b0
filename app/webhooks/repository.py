"""Every SQL statement on webhook deliveries and their attempts."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db.tables import Deployment, WebhookAttempt, WebhookDelivery


def add_delivery(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    session.add(delivery)
    session.flush()
    return delivery


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def add_attempt(session: Session, attempt: WebhookAttempt) -> None:
    session.add(attempt)
    session.flush()


def list_deliveries(
    session: Session,
    *,
    deployment_id: int | None,
    status: str | None,
    event: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    """Newest first; `after` is the (created_at, id) of the previous page's last delivery."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit)
    if deployment_id is not None:
        query = query.where(WebhookDelivery.deployment_id == deployment_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if event:
        query = query.where(WebhookDelivery.event == event)
    if after is not None:
        created_at, delivery_id = after
        query = query.where(
            or_(
                WebhookDelivery.created_at < created_at,
                (WebhookDelivery.created_at == created_at) & (WebhookDelivery.id > delivery_id),
            )
        )
    return session.scalars(query).all()


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> Sequence[WebhookAttempt]:
    if not delivery_ids:
        return []
    return session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    ).all()


def deployment_names(session: Session, deployment_ids: Sequence[int]) -> dict[int, str]:
    if not deployment_ids:
        return {}
    rows = session.execute(select(Deployment.id, Deployment.name).where(Deployment.id.in_(deployment_ids)))
    return {deployment_id: name for deployment_id, name in rows}
