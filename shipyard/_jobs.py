"""`Client` methods for jobs: submit train/evaluate jobs, read, list, cancel, and wait for one."""

import time
from collections.abc import Callable, Mapping
from typing import Any

from shipyard._base import ClientBase, segment
from shipyard.errors import ServerError, TransportError, WaitTimeout
from shipyard.schemas import Job, Page

DEFAULT_POLL_SECONDS = 1.0
# Polls in a row that may fail (server restarting, network blip) before waiting gives up.
MAX_FAILED_POLLS = 5


class JobsMixin(ClientBase):
    def submit_job(
        self,
        job_type: str,
        spec: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Queue a job; the server checks the spec at once.

        Args:
            job_type: ``train`` or ``evaluate``.
            spec: a train spec (dataset, target, estimator, params, split, search,
                register_as, alias, experiment) or an evaluate spec (model, dataset, target,
                gates, baseline, sensitive).
            idempotency_key: the same key with the same job again returns the job it first
                made instead of a new one, so a retried CI step never trains twice. Keys are
                the caller's own; one sent before with another job is IdempotencyKeyReused.
            max_attempts: how often a job that dies with its worker is retried (1..10, default 3).

        Returns:
            The queued `Job` (or the earlier one with this idempotency key).

        Raises:
            InvalidSpec: the spec is malformed (a name, a gate that cannot be judged); the
                detail names what is wrong.
            Forbidden: the spec sets a protected alias and the caller may not move it.
            IdempotencyKeyReused: the key came before with a different job.
            DatasetNotFound, ModelNotFound, ModelVersionNotFound, AliasNotFound: a reference in it.
        """
        body: dict[str, Any] = {"type": job_type, "spec": dict(spec)}
        if max_attempts is not None:
            body["max_attempts"] = max_attempts
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Job.from_json(self._request("POST", "/jobs", json=body, headers=headers).json())

    def get_job(self, job_id: str) -> Job:
        """A job's status, progress, message, result or error, and log tail.

        Raises:
            JobNotFound: no job has this id.
        """
        return Job.from_json(self._request("GET", f"/jobs/{segment(job_id)}").json())

    def list_jobs(
        self,
        *,
        status: str | None = None,
        job_type: str | None = None,
        max_results: int | None = 50,
        page_token: str | None = None,
    ) -> Page[Job]:
        """Jobs, newest first.

        Args:
            status: only ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled`` jobs.
            job_type: only ``train`` or ``evaluate`` jobs.
            max_results: stop after this many (default 50); None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.
        """
        params = {"status": status, "type": job_type}
        items, token = self._paginate("/jobs", "jobs", params, max_results, page_token)
        return Page([Job.from_json(item) for item in items], token)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one at its next progress checkpoint.

        Returns:
            The `Job` after the request (``cancel_requested`` set while it winds down).

        Raises:
            JobNotFound: no job has this id.
        """
        return Job.from_json(self._request("POST", f"/jobs/{segment(job_id)}/cancel").json())

    def wait_for_job(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_SECONDS,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll a job until it has succeeded, failed or been cancelled.

        Args:
            job_id: the job.
            timeout: give up after this many seconds; None waits as long as it takes.
            poll_interval: seconds between polls.
            on_update: called with the job after every poll (e.g. to draw a progress bar).

        Returns:
            The finished `Job`; check its ``status``, ``result`` and ``error``.

        Raises:
            WaitTimeout: the job was not finished after `timeout` seconds (it goes on).
            JobNotFound: no job has this id.
            TransportError, ServerError: the server failed several polls in a row.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            try:
                job = self.get_job(job_id)
                failures = 0
            except (TransportError, ServerError):
                failures += 1
                if failures >= MAX_FAILED_POLLS:
                    raise
            else:
                if on_update is not None:
                    on_update(job)
                if job.finished:
                    return job
            pause = poll_interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"job {job_id} has not finished after {timeout:g} s; it goes on")
                pause = min(pause, remaining)
            time.sleep(pause)
