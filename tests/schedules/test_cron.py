"""The cron parser and its fire times: every field form, Vixie cron's day-of-month/day-of-week
rule, and the next and latest fire times checked against a minute-by-minute walk."""

from datetime import UTC, datetime, timedelta

import pytest

from app.schedules.cron import Cron, CronError
from app.schedules.ticks import MIN_INTERVAL_SECONDS, Ticks, TimingError, interval_seconds

START = datetime(2027, 2, 26, 22, 47, 31, tzinfo=UTC)  # a Friday, two days before March


def fire_times(cron: Cron, start: datetime, minutes: int) -> list[datetime]:
    """Every minute in the window that the expression matches, found the slow, obvious way."""
    first = start.replace(second=0, microsecond=0)
    moments = (first + timedelta(minutes=i) for i in range(minutes))
    return [m for m in moments if m.minute in cron.minutes and m.hour in cron.hours and cron.matches_day(m.date())]


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "*/7 * * * *",
        "5,35 */3 * * *",
        "0-10/5 22-23 * * *",
        "15 6 1 * *",
        "0 0 * * sun",
        "30 8 * * mon-fri",
        "0 12 1 mar *",
        "0 0 13 * fri",  # both restricted: the 13th, or any Friday
        "0 0 */2 * 0",  # a step on day-of-month counts as `*`: Sundays that are odd days
        "59 23 28-31 feb,mar *",
        "@hourly",
        "@daily",
    ],
)
def test_next_and_latest_agree_with_a_walk_minute_by_minute(expression: str) -> None:
    cron = Cron.parse(expression)
    window = 14 * 24 * 60
    expected = fire_times(cron, START, window)
    assert expected, "the window holds fire times to compare"
    end = START.replace(second=0) + timedelta(minutes=window)
    found, moment = [], START
    while (moment := cron.next_after(moment)) < end:
        found.append(moment)
    assert found == [t for t in expected if t > START]
    for earlier, later in zip(expected, expected[1:], strict=False):
        assert cron.latest_at_or_before(later - timedelta(seconds=1)) == earlier
        assert cron.latest_at_or_before(later) == later


def test_fields_read_as_cron_reads_them() -> None:
    cron = Cron.parse("*/15 9-17/4 1,15 jan-MAR 7")
    assert cron.minutes == (0, 15, 30, 45)
    assert cron.hours == (9, 13, 17)
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3}
    assert cron.weekdays == {0}  # 7 is Sunday too
    assert Cron.parse("  0   6 * *\tmon ").expression == "0 6 * * mon"


def test_day_of_month_and_day_of_week() -> None:
    either = Cron.parse("0 0 13 * fri")
    assert either.matches_day(datetime(2027, 8, 13).date())  # a Friday the 13th
    assert either.matches_day(datetime(2027, 8, 6).date())  # a Friday
    assert either.matches_day(datetime(2027, 9, 13).date())  # a Monday the 13th
    assert not either.matches_day(datetime(2027, 9, 14).date())
    fridays = Cron.parse("0 0 * * fri")
    assert not fridays.matches_day(datetime(2027, 9, 13).date())


def test_a_leap_day_waits_for_its_year() -> None:
    cron = Cron.parse("0 0 29 2 *")
    assert cron.next_after(START) == datetime(2028, 2, 29, tzinfo=UTC)
    assert cron.latest_at_or_before(START) == datetime(2024, 2, 29, tzinfo=UTC)
    assert cron.next_after(datetime(2096, 3, 1, tzinfo=UTC)) == datetime(
        2104, 2, 29, tzinfo=UTC
    )  # 2100 is no leap year


def test_next_is_strictly_after_and_latest_includes_the_instant() -> None:
    cron = Cron.parse("*/5 * * * *")
    on_tick = datetime(2027, 1, 1, 10, 5, tzinfo=UTC)
    assert cron.next_after(on_tick) == datetime(2027, 1, 1, 10, 10, tzinfo=UTC)
    assert cron.latest_at_or_before(on_tick) == on_tick
    assert cron.next_after(datetime(2027, 12, 31, 23, 59, 30, tzinfo=UTC)) == datetime(2028, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute field '61': 61 is outside 0-59"),
        ("* 24 * * *", "hour field '24': 24 is outside 0-23"),
        ("* * 0 * *", "day-of-month field '0': 0 is outside 1-31"),
        ("* * * 13 *", "month field '13': 13 is outside 1-12"),
        ("* * * * 8", "day-of-week field '8': 8 is outside 0-7"),
        ("* * *", "has 5 fields (minute hour day-of-month month day-of-week), '* * *' has 3"),
        ("", "has 0"),
        ("* * * * * *", "has 6"),
        ("*/0 * * * *", "the step '0' is not a whole number of at least 1"),
        ("5/15 * * * *", "a step needs `*` or a range before it"),
        ("30-10 * * * *", "the range '30-10' runs backwards"),
        ("1,,2 * * * *", "an empty item in the list"),
        ("* * * smarch *", "'smarch' is not a number or a name (jan, feb"),
        ("* * * * funday", "'funday' is not a number or a name (sun, mon"),
        ("x * * * *", "'x' is not a number"),
        ("0 0 31 2 *", "never fires: none of its months has a day 31"),
        ("0 0 30 feb,feb *", "never fires"),
        ("@fortnightly", "has 1"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError) as raised:
        Cron.parse(expression)
    assert message in str(raised.value)


def test_a_day_no_month_has_is_fine_when_another_of_its_months_has_it() -> None:
    assert Cron.parse("0 0 31 2,3 *").next_after(START) == datetime(2027, 3, 31, tzinfo=UTC)
    assert Cron.parse("0 0 31 2 mon").next_after(START).weekday() == 0  # day of week alone fires


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Cron.parse("* * * * *").next_after(datetime(2027, 1, 1))


@pytest.mark.parametrize(
    ("every", "seconds"),
    [(10, 10), ("10", 10), ("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("1d", 86400), ("2w", 1209600)],
)
def test_intervals(every: int | str, seconds: int) -> None:
    assert interval_seconds(every) == seconds


@pytest.mark.parametrize(
    ("every", "message"),
    [
        (9, "9 s is shorter than the shortest interval, 10 s"),
        ("5s", "5 s is shorter"),
        (0, "shorter"),
        (-60, "shorter"),
        ("367d", "longer than the longest interval, 366 days"),
        ("1 hour", "is not an interval"),
        ("1.5h", "is not an interval"),
        ("", "is not an interval"),
    ],
)
def test_bad_intervals(every: int | str, message: str) -> None:
    with pytest.raises(TimingError) as raised:
        interval_seconds(every)
    assert message in str(raised.value)
    assert raised.value.field == "every"


def test_interval_ticks_fall_on_multiples_since_the_epoch() -> None:
    hourly = Ticks.of("1h", None)
    assert hourly.latest_at_or_before(START) == datetime(2027, 2, 26, 22, tzinfo=UTC)
    assert hourly.next_after(START) == datetime(2027, 2, 26, 23, tzinfo=UTC)
    on_tick = datetime(2027, 2, 26, 23, tzinfo=UTC)
    assert hourly.latest_at_or_before(on_tick) == on_tick
    assert hourly.next_after(on_tick) == datetime(2027, 2, 27, tzinfo=UTC)
    odd = Ticks.of(7 * 60, None)
    tick = odd.next_after(START)
    assert tick.timestamp() % 420 == 0
    assert START < tick <= START + timedelta(minutes=7)


def test_a_schedule_has_exactly_one_timing() -> None:
    for every, cron in ((None, None), (60, "* * * * *")):
        with pytest.raises(TimingError, match="exactly one of every and cron"):
            Ticks.of(every, cron)
    with pytest.raises(TimingError) as raised:
        Ticks.of(None, "61 * * * *")
    assert raised.value.field == "cron"
    assert str(raised.value).startswith("cron: minute field")
    assert Ticks.of(MIN_INTERVAL_SECONDS, None).every_seconds == MIN_INTERVAL_SECONDS
