"""Every SQL statement on job rows. Claims and writes are conditional updates: a worker acts
only while its fencing token is the job's current one."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import IdempotencyRecord, Job


def add_job(session: Session, job: Job) -> Job:
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def get_idempotency_record(session: Session, username: str, key: str) -> IdempotencyRecord | None:
    return session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.username == username, IdempotencyRecord.key == key)
    ).one_or_none()


def add_idempotency_record(session: Session, record: IdempotencyRecord) -> IdempotencyRecord | None:
    """None when the user's key was taken meanwhile. The insert runs in a SAVEPOINT, so on
    Postgres the failed insert leaves the request's transaction usable for the re-read."""
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        return None
    return record


def list_jobs(
    session: Session,
    *,
    status: str | None,
    job_type: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Job]:
    """Newest first; `after` is the (created_at, id) of the last job of the previous page, so
    jobs created at the same instant are neither skipped nor repeated."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    if after is not None:
        created_at, job_id = after
        query = query.where(or_(Job.created_at < created_at, (Job.created_at == created_at) & (Job.id > job_id)))
    return session.scalars(query).all()


def count_by_type_and_status(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(select(Job.type, Job.status, func.count()).group_by(Job.type, Job.status))
    return [(job_type, status, int(count)) for job_type, status, count in rows]


def claim(session: Session, job_id: str, worker: str, now: datetime, lease: timedelta) -> Job | None:
    """Take the job if it is queued and due, or running on an expired lease, with attempts
    left; return it with its new fencing token, or None when someone else has it or it is done."""
    return session.scalars(
        update(Job)
        .where(
            Job.id == job_id,
            Job.attempts < Job.max_attempts,
            or_(
                (Job.status == "queued") & or_(Job.not_before.is_(None), Job.not_before <= now),
                (Job.status == "running") & (Job.lease_expires_at < now),
            ),
        )
        .values(
            status="running",
            attempts=Job.attempts + 1,
            fencing_token=Job.fencing_token + 1,
            lease_owner=worker,
            lease_expires_at=now + lease,
            heartbeat_at=now,
            updated_at=now,
            not_before=None,
            started_at=func.coalesce(Job.started_at, literal(now, Job.started_at.type)),
        )
        .returning(Job)
    ).one_or_none()


def touch_queued(session: Session, job_ids: list[str], now: datetime) -> None:
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(job_ids), Job.status == "queued").values(updated_at=now))


def renew(
    session: Session, job_id: str, token: int, now: datetime, lease: timedelta, fields: dict[str, Any]
) -> bool | None:
    """Extend the lease and write progress; None when the token is no longer current, else
    whether a cancel was requested."""
    cancel = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.fencing_token == token, Job.status == "running")
        .values(lease_expires_at=now + lease, heartbeat_at=now, updated_at=now, **fields)
        .returning(Job.cancel_requested)
    ).scalar_one_or_none()
    return cancel


def finish(session: Session, job_id: str, token: int, now: datetime, fields: dict[str, Any]) -> bool:
    """Final write of an attempt (succeeded, failed, cancelled or back to queued); False when
    the token is stale, in which case nothing of this attempt may be committed."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.fencing_token == token, Job.status == "running")
        .values(lease_owner=None, lease_expires_at=None, updated_at=now, **fields)
        .returning(Job.id)
    ).scalar_one_or_none()
    return result is not None


def cancel_queued(session: Session, job_id: str, now: datetime) -> bool:
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=now, updated_at=now, message="cancelled")
        .returning(Job.id)
    ).scalar_one_or_none()
    return done is not None


def request_cancel(session: Session, job_id: str, now: datetime) -> None:
    session.execute(
        update(Job).where(Job.id == job_id, Job.status == "running").values(cancel_requested=True, updated_at=now)
    )


def due_for_enqueue(session: Session, now: datetime, queued_before: datetime) -> list[str]:
    """Jobs a worker should pick up: queued (and due) for a while, or running on an expired lease."""
    rows = session.execute(
        select(Job.id).where(
            Job.attempts < Job.max_attempts,
            or_(
                (Job.status == "queued")
                & (Job.updated_at <= queued_before)
                & or_(Job.not_before.is_(None), Job.not_before <= now),
                (Job.status == "running") & (Job.lease_expires_at < now),
            ),
        )
    )
    return [job_id for (job_id,) in rows]


def fail_exhausted(session: Session, now: datetime) -> list[tuple[str, str]]:
    """Jobs out of attempts that are not finished (their last worker died): failed, with why;
    returns their (id, type)."""
    rows = session.execute(
        update(Job)
        .where(
            Job.attempts >= Job.max_attempts,
            or_(Job.status == "queued", (Job.status == "running") & (Job.lease_expires_at < now)),
        )
        .values(
            status="failed",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
            error="the job's worker stopped answering (stale heartbeat) and the attempt cap is reached",
        )
        .returning(Job.id, Job.type)
    )
    return [(job_id, job_type) for job_id, job_type in rows]


def unfinished(session: Session, job_type: str) -> Sequence[Job]:
    """The jobs of this type still queued or running."""
    return session.scalars(
        select(Job).where(Job.type == job_type, Job.status.in_(("queued", "running"))).order_by(Job.created_at)
    ).all()
