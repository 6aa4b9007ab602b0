"""HTTP endpoints for jobs."""

import functools
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from app.deps import API_PREFIX, Editor, JobQueueDep, SessionDep, SettingsDep, Viewer
from app.errors import (
    AliasNotFound,
    DatasetNotFound,
    DeploymentNotFound,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidSpec,
    JobNotFound,
    ModelNotFound,
    ModelVersionNotFound,
    error_responses,
)
from app.jobs import service
from app.jobs.handlers import check_job_spec
from app.jobs.idempotency import KEY_MAX_LENGTH, KEY_PATTERN
from app.jobs.schemas import JobCreate, JobList, JobRead, JobStatus, JobType

router = APIRouter(prefix=API_PREFIX, tags=["jobs"])
JobIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A job id (32 hex characters).")]


@router.post(
    "/jobs",
    summary="Submit a training, evaluation, drift-check or retraining job",
    status_code=status.HTTP_201_CREATED,
    response_model=JobRead,
    responses={
        200: {"model": JobRead, "description": "A job with this Idempotency-Key exists: that job."},
        **error_responses(
            InvalidSpec,
            Forbidden,
            IdempotencyKeyReused,
            DatasetNotFound,
            ModelNotFound,
            ModelVersionNotFound,
            AliasNotFound,
            DeploymentNotFound,
        ),
    },
)
def submit_job(
    body: JobCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    queue: JobQueueDep,
    actor: Editor,
    idempotency_key: Annotated[str | None, Header(max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)] = None,
) -> JobRead:
    """Queue a `train`, `evaluate`, `drift_check` or `retrain` job. The spec is checked now: a bad
    one is a 400 naming what is wrong. An Idempotency-Key is the caller's own: the same key and body
    again answer 200 with the first job; the same key with another body is a 422."""
    job, created = service.submit_job(
        session,
        queue,
        actor,
        body,
        idempotency_key=idempotency_key,
        check_spec=functools.partial(check_job_spec, protected_aliases=settings.protected_aliases),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return JobRead.model_validate(job)


@router.get("/jobs", summary="List jobs", response_model=JobList, responses=error_responses(InvalidInput))
def list_jobs(
    session: SessionDep,
    _: Viewer,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    job_type: Annotated[JobType | None, Query(alias="type")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    jobs, next_token = service.list_jobs(
        session,
        status=status_filter.value if status_filter else None,
        job_type=job_type.value if job_type else None,
        page_token=page_token,
        max_results=max_results,
    )
    return JobList(jobs=[JobRead.model_validate(j) for j in jobs], next_page_token=next_token)


@router.get(
    "/jobs/{job_id}", summary="Get a job's status", response_model=JobRead, responses=error_responses(JobNotFound)
)
def get_job(job_id: JobIdPath, session: SessionDep, _: Viewer) -> JobRead:
    """Status, progress (0..1) and message, attempts, result or error, and the tail of the job's log."""
    return JobRead.model_validate(service.get_job(session, job_id))


@router.post(
    "/jobs/{job_id}/cancel", summary="Cancel a job", response_model=JobRead, responses=error_responses(JobNotFound)
)
def cancel_job(job_id: JobIdPath, session: SessionDep, actor: Editor) -> JobRead:
    return JobRead.model_validate(service.cancel_job(session, actor, job_id))
