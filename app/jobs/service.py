"""Job use cases for the API: submit (checked, idempotent, enqueued after commit), read, list, cancel."""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit import service as audit
from app.context import Principal
from app.db.base import utcnow
from app.db.tables import Job
from app.errors import InvalidInput, JobNotFound
from app.jobs import idempotency, repository
from app.jobs.queue import JobQueue, enqueue_after_commit
from app.jobs.schemas import FINISHED, JobCreate, JobStatus
from app.pagination import decode_page_token, take_page

SpecCheck = Callable[[Session, Principal, str, dict[str, Any]], dict[str, Any]]


def submit_job(
    session: Session,
    queue: JobQueue,
    actor: Principal,
    data: JobCreate,
    *,
    idempotency_key: str | None,
    check_spec: SpecCheck,
) -> tuple[Job, bool]:
    """(job, created). The same user's Idempotency-Key with the same body again returns the first
    job, not a second one; with a different body it is IdempotencyKeyReused."""
    record = None
    if idempotency_key:
        request_sha256 = idempotency.fingerprint("POST /jobs", data.model_dump(mode="json"))
        record, existing_id = idempotency.reserve(session, actor, idempotency_key, request_sha256, "job")
        if existing_id is not None:
            return get_job(session, existing_id), False
    spec = check_spec(session, actor, data.type.value, data.spec)
    job = repository.add_job(
        session,
        Job(
            id=uuid.uuid4().hex,
            type=data.type.value,
            spec=spec,
            status=JobStatus.queued.value,
            max_attempts=data.max_attempts,
            idempotency_key=idempotency_key,
            created_by=actor.username,
            created_by_role=actor.role.value,
            message="queued",
        ),
    )
    if record is not None:
        idempotency.bind(session, record, job.id)
    audit.record(session, actor, "job.submit", "job", job.id, {"type": job.type})
    enqueue_after_commit(session, queue, job.id)
    return job, True


def get_job(session: Session, job_id: str) -> Job:
    job = repository.get_job(session, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    return job


def list_jobs(
    session: Session, *, status: str | None, job_type: str | None, page_token: str | None, max_results: int
) -> tuple[list[Job], str | None]:
    cursor = decode_page_token(page_token)
    after = None
    if cursor is not None:
        try:
            after = (datetime.fromisoformat(str(cursor["created_at"])), str(cursor["id"]))
        except (KeyError, ValueError) as exc:
            raise InvalidInput("page_token is not a token this server issued", field="page_token") from exc
        if after[0].tzinfo is None:
            raise InvalidInput("page_token is not a token this server issued", field="page_token")
    jobs = repository.list_jobs(session, status=status, job_type=job_type, after=after, limit=max_results + 1)
    return take_page(jobs, max_results, lambda job: {"created_at": job.created_at.isoformat(), "id": job.id})


def cancel_job(session: Session, actor: Principal, job_id: str) -> Job:
    """Queued: cancelled at once. Running: stops at its next progress checkpoint."""
    job = get_job(session, job_id)
    if JobStatus(job.status) not in FINISHED:
        now = utcnow()
        if not repository.cancel_queued(session, job_id, now):
            repository.request_cancel(session, job_id, now)
        audit.record(session, actor, "job.cancel", "job", job_id)
        session.refresh(job)
    return job


def unfinished_jobs(session: Session, job_type: str) -> list[Job]:
    """The jobs of this type still queued or running, oldest first."""
    return list(repository.unfinished(session, job_type))


def count_jobs(session: Session) -> dict[tuple[str, str], int]:
    """How many jobs there are of each (type, status), for /metrics."""
    return {(job_type, status): count for job_type, status, count in repository.count_by_type_and_status(session)}
