"""Every SQL statement of the prediction log and feedback: segment index rows and feedback upserts."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.tables import Deployment, PredictionFeedback, PredictionSegment
from app.names import fold_name

# Rows per INSERT: 5 parameters each stays under SQLite's and PostgreSQL's parameter limits.
_UPSERT_BATCH = 1000


def get_deployment(session: Session, name: str) -> Deployment | None:
    return session.scalars(select(Deployment).where(Deployment.folded_name == fold_name(name))).one_or_none()


def add_segment(session: Session, segment: PredictionSegment) -> None:
    session.add(segment)
    session.flush()


def segments(
    session: Session,
    deployment_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    model_version_id: int | None = None,
) -> Sequence[PredictionSegment]:
    """The segments whose time span meets [since, until], newest last row first."""
    query = select(PredictionSegment).where(PredictionSegment.deployment_id == deployment_id)
    if since is not None:
        query = query.where(PredictionSegment.last_at >= since)
    if until is not None:
        query = query.where(PredictionSegment.first_at <= until)
    if version is not None:
        query = query.where(PredictionSegment.version == version)
    if model_version_id is not None:
        query = query.where(PredictionSegment.model_version_id == model_version_id)
    return session.scalars(query.order_by(PredictionSegment.last_at.desc(), PredictionSegment.id.desc())).all()


def upsert_feedback(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert each row, or replace the feedback already stored for its prediction id. Rows go in
    prediction id order, so two concurrent calls lock the same rows in the same order (no deadlock)."""
    ordered = sorted(rows, key=lambda r: r["prediction_id"])
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(ordered), _UPSERT_BATCH):
        statement = insert(PredictionFeedback).values(ordered[start : start + _UPSERT_BATCH])
        statement = statement.on_conflict_do_update(
            index_elements=["deployment_id", "prediction_id"],
            set_={
                "actual": statement.excluded.actual,
                "received_at": statement.excluded.received_at,
                "received_by": statement.excluded.received_by,
            },
        )
        session.execute(statement)


def feedback_since(session: Session, deployment_id: int, since: datetime | None) -> Sequence[tuple[str, Any]]:
    query = select(PredictionFeedback.prediction_id, PredictionFeedback.actual).where(
        PredictionFeedback.deployment_id == deployment_id
    )
    if since is not None:
        query = query.where(PredictionFeedback.received_at >= since)
    rows = session.execute(query)
    return [(prediction_id, actual) for prediction_id, actual in rows.tuples()]


def count_feedback(session: Session, deployment_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PredictionFeedback)
            .where(PredictionFeedback.deployment_id == deployment_id)
        )
        or 0
    )
