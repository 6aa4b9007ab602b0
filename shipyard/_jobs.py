"""`Client` methods for jobs: submit train, evaluate and retrain jobs, read, list, cancel, and wait for one."""

import time
from collections.abc import Callable, Mapping, Sequence
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
            job_type: ``train``, ``evaluate`` or ``retrain``.
            spec: a train spec (dataset, target, estimator, params, split, search,
                register_as, alias, experiment), an evaluate spec (model, dataset, target,
                gates, baseline, sensitive) or a retrain spec (see `retrain`).
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
            DatasetNotFound, ModelNotFound, ModelVersionNotFound, AliasNotFound,
                DeploymentNotFound: a reference in it.
        """
        body: dict[str, Any] = {"type": job_type, "spec": dict(spec)}
        if max_attempts is not None:
            body["max_attempts"] = max_attempts
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Job.from_json(self._request("POST", "/jobs", json=body, headers=headers).json())

    def retrain(
        self,
        deployment: str,
        *,
        data: str = "newest",
        gates: Sequence[str] = (),
        holdout: str | None = None,
        rollout: Mapping[str, Any] | None = None,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a retrain job: the version the deployment serves, trained again with the spec of the
        job that trained it, registered as a new version of the same model.

        Args:
            deployment: the deployment whose serving version is retrained.
            data: ``newest`` (the newest version of the dataset it trained on) or
                ``reference_plus_feedback`` (a new version of that dataset: the rows it trained on
                plus the deployment's logged inputs that have feedback, the feedback as the target).
            gates: e.g. ``["f1>=0.8", "f1>=baseline"]``, judged with the serving version as the
                baseline; a new version that fails one is registered but not rolled out.
            holdout: the dataset (``name@3``) the gates are judged on; default the training data.
            rollout: how to roll the new version out once it passes, as `rollout` takes it
                (``{"strategy": "canary", "steps": [10, 50, 100], "interval_seconds": 60}``);
                None registers it only.
            reason: why, kept in the rollout's reason.
            idempotency_key: as for `submit_job`.

        Returns:
            The queued `Job`; its result names the new version, the gate outcome and the rollout.

        Raises:
            InvalidSpec: the serving version was not trained by a job (no training spec), or a
                gate, the holdout or the rollout is wrong; the detail says which.
            DeploymentNotFound: no such deployment.
        """
        spec: dict[str, Any] = {"deployment": deployment, "data": data, "gates": list(gates), "reason": reason}
        if holdout is not None:
            spec["holdout"] = holdout
        if rollout is not None:
            spec["rollout"] = dict(rollout)
        return self.submit_job("retrain", spec, idempotency_key=idempotency_key)

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
            job_type: only jobs of this type (``train``, ``evaluate``, ``retrain``, ``rollout_analysis``).
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
