"""Five-field cron expressions (minute, hour, day of month, month, day of week), read in UTC:
parsed once with errors that name the field, then asked for the next fire time after an instant
or the latest one at or before it. Pure Python; no database, no clock of its own."""

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MAX_EXPRESSION_LENGTH = 256
MONTH_NAMES = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
# cron counts days of the week from Sunday = 0 (7 is Sunday too).
DAY_NAMES = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The longest a valid expression waits between two fire times is eight years (29 February in
# day-of-month mode, across a century year that is not leap); a search never needs more steps.
_SEARCH_STEPS = 100_000
_MINUTE = timedelta(minutes=1)


class CronError(ValueError):
    """An expression that is not a valid five-field cron expression; the message says why."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, MONTH_NAMES),
    _Field("day-of-week", 0, 7, DAY_NAMES),
)


@dataclass(frozen=True)
class Cron:
    """A parsed expression. Day of month and day of week combine as in Vixie cron: when both are
    restricted (neither starts with `*`), a day matches either; otherwise it must match both."""

    # As given, with its white space made single spaces.
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> "Cron":
        given = " ".join(expression.split())
        if len(given) > MAX_EXPRESSION_LENGTH:
            raise CronError(f"a cron expression is at most {MAX_EXPRESSION_LENGTH} characters")
        text = ALIASES.get(given.lower(), given)
        parts = text.split(" ") if text else []
        if len(parts) != len(_FIELDS):
            raise CronError(
                f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                f"{expression.strip()!r} has {len(parts)}"
            )
        values = [_parse_field(field, part) for field, part in zip(_FIELDS, parts, strict=True)]
        minutes, hours, days, months, weekdays = values
        cron = cls(
            expression=given,
            minutes=tuple(sorted(minutes)),
            hours=tuple(sorted(hours)),
            days=frozenset(days),
            months=frozenset(months),
            weekdays=frozenset(day % 7 for day in weekdays),
            any_day=parts[2].startswith("*"),
            any_weekday=parts[4].startswith("*"),
        )
        if cron.any_weekday and not cron.any_day and not any(min(days) <= _longest(month) for month in months):
            raise CronError(f"{text!r} never fires: none of its months has a day {min(days)}")
        return cron

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, instant: datetime) -> datetime:
        """The first fire time strictly after `instant` (an aware datetime), in UTC."""
        moment = _minute(instant) + _MINUTE
        for _ in range(_SEARCH_STEPS):
            if moment.month not in self.months:
                moment = _first_of_next_month(moment)
            elif not self.matches_day(moment.date()):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
            else:
                minute = next((m for m in self.minutes if m >= moment.minute), None)
                if minute is not None:
                    return moment.replace(minute=minute)
                moment = moment.replace(minute=0) + timedelta(hours=1)
        raise AssertionError(f"no fire time of {self.expression!r} found after {instant.isoformat()}")

    def latest_at_or_before(self, instant: datetime) -> datetime:
        """The last fire time at or before `instant` (an aware datetime), in UTC."""
        moment = _minute(instant)
        for _ in range(_SEARCH_STEPS):
            if moment.month not in self.months:
                moment = moment.replace(day=1, hour=0, minute=0) - _MINUTE
            elif not self.matches_day(moment.date()):
                moment = moment.replace(hour=0, minute=0) - _MINUTE
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) - _MINUTE
            else:
                minute = next((m for m in reversed(self.minutes) if m <= moment.minute), None)
                if minute is not None:
                    return moment.replace(minute=minute)
                moment = moment.replace(minute=0) - _MINUTE
        raise AssertionError(f"no fire time of {self.expression!r} found before {instant.isoformat()}")


def _parse_field(field: _Field, text: str) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(field, item, text)
    return values


def _parse_item(field: _Field, item: str, text: str) -> set[int]:
    def bad(why: str) -> CronError:
        return CronError(f"{field.name} field {text!r}: {why}")

    if not item:
        raise bad("an empty item in the list")
    span, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdecimal() or int(step_text) < 1:
            raise bad(f"the step {step_text!r} is not a whole number of at least 1")
        step = int(step_text)
    if span == "*":
        low, high = field.low, field.high
    elif "-" in span:
        first, _, last = span.partition("-")
        low, high = _value(field, first, bad), _value(field, last, bad)
        if low > high:
            raise bad(f"the range {span!r} runs backwards")
    else:
        if slash:
            raise bad(f"a step needs `*` or a range before it, as in */{step} or 0-30/{step}")
        low = high = _value(field, span, bad)
    return set(range(low, high + 1, step))


def _value(field: _Field, text: str, bad: Callable[[str], CronError]) -> int:
    name = text.lower()
    if name in field.names:
        return field.names[name]
    if not text.isdecimal():
        known = f" or a name ({', '.join(field.names)})" if field.names else ""
        raise bad(f"{text!r} is not a number{known}")
    number = int(text)
    if not field.low <= number <= field.high:
        raise bad(f"{number} is outside {field.low}-{field.high}")
    return number


def _longest(month: int) -> int:
    """The most days `month` has in any year (29 for February)."""
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _minute(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("a naive datetime: cron times are read in UTC, give an aware one")
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)
