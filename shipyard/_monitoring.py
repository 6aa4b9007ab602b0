"""`Client` methods of monitoring: start a drift check, list a deployment's drift reports, read one;
set, read and delete a deployment's monitor."""

from collections.abc import Mapping, Sequence
from typing import Any

from shipyard._base import segment
from shipyard._jobs import JobsMixin
from shipyard.schemas import DriftReport, DriftReportSummary, Job, Monitor, Page


class MonitoringMixin(JobsMixin):
    def check_drift(
        self,
        deployment: str,
        *,
        hours: float | None = None,
        last: int | None = None,
        reference: str | None = None,
        preset: str | None = None,
        options: Mapping[str, Any] | None = None,
        performance: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a ``drift_check`` job: the deployment's logged inputs and predictions over a window
        against a reference dataset version, and, with feedback, each version's live metric.

        Args:
            deployment: the deployment.
            hours: the window is the last this many hours (the default, 24, when neither is given); or
            last: the window is the last this many logged predictions.
            reference: ``name@N``; default the dataset version the serving version was trained on.
            preset: ``shipyard`` (two-sample tests) or ``evidently`` (Evidently's data-drift preset).
            options: more drift options: ``drift_share``, ``column_tests`` ({column: test}),
                ``column_thresholds`` ({column: threshold}).
            performance: ``{"threshold": 0.8}`` judges decay (with ``metric``: accuracy, f1,
                rmse or mae; ``min_labelled``; ``buckets``).
            idempotency_key: the same key with the same check again returns the first job.

        Returns:
            The queued `Job`; once it has succeeded its ``result`` carries ``report_id``,
            ``drift_detected``, ``drifted_share``, ``drifted_columns`` and ``decay_detected``.

        Raises:
            InvalidSpec: an unknown deployment, a bad window, reference or option; the detail names it.
        """
        if hours is not None and last is not None:
            raise ValueError("give at most one of hours and last")
        window = {"predictions": int(last)} if last is not None else {"hours": 24.0 if hours is None else hours}
        spec: dict[str, Any] = {"deployment": deployment, "window": window}
        if reference is not None:
            spec["reference"] = reference
        drift_options = dict(options or {})
        if preset is not None:
            drift_options["preset"] = preset
        if drift_options:
            spec["options"] = drift_options
        if performance is not None:
            spec["performance"] = dict(performance)
        return self.submit_job("drift_check", spec, idempotency_key=idempotency_key)

    def list_drift_reports(
        self, deployment: str, *, max_results: int | None = 50, page_token: str | None = None
    ) -> Page[DriftReportSummary]:
        """A deployment's drift reports, newest first, as summaries.

        Raises:
            DeploymentNotFound: no deployment has this name.
        """
        path = f"/deployments/{segment(deployment)}/drift-reports"
        items, token = self._paginate(path, "reports", {}, max_results, page_token)
        return Page([DriftReportSummary.from_json(item) for item in items], token)

    def get_drift_report(self, report_id: int) -> DriftReport:
        """A whole drift report: the summary and its body (columns, prediction, performance).

        Raises:
            DriftReportNotFound: no report has this id.
        """
        return DriftReport.from_json(self._request("GET", f"/drift-reports/{int(report_id)}").json())

    def set_monitor(
        self,
        deployment: str,
        *,
        every: str | int | None = None,
        cron: str | None = None,
        hours: float | None = None,
        last: int | None = None,
        reference: str | None = None,
        options: Mapping[str, Any] | None = None,
        performance: Mapping[str, Any] | None = None,
        on_drift: Sequence[str] = (),
        on_decay: Sequence[str] = (),
        webhook: str | None = None,
        secret: str | None = None,
        retrain: Mapping[str, Any] | None = None,
        enabled: bool = True,
    ) -> Monitor:
        """Create or replace the deployment's monitor: a drift check on a schedule, and what to do
        when it finds drift or decay.

        Args:
            deployment: the deployment.
            every: the interval (``"1h"``, ``"15m"``, or seconds, at least 10); or
            cron: a cron expression in UTC (``"0 * * * *"``); exactly one of the two.
            hours: each check reads the last this many hours (the default, 24); or
            last: the last this many logged predictions.
            reference: ``name@N``; default the dataset the serving version was trained on.
            options: drift options (``preset``, ``drift_share``, ``column_tests``, ``column_thresholds``).
            performance: ``{"threshold": 0.8}`` (and ``metric``, ``min_labelled``) judges decay.
            on_drift, on_decay: the actions, ``alert`` and/or ``retrain``.
            webhook: where ``alert`` posts (http(s), a public address unless the server allows it).
            secret: signs each delivery (at least 16 characters); None keeps the one set before.
            retrain: the retrain job's ``data``, ``gates``, ``holdout`` and ``rollout`` (see `retrain`).
            enabled: False keeps the monitor but pauses its schedule.

        Returns:
            The `Monitor`, with its schedule's next run.

        Raises:
            InvalidInput: a bad timing, window, gate or rollout, an action without what it needs,
                or a serving version with no training spec to retrain; the detail names the field.
            UrlRefused: the webhook is an address the server does not send to.
            DeploymentNotFound: no such deployment.
        """
        if hours is not None and last is not None:
            raise ValueError("give at most one of hours and last")
        body: dict[str, Any] = {
            "window": {"predictions": int(last)} if last is not None else {"hours": 24.0 if hours is None else hours},
            "enabled": enabled,
        }
        optional = {"every": every, "cron": cron, "reference": reference}
        body.update({key: value for key, value in optional.items() if value is not None})
        if options is not None:
            body["options"] = dict(options)
        if performance is not None:
            body["performance"] = dict(performance)
        actions: dict[str, Any] = {"on_drift": list(on_drift), "on_decay": list(on_decay)}
        if webhook is not None:
            actions["alert"] = {"url": webhook, **({"secret": secret} if secret is not None else {})}
        if retrain is not None:
            actions["retrain"] = dict(retrain)
        body["actions"] = actions
        return Monitor.from_json(self._request("PUT", f"/deployments/{segment(deployment)}/monitor", json=body).json())

    def get_monitor(self, deployment: str) -> Monitor:
        """The deployment's monitor (its webhook secret never shown), its schedule and newest report.

        Raises:
            MonitorNotFound: the deployment has no monitor.
            DeploymentNotFound: no such deployment.
        """
        return Monitor.from_json(self._request("GET", f"/deployments/{segment(deployment)}/monitor").json())

    def delete_monitor(self, deployment: str) -> None:
        """Delete the deployment's monitor and its schedule (its drift reports stay).

        Raises:
            MonitorNotFound: the deployment has no monitor.
            DeploymentNotFound: no such deployment.
        """
        self._request("DELETE", f"/deployments/{segment(deployment)}/monitor")
