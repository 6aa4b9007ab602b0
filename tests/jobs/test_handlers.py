"""Every job type the API accepts has a handler registered for it, and only those do."""

from app.jobs.handlers import JOB_TYPES
from app.jobs.schemas import JobType


def test_every_accepted_job_type_has_its_handlers() -> None:
    assert set(JOB_TYPES) == {job_type.value for job_type in JobType}
