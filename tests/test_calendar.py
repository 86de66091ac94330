"""
Business calendars: add / elapsed / add_days against a slow reference, and regressions.

The reference below shares no code with ``civiccrm.routing.calendar``. It steps real
(UTC) instants one minute at a time and decides whether each is open from the local
wall clock alone: an instant is open when the highest wall-clock reading seen so far
(the "high-water mark", which stands still while the clocks replay a repeated hour)
falls inside a working interval ``[open, close)`` of the date the shift opens on. That
is the spec's "a wall time means its first instant" rule, read from the other side: a
shift has begun once the clock has shown its opening time, and has ended once the
clock has shown its closing time.

All the generated calendars have boundaries on whole minutes and their zones have
whole-minute offsets, so being open is constant within each UTC minute: the reference
is exact to the microsecond by taking the part of each minute inside the range.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import pickle
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import ValidationError
from civiccrm.routing.calendar import BusinessCalendar

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")

Pair = tuple[datetime, datetime]


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    """A local wall time as an aware datetime (fold=0 unless told)."""
    return datetime(*args, tzinfo=zone, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


# --------------------------------------------------------------------------------------
# Calendars used by the property tests, as plain data


@dataclasses.dataclass(eq=False)
class Spec:
    name: str
    zone: str
    hours: dict[int, tuple[tuple[time, time | None], ...]] | None
    holidays: frozenset[date] = frozenset()
    half_days: dict[date, tuple[tuple[time, time | None], ...]] = dataclasses.field(
        default_factory=dict
    )
    closures: tuple[Pair, ...] = ()

    def __repr__(self) -> str:
        return f"Spec({self.name})"

    @functools.cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(
            code=self.name,
            zone=self.zone,
            hours=self.hours,
            holidays=self.holidays,
            half_days=self.half_days,
            closures=self.closures,
        )

    @functools.cached_property
    def reference(self) -> Reference:
        return Reference(self)


YEARS = range(2024, 2032)
US_IL = frozenset(holidays.country_holidays("US", subdiv="IL", years=YEARS, observed=True))
UK_ENG = frozenset(holidays.country_holidays("GB", subdiv="ENG", years=YEARS, observed=True))
AU_NSW = frozenset(holidays.country_holidays("AU", subdiv="NSW", years=YEARS, observed=True))
SPLIT = ((time(8), time(12)), (time(13), time(17)))

SPECS = [
    # Springfield-like: split shift, US federal + Illinois holidays, a half day, a snow
    # day, an afternoon outage on the day after a DST change.
    Spec(
        "springfield",
        "America/Chicago",
        dict.fromkeys(range(5), SPLIT),
        holidays=US_IL | {date(2026, 8, 14)},
        half_days={date(2024, 12, 24): ((time(8), time(12)),), date(2029, 3, 12): ()},
        closures=(
            (local(CHICAGO, 2025, 1, 15, 0), local(CHICAGO, 2025, 1, 16, 0)),
            (local(CHICAGO, 2024, 11, 4, 14, 30), local(CHICAGO, 2024, 11, 4, 15, 10)),
        ),
    ),
    # Open around the clock in New York, with an outage across a spring-forward jump.
    Spec(
        "24x7",
        "America/New_York",
        None,
        holidays=frozenset({date(2027, 7, 4)}),
        closures=((utc(2026, 3, 8, 6), utc(2026, 3, 8, 8)),),
    ),
    # A night shift every day (22:00-06:00, across both DST changes), a day shift on
    # weekdays, a half day on a spring-forward Sunday, a closure over two nights.
    Spec(
        "night",
        "America/Chicago",
        {d: ((time(22), time(6)),) + (((time(8), time(16)),) if d < 5 else ()) for d in range(7)},
        holidays=US_IL,
        half_days={date(2025, 3, 9): ((time(8), time(9)), (time(23), time(5)))},
        closures=((local(CHICAGO, 2025, 12, 24, 20), local(CHICAGO, 2025, 12, 26, 3)),),
    ),
    # Boundaries inside the gap and the repeated hour, a close of 24:00, a closure
    # across a fall-back.
    Spec(
        "edge-ny",
        "America/New_York",
        dict.fromkeys(
            range(7), ((time(1, 30), time(2, 30)), (time(5), time(12)), (time(20), None))
        ),
        closures=((utc(2025, 11, 2, 5, 45), utc(2025, 11, 2, 6, 10)),),
    ),
    # A UK office with English bank holidays, a snow day and a one-minute outage.
    Spec(
        "london",
        "Europe/London",
        dict.fromkeys(range(5), ((time(9), time(17, 30)),)),
        holidays=UK_ENG,
        closures=(
            (local(LONDON, 2026, 2, 10, 0), local(LONDON, 2026, 2, 11, 0)),
            (local(LONDON, 2024, 10, 28, 12), local(LONDON, 2024, 10, 28, 12, 1)),
        ),
    ),
    # London edges: a shift ending in the repeated hour, one opening in the gap, a short
    # shift across midnight, a closure across a spring-forward jump.
    Spec(
        "edge-london",
        "Europe/London",
        {
            **dict.fromkeys(
                range(6), ((time(0, 30), time(1, 30)), (time(9), time(17)), (time(23), time(0, 15)))
            ),
            6: ((time(1, 15), time(3)), (time(12), time(13))),
        },
        closures=((utc(2026, 3, 29, 0, 50), utc(2026, 3, 29, 1, 20)),),
    ),
    # Long shifts past midnight that run into the evening of the next local date, which
    # is already the day after in UTC; a close of 24:00 touching a 00:00 opening.
    Spec(
        "long-shift",
        "America/Los_Angeles",
        {
            0: ((time(18), time(17, 30)),),
            2: ((time(19), time(18, 30)),),
            4: ((time(6), None),),
            5: ((time(0), time(23)),),
            6: ((time(1), time(4)),),
        },
    ),
    # East of UTC, with southern-hemisphere DST (changes at 02:00/03:00 on Sundays).
    Spec(
        "sydney",
        "Australia/Sydney",
        {
            **dict.fromkeys(range(5), ((time(9), time(17)),)),
            5: ((time(22), time(1, 30)),),
            6: ((time(2, 30), time(3, 30)),),
        },
        holidays=AU_NSW,
        closures=((utc(2027, 10, 2, 15), utc(2027, 10, 2, 16, 15)),),
    ),
]
SPEC_BY_NAME = {s.name: s for s in SPECS}


def transition_days(zone: ZoneInfo) -> list[date]:
    """The local dates in 2024-2030 on which the zone's offset changes."""
    out = []
    day = date(2024, 1, 1)
    while day <= date(2030, 12, 31):
        a = datetime.combine(day, time(0), zone).utcoffset()
        b = datetime.combine(day + DAY, time(0), zone).utcoffset()
        if a != b:
            out.append(day)
        day += DAY
    return out


DST_DAYS = {name: transition_days(ZoneInfo(name)) for name in {s.zone for s in SPECS}}


# --------------------------------------------------------------------------------------
# The reference


class Reference:
    """Minute stepping in local wall time: slow, simple and separate."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.zone)
        self._walls: dict[date, list[tuple[datetime, datetime]]] = {}
        self._days: dict[date, list[datetime]] = {}

    def walls(self, day: date) -> list[tuple[datetime, datetime]]:
        """Wall-clock [start, end) of the shifts that open on ``day`` (naive)."""
        if day not in self._walls:
            spec = self.spec
            if day in spec.half_days:
                shifts = spec.half_days[day]
            elif day in spec.holidays:
                shifts = ()
            elif spec.hours is None:
                shifts = ((time(0), None),)
            else:
                shifts = spec.hours.get(day.weekday(), ())
            out = []
            for opening, closing in shifts:
                start = datetime.combine(day, opening)
                if closing is None:
                    end = datetime.combine(day + DAY, time(0))
                elif closing > opening:
                    end = datetime.combine(day, closing)
                else:
                    end = datetime.combine(day + DAY, closing)
                out.append((start, end))
            self._walls[day] = out
        return self._walls[day]

    def owner(self, high_water: datetime) -> date | None:
        """The date whose shift is running when the clock has reached ``high_water``."""
        for day in (high_water.date() - DAY, high_water.date()):
            for start, end in self.walls(day):
                if start <= high_water < end:
                    return day
        return None

    def minutes(self, first: datetime) -> Iterator[tuple[datetime, date | None]]:
        """Each UTC minute from ``first`` on, with the date whose shift has it open."""
        assert first.second == first.microsecond == 0
        at = first - timedelta(hours=6)  # to learn the high-water mark
        high_water: datetime | None = None
        while True:
            wall = at.astimezone(self.zone).replace(tzinfo=None)
            if high_water is None or wall > high_water:
                high_water = wall
            if at >= first:
                day = self.owner(high_water)
                if day is not None and any(a <= at < b for a, b in self.spec.closures):
                    day = None
                yield at, day
            at += MINUTE

    def open_minutes(self, start: datetime, pauses: Sequence[Pair] = ()) -> Iterator[datetime]:
        """The open, unpaused UTC minutes from the minute of ``start`` on (for 60 days)."""
        first = floor_minute(start)
        for at, day in self.minutes(first):
            if at > first + timedelta(days=60):
                raise AssertionError("reference found nothing in 60 days")
            if day is not None and not any(a <= at < b for a, b in pauses):
                yield at

    def is_open(self, t: datetime) -> bool:
        return next(self.minutes(floor_minute(t)))[1] is not None

    def add(self, start: datetime, duration: timedelta, pauses: Sequence[Pair] = ()) -> datetime:
        left = duration
        for at in self.open_minutes(start, pauses):
            low = max(at, start)
            room = at + MINUTE - low
            if room <= timedelta(0):
                continue
            if not left:
                return low
            if room >= left:
                return low + left
            left -= room
        raise AssertionError("unreachable")

    def elapsed(self, start: datetime, end: datetime, pauses: Sequence[Pair] = ()) -> timedelta:
        total = timedelta(0)
        if end <= start:
            return total
        for at, day in self.minutes(floor_minute(start)):
            if at >= end:
                return total
            if day is not None and not any(a <= at < b for a, b in pauses):
                total += max(timedelta(0), min(at + MINUTE, end) - max(at, start))
        raise AssertionError("unreachable")

    def day_minutes(self, day: date) -> list[datetime]:
        """The open minutes of the shifts that open on ``day``."""
        if day not in self._days:
            first = datetime.combine(day, time(0), self.zone).astimezone(UTC) - h(3)
            last = datetime.combine(day + 2 * DAY, time(0), self.zone).astimezone(UTC) + h(3)
            found = []
            for at, owner in self.minutes(first):
                if at >= last:
                    break
                if owner == day:
                    found.append(at)
            self._days[day] = found
        return self._days[day]

    def add_days(self, start: datetime, days: int, pauses: Sequence[Pair] = ()) -> datetime:
        day = start.astimezone(self.zone).date()
        found = self.day_minutes(day)
        if not found or start >= found[-1] + MINUTE:
            day += DAY
            while not self.day_minutes(day):
                day += DAY
        while days:
            day += DAY
            found = self.day_minutes(day)
            if found and not all(any(a <= m < b for a, b in pauses) for m in found):
                days -= 1
        return self.day_minutes(day)[-1] + MINUTE


def floor_minute(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(second=0, microsecond=0)


# --------------------------------------------------------------------------------------
# Strategies


def boundaries(spec: Spec, day: date) -> list[datetime]:
    """Instants near the opens and closes of ``day``'s shifts, and of closures."""
    zone = ZoneInfo(spec.zone)
    walls = spec.reference.walls(day)
    out = [datetime.combine(w.date(), w.time(), zone) for pair in walls for w in pair]
    out += [t for pair in spec.closures for t in pair if abs(t.date() - day) <= 2 * DAY]
    return [t.astimezone(UTC) for t in out] or [datetime.combine(day, time(12), UTC)]


def special_days(spec: Spec) -> list[date]:
    """DST changes, holidays, half days and closures of a spec, in 2024-2030."""
    days = set(DST_DAYS[spec.zone]) | set(spec.half_days)
    days |= {d for d in spec.holidays if d.year <= 2030}
    days |= {t.astimezone(ZoneInfo(spec.zone)).date() for pair in spec.closures for t in pair}
    return sorted(days)


@st.composite
def days(draw: st.DrawFn, spec: Spec) -> date:
    if draw(st.booleans()):
        return draw(st.dates(date(2024, 1, 1), date(2030, 12, 31)))
    return draw(st.sampled_from(special_days(spec))) + draw(st.integers(-1, 1)) * DAY


@st.composite
def starts(draw: st.DrawFn, spec: Spec, *, whole_minutes: bool = True) -> datetime:
    """Instants in 2024-2030, often near a DST change, a holiday, a half day, a closure
    or a shift's open or close."""
    day = draw(days(spec))
    if draw(st.booleans()):
        at = draw(st.sampled_from(boundaries(spec, day)))
        at += draw(st.sampled_from((0, 0, 0, -1, 1, -60, 60))) * MINUTE
    else:
        at = datetime.combine(day, time(0), UTC) + draw(st.integers(-36 * 60, 36 * 60)) * MINUTE
    if not whole_minutes and draw(st.integers(0, 3)):
        at += timedelta(microseconds=draw(st.integers(0, 59_999_999)))
    return at


@st.composite
def pause_lists(draw: st.DrawFn, spec: Spec, start: datetime) -> list[Pair]:
    """Up to three pauses on whole minutes near ``start`` (they may overlap); their ends
    often on a shift's open or close."""
    base = floor_minute(start)
    near = [
        t
        for offset in range(-1, 5)
        for t in boundaries(spec, start.astimezone(ZoneInfo(spec.zone)).date() + offset * DAY)
    ]
    out = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            a = base + draw(st.integers(-600, 4000)) * MINUTE
        else:
            a = draw(st.sampled_from(near))
        if draw(st.booleans()):
            b = a + draw(st.integers(0, 3000)) * MINUTE
        else:
            b = max(a, draw(st.sampled_from(near)))
        out.append((a, b))
    return out


specs = st.sampled_from(SPECS)


def in_zone(t: datetime, data: st.DataObject) -> datetime:
    """The same instant in some zone or other: inputs may be any aware datetime."""
    zone = data.draw(
        st.sampled_from((UTC, CHICAGO, LONDON, timezone(timedelta(hours=5, minutes=30))))
    )
    return t.astimezone(zone)


# --------------------------------------------------------------------------------------
# Property tests against the reference


@settings(max_examples=300)
@given(spec=specs, data=st.data())
def test_add_agrees_with_the_reference(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec))
    duration = data.draw(st.integers(0, 2400)) * MINUTE
    pauses = data.draw(pause_lists(spec, start))
    got = spec.calendar.add(in_zone(start, data), duration, pauses=pauses)
    assert got == spec.reference.add(start, duration, pauses)
    assert got.tzinfo is UTC
    assert spec.calendar.elapsed(start, got, pauses=pauses) == duration


@settings(max_examples=300)
@given(spec=specs, data=st.data())
def test_elapsed_agrees_with_the_reference(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec))
    end = start + data.draw(st.integers(-60, 6000)) * MINUTE
    pauses = data.draw(pause_lists(spec, start))
    got = spec.calendar.elapsed(in_zone(start, data), in_zone(end, data), pauses=pauses)
    assert got == spec.reference.elapsed(start, end, pauses)


@settings(max_examples=200)
@given(spec=specs, data=st.data())
def test_microseconds_are_exact(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec, whole_minutes=False))
    duration = data.draw(st.integers(0, 2000 * 60 * 10**6)) * timedelta(microseconds=1)
    end = start + data.draw(st.integers(0, 3000 * 60 * 10**6)) * timedelta(microseconds=1)
    pauses = data.draw(pause_lists(spec, start))
    cal, ref = spec.calendar, spec.reference
    got = cal.add(start, duration, pauses=pauses)
    assert got == ref.add(start, duration, pauses)
    assert cal.elapsed(start, got, pauses=pauses) == duration
    assert cal.elapsed(start, end, pauses=pauses) == ref.elapsed(start, end, pauses)


@settings(max_examples=200)
@given(spec=specs, data=st.data())
def test_add_then_elapsed_gives_the_duration_back(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec, whole_minutes=False))
    duration = data.draw(st.timedeltas(timedelta(0), timedelta(days=40)))
    pauses = data.draw(pause_lists(spec, start))
    deadline = spec.calendar.add(start, duration, pauses=pauses)
    assert spec.calendar.elapsed(start, deadline, pauses=pauses) == duration
    # The earliest such instant: a microsecond earlier is not enough.
    if duration:
        assert (
            spec.calendar.elapsed(start, deadline - timedelta(microseconds=1), pauses=pauses)
            < duration
        )


@settings(max_examples=300)
@given(spec=specs, data=st.data())
def test_is_open_and_next_open_agree_with_the_reference(spec: Spec, data: st.DataObject) -> None:
    t = data.draw(starts(spec, whole_minutes=False))
    cal, ref = spec.calendar, spec.reference
    assert cal.is_open(in_zone(t, data)) == ref.is_open(t)
    opening = cal.next_open(in_zone(t, data))
    assert opening == ref.add(t, timedelta(0))
    assert cal.is_open(opening)
    assert opening == t or not cal.is_open(t)


@settings(max_examples=100)
@given(spec=specs, data=st.data())
def test_intervals_are_merged_ordered_and_add_up(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec, whole_minutes=False))
    end = start + data.draw(st.timedeltas(timedelta(0), timedelta(days=9)))
    pieces = list(spec.calendar.intervals(start, end))
    for a, b in pieces:
        assert start <= a < b <= end
        assert a.tzinfo is UTC
        assert b.tzinfo is UTC
    for (_, b), (c, _) in itertools.pairwise(pieces):
        assert b < c  # ordered, and touching pieces merged
    assert sum((b - a for a, b in pieces), timedelta(0)) == spec.calendar.elapsed(start, end)


@settings(max_examples=150)
@given(spec=specs, data=st.data())
def test_add_days_agrees_with_the_reference(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec))
    days = data.draw(st.integers(0, 4))
    pauses = data.draw(pause_lists(spec, start))
    got = spec.calendar.add_days(in_zone(start, data), days, pauses=pauses)
    assert got == spec.reference.add_days(start, days, pauses)


@pytest.mark.slow
@settings(max_examples=2000)
@given(spec=specs, data=st.data())
def test_big_sweep_against_the_reference(spec: Spec, data: st.DataObject) -> None:
    start = data.draw(starts(spec, whole_minutes=data.draw(st.booleans())))
    duration = data.draw(st.integers(0, 4000 * 60 * 10**6)) * timedelta(microseconds=1)
    pauses = data.draw(pause_lists(spec, start))
    cal, ref = spec.calendar, spec.reference
    got = cal.add(start, duration, pauses=pauses)
    assert got == ref.add(start, duration, pauses)
    assert cal.elapsed(start, got, pauses=pauses) == duration
    end = start + data.draw(st.integers(0, 6000)) * MINUTE
    assert cal.elapsed(start, end, pauses=pauses) == ref.elapsed(start, end, pauses)
    days = data.draw(st.integers(0, 6))
    assert cal.add_days(start, days, pauses=pauses) == ref.add_days(start, days, pauses)


# --------------------------------------------------------------------------------------
# Known traps of peer libraries


def springfield(**kwargs: object) -> BusinessCalendar:
    return BusinessCalendar.build(
        code="springfield",
        zone="America/Chicago",
        hours=dict.fromkeys(range(5), SPLIT),
        holiday_country="US",
        holiday_subdivision="IL",
        **kwargs,  # type: ignore[arg-type]
    )


SPRINGFIELD = springfield()


def test_24x7_does_not_lose_time_at_midnight() -> None:
    cal = BusinessCalendar.always_open(zone="America/Chicago")
    start = local(CHICAGO, 2024, 6, 3, 23, 30)
    assert cal.add(start, h(1)) == local(CHICAGO, 2024, 6, 4, 0, 30)
    assert cal.elapsed(start, local(CHICAGO, 2024, 6, 4, 0, 30)) == h(1)
    assert cal.add(start, h(24 * 7)) == start + h(24 * 7)
    assert list(cal.intervals(start, start + h(50))) == [(start, start + h(50))]
    assert cal.add_days(start, 1) == local(CHICAGO, 2024, 6, 5, 0, 0)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (CHICAGO, date(2024, 3, 10), 23),
        (CHICAGO, date(2024, 11, 3), 25),
        (NEW_YORK, date(2030, 3, 10), 23),
        (LONDON, date(2024, 3, 31), 23),
        (LONDON, date(2024, 10, 27), 25),
    ],
)
def test_24x7_dst_days_have_23_or_25_hours(zone: ZoneInfo, day: date, hours: int) -> None:
    cal = BusinessCalendar.always_open(zone=str(zone))
    midnight = datetime.combine(day, time(0), zone)
    next_midnight = datetime.combine(day + DAY, time(0), zone)
    assert cal.elapsed(midnight, next_midnight) == h(hours)
    assert cal.add(midnight, h(24)) == midnight.astimezone(UTC) + h(24)  # real time
    assert cal.add_days(midnight, 0) == next_midnight
    assert cal.add_days(midnight - h(1), 1) == next_midnight


def test_overnight_shift_is_not_skipped_after_its_start() -> None:
    cal = BusinessCalendar(
        code="night",
        zone="America/Chicago",
        hours=dict.fromkeys(range(5), ((time(22), time(6)),)),
        holidays=frozenset({date(2024, 7, 6)}),  # a Saturday: Friday's shift still ends
    )
    tuesday_2am = local(CHICAGO, 2024, 7, 2, 2)  # inside Monday's shift
    assert cal.is_open(tuesday_2am)
    assert cal.next_open(tuesday_2am) == tuesday_2am
    assert cal.add(tuesday_2am, h(1)) == local(CHICAGO, 2024, 7, 2, 3)
    assert cal.add(tuesday_2am, h(4)) == local(CHICAGO, 2024, 7, 2, 6)  # the close
    assert cal.add(tuesday_2am, h(5)) == local(CHICAGO, 2024, 7, 2, 23)
    assert cal.elapsed(tuesday_2am, local(CHICAGO, 2024, 7, 3, 0)) == h(6)
    saturday_5am = local(CHICAGO, 2024, 7, 6, 5)  # Friday's shift on a holiday
    assert cal.is_open(saturday_5am)
    assert cal.add(saturday_5am, h(2)) == local(CHICAGO, 2024, 7, 8, 23)
    assert not cal.is_open(local(CHICAGO, 2024, 7, 7, 2))  # Sunday: no Saturday shift
    # The shift belongs to the day it opens on.
    assert not cal.is_working_day(date(2024, 7, 6))
    assert cal.is_working_day(date(2024, 7, 5))


def test_a_long_shift_from_two_utc_dates_ago() -> None:
    la = ZoneInfo("America/Los_Angeles")
    cal = SPEC_BY_NAME["long-shift"].calendar
    tuesday_evening = local(la, 2024, 7, 9, 17, 10)  # Monday's shift; Wednesday in UTC
    assert tuesday_evening.astimezone(UTC).date() == date(2024, 7, 10)
    assert cal.is_open(tuesday_evening)
    assert cal.next_open(tuesday_evening) == tuesday_evening
    assert cal.add(tuesday_evening, timedelta(minutes=20)) == local(la, 2024, 7, 9, 17, 30)
    assert cal.elapsed(tuesday_evening, local(la, 2024, 7, 9, 19)) == timedelta(minutes=20)
    assert list(cal.intervals(tuesday_evening, local(la, 2024, 7, 9, 19))) == [
        (tuesday_evening, local(la, 2024, 7, 9, 17, 30))
    ]


def test_overnight_shift_across_dst_has_real_hours() -> None:
    cal = BusinessCalendar(code="night", zone="America/Chicago", hours={5: ((time(22), time(6)),)})
    fall = local(CHICAGO, 2024, 11, 2, 22)
    assert cal.elapsed(fall, fall + h(48)) == h(9)
    spring = local(CHICAGO, 2024, 3, 9, 22)
    assert cal.elapsed(spring, spring + h(48)) == h(7)
    assert cal.add(spring, h(7)) == local(CHICAGO, 2024, 3, 10, 6)


def test_holidays_are_local_dates_not_utc_dates() -> None:
    evening = local(CHICAGO, 2024, 7, 3, 20)  # already July 4 in UTC
    assert evening.astimezone(UTC).date() == date(2024, 7, 4)
    late = BusinessCalendar(
        code="late",
        zone="America/Chicago",
        hours=dict.fromkeys(range(7), ((time(8), None),)),
        holidays=frozenset({date(2024, 7, 4)}),
    )
    assert late.is_open(evening)
    assert late.add(evening, h(5)) == local(CHICAGO, 2024, 7, 5, 9)
    assert not late.is_open(local(CHICAGO, 2024, 7, 4, 20))  # July 5 in UTC
    assert late.elapsed(local(CHICAGO, 2024, 7, 4), local(CHICAGO, 2024, 7, 5)) == timedelta(0)
    # A case opened at 20:00 on July 3 in Springfield: after the close, July 4 is a
    # holiday, so the clock starts on Friday July 5 at 08:00.
    assert SPRINGFIELD.add(evening, h(1)) == local(CHICAGO, 2024, 7, 5, 9)
    assert SPRINGFIELD.add_days(evening, 1) == local(CHICAGO, 2024, 7, 8, 17)
    assert SPRINGFIELD.is_working_day(date(2024, 7, 3))
    assert not SPRINGFIELD.is_working_day(date(2024, 7, 4))


def test_utc_dates_are_refused_where_a_local_date_is_meant() -> None:
    with pytest.raises(ValidationError) as info:
        SPRINGFIELD.is_working_day(datetime(2024, 7, 4, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert info.value.problems[0].path == "day"
    with pytest.raises(ValidationError):
        BusinessCalendar(
            code="x", zone="UTC", hours=None, holidays=frozenset({datetime(2024, 1, 1)})
        )


def test_no_sub_second_truncation() -> None:
    monday = local(CHICAGO, 2024, 7, 8, 9)
    us = timedelta(microseconds=1)
    assert SPRINGFIELD.elapsed(monday + us, monday + 3 * us) == 2 * us
    assert SPRINGFIELD.add(monday, us) == monday + us
    noon = local(CHICAGO, 2024, 7, 8, 12)
    assert SPRINGFIELD.add(noon - us, 2 * us) == local(CHICAGO, 2024, 7, 8, 13) + us
    assert SPRINGFIELD.elapsed(noon - h(1) + 999_999 * us, noon + h(2)) == h(2) - 999_999 * us
    cal = BusinessCalendar.always_open()
    t = utc(2024, 1, 1, 0, 0, 0, 123_456)
    assert cal.elapsed(t, t + timedelta(seconds=1, microseconds=1)) == timedelta(
        seconds=1, microseconds=1
    )


def test_us_federal_has_juneteenth_from_2021() -> None:
    federal = BusinessCalendar.build(
        code="federal",
        zone="America/New_York",
        hours=dict.fromkeys(range(5), ((time(9), time(17)),)),
        holiday_country="US",
    )
    assert date(2021, 6, 18) in federal.holidays  # observed: June 19 was a Saturday
    assert date(2022, 6, 20) in federal.holidays  # observed: June 19 was a Sunday
    assert date(2024, 6, 19) in federal.holidays
    assert date(2020, 6, 19) not in federal.holidays
    assert not federal.is_working_day(date(2024, 6, 19))
    assert federal.is_working_day(date(2024, 6, 18))
    assert date(2024, 3, 4) not in federal.holidays  # Illinois only
    assert date(2021, 12, 31) in federal.holidays  # New Year 2022 observed
    start = local(NEW_YORK, 2024, 6, 18, 16)
    assert federal.add(start, h(2)) == local(NEW_YORK, 2024, 6, 20, 10)


def test_a_us_state_adds_its_own_holidays() -> None:
    assert date(2024, 3, 4) in SPRINGFIELD.holidays  # Casimir Pulaski Day
    assert date(2024, 11, 5) in SPRINGFIELD.holidays  # Election Day
    assert date(2024, 6, 19) in SPRINGFIELD.holidays
    assert not SPRINGFIELD.is_working_day(date(2024, 3, 4))
    friday = local(CHICAGO, 2024, 3, 1, 16)
    assert SPRINGFIELD.add(friday, h(2)) == local(CHICAGO, 2024, 3, 5, 9)


def test_uk_bank_holidays_for_england() -> None:
    uk = BusinessCalendar.build(
        code="uk",
        zone="Europe/London",
        hours=dict.fromkeys(range(5), ((time(9), time(17, 30)),)),
        holiday_country="GB",
        holiday_subdivision="ENG",
    )
    for day in (date(2024, 5, 6), date(2024, 8, 26), date(2024, 12, 26), date(2022, 9, 19)):
        assert day in uk.holidays
        assert not uk.is_working_day(day)
    assert date(2022, 12, 27) in uk.holidays  # Christmas on a Sunday, observed
    assert uk.is_working_day(date(2024, 1, 2))  # a Scottish holiday only
    assert date(2024, 8, 5) not in uk.holidays  # Scottish summer bank holiday
    friday = local(LONDON, 2024, 8, 23, 17)
    assert uk.add(friday, h(1)) == local(LONDON, 2024, 8, 27, 9, 30)
    assert uk.add(friday, h(1)).tzinfo is UTC


# --------------------------------------------------------------------------------------
# Deadlines


def test_landing_exactly_at_closing_stays_at_closing() -> None:
    monday = local(CHICAGO, 2024, 7, 8, 16)
    assert SPRINGFIELD.add(monday, h(1)) == local(CHICAGO, 2024, 7, 8, 17)
    assert SPRINGFIELD.add(local(CHICAGO, 2024, 7, 8, 11), h(1)) == local(CHICAGO, 2024, 7, 8, 12)
    assert SPRINGFIELD.add(local(CHICAGO, 2024, 7, 8, 8), h(8)) == local(CHICAGO, 2024, 7, 8, 17)
    assert SPRINGFIELD.add(monday, h(1) + timedelta(microseconds=1)) == local(
        CHICAGO, 2024, 7, 9, 8, 0, 0, 1
    )


def test_a_start_outside_hours_starts_the_clock_at_the_next_opening() -> None:
    saturday = local(CHICAGO, 2024, 7, 6, 10)
    assert SPRINGFIELD.add(saturday, h(1)) == local(CHICAGO, 2024, 7, 8, 9)
    lunch = local(CHICAGO, 2024, 7, 8, 12, 30)
    assert SPRINGFIELD.add(lunch, timedelta(minutes=30)) == local(CHICAGO, 2024, 7, 8, 13, 30)
    assert SPRINGFIELD.elapsed(saturday, local(CHICAGO, 2024, 7, 8, 9)) == h(1)
    assert SPRINGFIELD.next_open(saturday) == local(CHICAGO, 2024, 7, 8, 8)
    assert SPRINGFIELD.next_open(lunch) == local(CHICAGO, 2024, 7, 8, 13)


def test_zero_duration_is_when_the_clock_starts() -> None:
    early = local(CHICAGO, 2024, 7, 8, 6)
    assert SPRINGFIELD.add(early, timedelta(0)) == local(CHICAGO, 2024, 7, 8, 8)
    open_ = local(CHICAGO, 2024, 7, 8, 9, 15)
    assert SPRINGFIELD.add(open_, timedelta(0)) == open_
    pause = (open_ - h(1), open_ + h(1))
    assert SPRINGFIELD.add(open_, timedelta(0), pauses=[pause]) == open_ + h(1)


def test_pauses_resume_at_the_next_opening() -> None:
    monday = local(CHICAGO, 2024, 7, 8, 9)
    pause = (local(CHICAGO, 2024, 7, 8, 10), local(CHICAGO, 2024, 7, 8, 18))
    # One hour before the pause, then the clock stops until Tuesday's opening.
    assert SPRINGFIELD.add(monday, h(2), pauses=[pause]) == local(CHICAGO, 2024, 7, 9, 9)
    assert SPRINGFIELD.elapsed(monday, local(CHICAGO, 2024, 7, 9, 9), pauses=[pause]) == h(2)
    # Paused time outside hours is not taken twice; overlapping pauses count once.
    pauses = [pause, (local(CHICAGO, 2024, 7, 8, 11), local(CHICAGO, 2024, 7, 8, 12))]
    assert SPRINGFIELD.elapsed(monday, local(CHICAGO, 2024, 7, 9, 9), pauses=pauses) == h(2)


def test_a_close_of_24_00() -> None:
    cal = BusinessCalendar(
        code="evening",
        zone="America/Chicago",
        hours={0: ((time(18), None),), 1: ((time(0), time(2)), (time(18), None))},
    )
    monday = local(CHICAGO, 2024, 7, 8, 23, 30)
    assert cal.is_open(local(CHICAGO, 2024, 7, 8, 23, 59, 59, 999_999))
    assert cal.is_open(local(CHICAGO, 2024, 7, 9, 0))  # Tuesday opens at 00:00
    assert cal.add(monday, h(1)) == local(CHICAGO, 2024, 7, 9, 0, 30)
    assert cal.add(monday, h(3)) == local(CHICAGO, 2024, 7, 9, 18, 30)
    pieces = list(cal.intervals(local(CHICAGO, 2024, 7, 8), local(CHICAGO, 2024, 7, 10)))
    assert pieces == [
        (local(CHICAGO, 2024, 7, 8, 18), local(CHICAGO, 2024, 7, 9, 2)),
        (local(CHICAGO, 2024, 7, 9, 18), local(CHICAGO, 2024, 7, 10, 0)),
    ]
    assert not cal.is_open(local(CHICAGO, 2024, 7, 10, 0))  # Wednesday is closed
    assert cal.add(local(CHICAGO, 2024, 7, 9, 23), h(1)) == local(CHICAGO, 2024, 7, 10, 0)
    assert cal.add(local(CHICAGO, 2024, 7, 9, 23), h(1.5)) == local(CHICAGO, 2024, 7, 15, 18, 30)


def test_gaps_and_repeated_wall_times_resolve_to_their_first_instant() -> None:
    # 02:30 does not exist on 2024-03-10 in Chicago: it means the jump, 03:00 CDT.
    cal = BusinessCalendar(code="x", zone="America/Chicago", hours={6: ((time(2, 30), time(4)),)})
    assert cal.next_open(local(CHICAGO, 2024, 3, 10)) == utc(2024, 3, 10, 8)
    assert cal.elapsed(local(CHICAGO, 2024, 3, 10), local(CHICAGO, 2024, 3, 11)) == h(1)
    # 01:30 happens twice on 2024-11-03: an interval 01:00-01:45 is the first pass only.
    cal = BusinessCalendar(code="x", zone="America/Chicago", hours={6: ((time(1), time(1, 45)),)})
    assert list(cal.intervals(local(CHICAGO, 2024, 11, 3), local(CHICAGO, 2024, 11, 4))) == [
        (utc(2024, 11, 3, 6), utc(2024, 11, 3, 6, 45))
    ]
    assert not cal.is_open(local(CHICAGO, 2024, 11, 3, 1, 30, fold=1))
    # ... and a shift from 01:30 to 03:00 runs on through the replayed hour: 2.5 hours.
    cal = BusinessCalendar(code="x", zone="America/Chicago", hours={6: ((time(1, 30), time(3)),)})
    assert cal.is_open(local(CHICAGO, 2024, 11, 3, 1, 10, fold=1))
    assert cal.elapsed(local(CHICAGO, 2024, 11, 3), local(CHICAGO, 2024, 11, 4)) == h(2.5)
    # An interval wholly inside the gap has no time that day.
    cal = BusinessCalendar(
        code="x", zone="America/Chicago", hours={6: ((time(2, 10), time(2, 50)),)}
    )
    assert not cal.is_working_day(date(2024, 3, 10))
    assert cal.is_working_day(date(2024, 3, 17))


# --------------------------------------------------------------------------------------
# Business days (FOIA style)


def test_add_days_counts_from_the_day_of_receipt() -> None:
    monday_10 = local(CHICAGO, 2024, 7, 8, 10)
    assert SPRINGFIELD.add_days(monday_10, 1) == local(CHICAGO, 2024, 7, 9, 17)
    assert SPRINGFIELD.add_days(monday_10, 0) == local(CHICAGO, 2024, 7, 8, 17)
    assert SPRINGFIELD.add_days(monday_10, 5) == local(CHICAGO, 2024, 7, 15, 17)
    # Before the opening, the same day is the day of receipt.
    assert SPRINGFIELD.add_days(local(CHICAGO, 2024, 7, 8, 6), 1) == local(CHICAGO, 2024, 7, 9, 17)
    # At or after the close, the next working day is.
    assert SPRINGFIELD.add_days(local(CHICAGO, 2024, 7, 8, 17), 1) == local(
        CHICAGO, 2024, 7, 10, 17
    )
    # A Saturday receipt is received on Monday.
    assert SPRINGFIELD.add_days(local(CHICAGO, 2024, 7, 6, 10), 1) == local(CHICAGO, 2024, 7, 9, 17)
    # 20 working days from June 28, 2024 skip July 4 (and the weekends).
    assert SPRINGFIELD.add_days(local(CHICAGO, 2024, 6, 28, 9), 20) == local(
        CHICAGO, 2024, 7, 29, 17
    )


def test_add_days_with_pauses() -> None:
    monday_10 = local(CHICAGO, 2024, 7, 8, 10)
    # A pause covering Tuesday and Wednesday entirely: two more days.
    whole = (local(CHICAGO, 2024, 7, 9, 7), local(CHICAGO, 2024, 7, 10, 18))
    assert SPRINGFIELD.add_days(monday_10, 3, pauses=[whole]) == local(CHICAGO, 2024, 7, 15, 17)
    # Tuesday 10:00 to Wednesday 10:00 covers neither day entirely: no extension.
    partial = (local(CHICAGO, 2024, 7, 9, 10), local(CHICAGO, 2024, 7, 10, 10))
    assert SPRINGFIELD.add_days(monday_10, 3, pauses=[partial]) == local(CHICAGO, 2024, 7, 11, 17)
    # Tuesday 10:00 to Thursday 10:00 covers Wednesday: one more day.
    longer = (local(CHICAGO, 2024, 7, 9, 10), local(CHICAGO, 2024, 7, 11, 10))
    assert SPRINGFIELD.add_days(monday_10, 3, pauses=[longer]) == local(CHICAGO, 2024, 7, 12, 17)
    # Two pauses that together cover a day (the lunch break is not open time).
    split = [
        (local(CHICAGO, 2024, 7, 9, 8), local(CHICAGO, 2024, 7, 9, 12)),
        (local(CHICAGO, 2024, 7, 9, 13), local(CHICAGO, 2024, 7, 9, 17)),
    ]
    assert SPRINGFIELD.add_days(monday_10, 1, pauses=split) == local(CHICAGO, 2024, 7, 10, 17)
    # A pause before receipt or after the deadline changes nothing.
    before = (local(CHICAGO, 2024, 7, 1), local(CHICAGO, 2024, 7, 8))
    assert SPRINGFIELD.add_days(monday_10, 1, pauses=[before]) == local(CHICAGO, 2024, 7, 9, 17)


def test_closures_and_working_days() -> None:
    snow = (local(CHICAGO, 2025, 1, 15, 0), local(CHICAGO, 2025, 1, 16, 0))
    early = (local(CHICAGO, 2025, 1, 17, 12), local(CHICAGO, 2025, 1, 17, 23))
    cal = springfield(closures=[snow, early], years=range(2024, 2027))
    assert not cal.is_working_day(date(2025, 1, 15))  # closed all day: not a working day
    assert cal.is_working_day(date(2025, 1, 17))  # closed at noon: still a working day
    tuesday = local(CHICAGO, 2025, 1, 14, 10)
    assert cal.add_days(tuesday, 1) == local(CHICAGO, 2025, 1, 16, 17)
    assert cal.add_days(tuesday, 2) == local(CHICAGO, 2025, 1, 17, 12)  # its actual close
    assert cal.add(tuesday, h(8)) == local(CHICAGO, 2025, 1, 16, 10)
    assert not cal.is_open(local(CHICAGO, 2025, 1, 17, 14))
    # A closure is any length, and cuts across days.
    outage = (local(CHICAGO, 2025, 2, 3, 16), local(CHICAGO, 2025, 2, 4, 9))
    cal = springfield(closures=[outage], years=range(2024, 2027))
    assert cal.add(local(CHICAGO, 2025, 2, 3, 15), h(2)) == local(CHICAGO, 2025, 2, 4, 10)


def test_half_days() -> None:
    cal = springfield(
        half_days={
            date(2024, 12, 24): [(time(8), time(12))],
            date(2024, 7, 4): [(time(9), time(11))],
        }
    )
    assert cal.add(local(CHICAGO, 2024, 12, 24, 11), h(2)) == local(CHICAGO, 2024, 12, 26, 9)
    # An explicit half day wins over a holiday on the same date.
    assert cal.is_working_day(date(2024, 7, 4))
    assert cal.add(local(CHICAGO, 2024, 7, 4, 0), h(1)) == local(CHICAGO, 2024, 7, 4, 10)


def test_never_open_gives_up_after_ten_years() -> None:
    cal = BusinessCalendar(code="never", zone="UTC", hours={})
    t = utc(2024, 1, 1)
    assert not cal.is_open(t)
    assert cal.elapsed(t, t + DAY * 400) == timedelta(0)
    for call in (
        lambda: cal.next_open(t),
        lambda: cal.add(t, h(1)),
        lambda: cal.add_days(t, 1),
    ):
        with pytest.raises(ValueError, match="ten years"):
            call()
    # A calendar open once in nine years still gets there.
    once = BusinessCalendar(
        code="once", zone="UTC", hours={}, half_days={date(2033, 1, 3): [(time(9), time(10))]}
    )
    assert once.add(t, h(1)) == utc(2033, 1, 3, 10)


# --------------------------------------------------------------------------------------
# Values and bad input


def test_calendars_are_values() -> None:
    again = springfield()
    assert again == SPRINGFIELD
    assert hash(again) == hash(SPRINGFIELD)
    assert attrs.evolve(SPRINGFIELD, code="other") != SPRINGFIELD
    copy = pickle.loads(pickle.dumps(SPRINGFIELD))
    assert copy == SPRINGFIELD
    assert copy.add(local(CHICAGO, 2024, 7, 8, 16), h(1)) == local(CHICAGO, 2024, 7, 8, 17)
    assert "holidays=<" in repr(SPRINGFIELD)
    assert SPRINGFIELD.hours is not None
    assert SPRINGFIELD.hours[0] == SPLIT
    assert BusinessCalendar.always_open().hours is None


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2024, 7, 8, 9)
    aware = local(CHICAGO, 2024, 7, 8, 9)
    calls = {
        "t": [lambda: SPRINGFIELD.is_open(naive), lambda: SPRINGFIELD.next_open(naive)],
        "start": [
            lambda: SPRINGFIELD.add(naive, h(1)),
            lambda: SPRINGFIELD.add_days(naive, 1),
            lambda: SPRINGFIELD.elapsed(naive, aware),
            lambda: SPRINGFIELD.intervals(naive, aware),
        ],
        "end": [lambda: SPRINGFIELD.elapsed(aware, naive)],
        "pauses[0][1]": [lambda: SPRINGFIELD.add(aware, h(1), pauses=[(aware, naive)])],
        "closures[0][0]": [lambda: springfield(closures=[(naive, aware)])],
    }
    for path, funcs in calls.items():
        for func in funcs:
            with pytest.raises(ValidationError) as info:
                func()
            assert info.value.problems[0].path == path
            assert "time zone" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"zone": "Mars/Olympus"}, "zone"),
        ({"zone": "America"}, "zone"),
        ({"zone": ""}, "zone"),
        ({"code": ""}, "code"),
        ({"hours": {0: [(time(9), time(9))]}}, "hours[0][0]"),
        ({"hours": {0: [(time(9), time(12)), (time(11), time(13))]}}, "hours[0][1]"),
        ({"hours": {0: [(time(22), time(6))], 1: [(time(5), time(9))]}}, "hours[1][0]"),
        ({"hours": {6: [(time(22), time(6))], 0: [(time(5), time(9))]}}, "hours[0][0]"),
        ({"hours": {0: [(time(20), time(0, 30))], 1: [(time(0), None)]}}, "hours[1][0]"),
        ({"hours": {7: [(time(9), time(17))]}}, "hours[7]"),
        ({"hours": {0: [("09:00", "17:00")]}}, "hours[0][0]"),
        ({"hours": {0: [(time(9),)]}}, "hours[0][0]"),
        ({"hours": {0: [(time(9, tzinfo=UTC), time(17))]}}, "hours[0][0]"),
        ({"hours": [(time(9), time(17))]}, "hours"),
        (
            {
                "half_days": {date(2024, 7, 2): [(time(5), time(7))]},
                "hours": {0: [(time(22), time(6))]},
            },
            "half_days[2024-07-02][0]",
        ),
        (
            {
                "half_days": {date(2024, 7, 1): [(time(23), time(9))]},
                "hours": {1: [(time(8), time(9))]},
            },
            "half_days[2024-07-01][0]",
        ),
        ({"half_days": {datetime(2024, 7, 1): []}}, "half_days[2024-07-01T00:00:00]"),
        ({"closures": [(utc(2024, 1, 2), utc(2024, 1, 1))]}, "closures[0]"),
    ],
)
def test_bad_calendars_name_the_field(kwargs: dict[str, object], path: str) -> None:
    args: dict[str, object] = {"code": "x", "zone": "America/Chicago", "hours": None}
    args.update(kwargs)
    with pytest.raises(ValidationError) as info:
        BusinessCalendar(**args)  # type: ignore[arg-type]
    assert path in [p.path for p in info.value.problems]


def test_touching_intervals_are_fine() -> None:
    cal = BusinessCalendar(
        code="x",
        zone="UTC",
        hours={
            0: [(time(8), time(12)), (time(12), time(17)), (time(17), time(8))],
            1: [(time(8), None)],
        },
    )
    assert list(cal.intervals(utc(2024, 7, 8), utc(2024, 7, 10))) == [
        (utc(2024, 7, 8, 8), utc(2024, 7, 10))
    ]


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_subdivision": "IL"}, "holiday_subdivision"),
        ({"holiday_country": "US", "holiday_categories": ["bogus"]}, "holiday_categories"),
        ({"extra_holidays": [date(2024, 1, 2), "2024-01-03"]}, "extra_holidays[1]"),
    ],
)
def test_bad_holiday_arguments_name_the_argument(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        BusinessCalendar.build(code="x", zone="UTC", hours=None, **kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path


def test_extra_holidays_and_categories() -> None:
    cal = BusinessCalendar.build(
        code="x",
        zone="America/Chicago",
        hours=dict.fromkeys(range(5), SPLIT),
        holiday_country="US",
        holiday_categories=["public", "government"],
        extra_holidays=[date(2024, 7, 5)],
        years=range(2024, 2025),
    )
    assert {date(2024, 7, 4), date(2024, 7, 5)} <= cal.holidays
    assert date(2025, 1, 1) not in cal.holidays  # only the years asked for


def test_bad_arguments() -> None:
    t = local(CHICAGO, 2024, 7, 8, 9)
    for call, path in [
        (lambda: SPRINGFIELD.add(t, -timedelta(microseconds=1)), "duration"),
        (lambda: SPRINGFIELD.add(t, 3600), "duration"),
        (lambda: SPRINGFIELD.add_days(t, -1), "days"),
        (lambda: SPRINGFIELD.add_days(t, 1.5), "days"),
        (lambda: SPRINGFIELD.elapsed(t, t + h(1), pauses=[(t + h(1), t)]), "pauses[0]"),
        (lambda: SPRINGFIELD.is_open("2024-07-08T09:00:00Z"), "t"),
    ]:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.problems[0].path == path
    assert SPRINGFIELD.elapsed(t + h(1), t) == timedelta(0)
    assert list(SPRINGFIELD.intervals(t + h(1), t)) == []
