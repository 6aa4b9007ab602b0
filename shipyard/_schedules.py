"""`Client` methods for schedules: jobs submitted at every tick of an interval or a cron expression."""

from collections.abc import Mapping
from typing import Any

from shipyard._base import ClientBase, segment
from shipyard.schemas import Page, Schedule, ScheduleTick


class SchedulesMixin(ClientBase):
    def create_schedule(
        self,
        name: str,
        job_type: str,
        spec: Mapping[str, Any],
        *,
        every: int | str | None = None,
        cron: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        """Submit a job at every tick of an interval or a cron expression (UTC).

        Args:
            name: the schedule's name (letters, digits and ``_.-``).
            job_type: ``train`` or ``evaluate``.
            spec: the job's spec, checked now as `submit_job` checks it.
            every: seconds, or a duration such as ``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"``
                (10 s to 366 days); ticks fall on multiples of it since 1970-01-01 UTC, so
                ``"1h"`` fires on the hour. Or
            cron: a five-field cron expression such as ``"*/5 * * * *"`` or ``"0 6 * * mon-fri"``
                (exactly one of every and cron).
            enabled: False creates it paused.

        Returns:
            The new `Schedule`, with its `next_run_at`.

        Raises:
            InvalidInput: both or neither of every and cron, an interval out of bounds, a
                malformed cron expression; the detail says which.
            InvalidSpec, Forbidden, DatasetNotFound, ModelNotFound: the spec, as for `submit_job`.
            ScheduleConflict: a schedule has this name already.
        """
        body: dict[str, Any] = {"name": name, "job_type": job_type, "spec": dict(spec), "enabled": enabled}
        if every is not None:
            body["every"] = every
        if cron is not None:
            body["cron"] = cron
        return Schedule.from_json(self._request("POST", "/schedules", json=body).json())

    def get_schedule(self, name: str) -> Schedule:
        """A schedule: its timing, spec, next tick, and the last tick's job or why it was skipped.

        Raises:
            ScheduleNotFound: no schedule has this name.
        """
        return Schedule.from_json(self._request("GET", f"/schedules/{segment(name)}").json())

    def list_schedules(self, *, max_results: int | None = None, page_token: str | None = None) -> Page[Schedule]:
        """Schedules, oldest first.

        Args:
            max_results: stop after this many; None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.
        """
        items, token = self._paginate("/schedules", "schedules", {}, max_results, page_token)
        return Page([Schedule.from_json(item) for item in items], token)

    def update_schedule(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        every: int | str | None = None,
        cron: str | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> Schedule:
        """Change what is given: pause or resume, a new interval or cron expression (one of the
        two; it replaces the timing), or a new spec (checked now; the jobs then run as you).

        Returns:
            The updated `Schedule`.

        Raises:
            ScheduleNotFound: no schedule has this name.
            ScheduleManaged: the platform manages it (a deployment monitor): change it there.
            InvalidInput, InvalidSpec, Forbidden: as for `create_schedule`.
        """
        body: dict[str, Any] = {"enabled": enabled, "every": every, "cron": cron}
        body = {key: value for key, value in body.items() if value is not None}
        if spec is not None:
            body["spec"] = dict(spec)
        return Schedule.from_json(self._request("PATCH", f"/schedules/{segment(name)}", json=body).json())

    def pause_schedule(self, name: str) -> Schedule:
        """Stop submitting jobs until `resume_schedule`. Raises as `update_schedule`."""
        return self.update_schedule(name, enabled=False)

    def resume_schedule(self, name: str) -> Schedule:
        """Submit jobs again from the next tick (the ticks missed while paused stay missed)."""
        return self.update_schedule(name, enabled=True)

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule; the jobs it submitted stay.

        Raises:
            ScheduleNotFound: no schedule has this name.
            ScheduleManaged: the platform manages it: delete it where it is managed.
        """
        self._request("DELETE", f"/schedules/{segment(name)}")

    def list_schedule_ticks(
        self, name: str, *, max_results: int | None = 50, page_token: str | None = None
    ) -> Page[ScheduleTick]:
        """The schedule's ticks of the last seven days, newest first: each one's job or skip reason.

        Raises:
            ScheduleNotFound: no schedule has this name.
        """
        items, token = self._paginate(f"/schedules/{segment(name)}/ticks", "ticks", {}, max_results, page_token)
        return Page([ScheduleTick.from_json(item) for item in items], token)
