"""When a schedule fires: interval ticks fall on multiples of the interval counted from the Unix
epoch (UTC), so `every: 1h` fires on the hour whenever the schedule was made; cron ticks come from
the expression. Also the interval's text form ("90s", "15m", "1h30m", "1d")."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.schedules.cron import Cron, CronError

MIN_INTERVAL_SECONDS = 10
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")


class TimingError(ValueError):
    """An interval or cron expression a schedule cannot have; the message says why."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def interval_seconds(every: int | str) -> int:
    """Seconds of `every`: a whole number of seconds, or a duration such as 90s, 15m, 1h30m, 1d."""
    if isinstance(every, str):
        text = every.strip().lower()
        if text.isdecimal():
            seconds = int(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))
        else:
            raise TimingError(
                f"every: {every!r} is not an interval; give seconds (3600) or a duration such as 90s, 15m, 1h30m, 1d",
                "every",
            )
    else:
        seconds = every
    if seconds < MIN_INTERVAL_SECONDS:
        raise TimingError(
            f"every: {seconds} s is shorter than the shortest interval, {MIN_INTERVAL_SECONDS} s", "every"
        )
    if seconds > MAX_INTERVAL_SECONDS:
        raise TimingError(f"every: {seconds} s is longer than the longest interval, 366 days", "every")
    return seconds


@dataclass(frozen=True)
class Ticks:
    """The tick times of one schedule: every `every_seconds`, or those of `cron`."""

    every_seconds: int | None
    cron: Cron | None

    @classmethod
    def of(cls, every: int | str | None, cron: str | None) -> "Ticks":
        """Exactly one of an interval (see interval_seconds) and a cron expression; TimingError
        otherwise, or when the one given is not valid."""
        if (every is None) == (cron is None):
            raise TimingError("give exactly one of every and cron", "every")
        if every is not None:
            return cls(every_seconds=interval_seconds(every), cron=None)
        assert cron is not None
        try:
            return cls(every_seconds=None, cron=Cron.parse(cron))
        except CronError as exc:
            raise TimingError(f"cron: {exc}", "cron") from exc

    def next_after(self, instant: datetime) -> datetime:
        """The first tick strictly after `instant`."""
        if self.cron is not None:
            return self.cron.next_after(instant)
        assert self.every_seconds is not None
        return self._interval_tick(instant) + timedelta(seconds=self.every_seconds)

    def latest_at_or_before(self, instant: datetime) -> datetime:
        """The last tick at or before `instant`: the one a scheduler that missed several fires."""
        if self.cron is not None:
            return self.cron.latest_at_or_before(instant)
        return self._interval_tick(instant)

    def _interval_tick(self, instant: datetime) -> datetime:
        assert self.every_seconds is not None
        epoch_seconds = int(instant.timestamp())  # floor for any instant after 1970
        return datetime.fromtimestamp(epoch_seconds - epoch_seconds % self.every_seconds, tz=UTC)
