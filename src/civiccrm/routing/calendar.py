"""
Business calendars: when an agency is open, and business-time arithmetic on top of it.

A :class:`BusinessCalendar` has an IANA time zone, weekly working hours (several
intervals a day, shifts that cross midnight, or open 24x7), public holidays, half days
and one-off closures. It answers: is it open now (:meth:`~BusinessCalendar.is_open`),
when does it open next (:meth:`~BusinessCalendar.next_open`), how much business time
lies between two instants (:meth:`~BusinessCalendar.elapsed`), when is a deadline of
so many business hours (:meth:`~BusinessCalendar.add`) or business days
(:meth:`~BusinessCalendar.add_days`).

The rules, in short (``docs/sla.md`` explains them with examples):

- Working intervals are half-open ``[open, close)`` in local wall time. A shift belongs
  to the date it opens on; ``close`` ``None`` is 24:00; a close at or before the open
  (other than equal, which is refused) crosses midnight into the next day.
- A wall time on a date means the first instant at which the local clock shows that
  date and time or later: in a spring-forward gap that is the instant the clocks jump
  (02:30 that does not exist is 03:00 after the jump); a wall time that happens twice
  is its first occurrence.
- Durations are real elapsed time inside the open intervals, exact to the microsecond:
  a 24x7 calendar has 23 or 25 business hours on a DST-change day.
- Dates (holidays, half days, the day of receipt) are always dates in the calendar's
  zone, never dates of a UTC value.
- Every instant returned is an aware datetime in UTC.

Nothing here does I/O; the calendar caches the open intervals of each local date it
has looked at.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, TypeAlias, TypeVar

import attrs
import holidays as holidays_pkg

from civiccrm.errors import Problem, ValidationError

__all__ = ["BusinessCalendar", "Interval"]

#: One working interval ``(open, close)`` in local wall time. ``close`` ``None`` means
#: 24:00 (the end of the day); a ``close`` before ``open`` crosses midnight into the next
#: day (``(time(22), time(6))`` is a night shift). ``open == close`` is refused.
Interval: TypeAlias = tuple[time, time | None]

K = TypeVar("K")
V = TypeVar("V")

_US_PER_S: Final = 1_000_000
_DAY_US: Final = 86_400 * _US_PER_S
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY: Final = timedelta(days=1)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MIDNIGHT: Final = time(0)
_ALL_DAY: Final[tuple[Interval, ...]] = ((_MIDNIGHT, None),)
#: How many days without any open time end a search (next_open, add, add_days).
_GIVE_UP_DAYS: Final = 3653 + 2


class _FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping (so that a calendar can be hashed and cached)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Iterable[tuple[K, V]]) -> None:
        self._data: dict[K, V] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


# --------------------------------------------------------------------------------------
# Instants as integer microseconds since the epoch: exact, and fast to compare and add.


def _us(at: datetime) -> int:
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _td_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _instant(value: object, path: str) -> int:
    """An aware datetime argument as microseconds since the epoch (naive is refused)."""
    if not isinstance(value, datetime):
        raise ValidationError.at(path, f"expected an aware datetime, got {_kind(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.at(
            path, f"naive datetime {value.isoformat()} has no time zone; give it one"
        )
    return _us(value)


def _spans(value: object, path: str) -> tuple[int, ...]:
    """``[(start, end), ...]`` aware pairs as a sorted, merged flat tuple of microseconds."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.at(path, f"expected a list of (start, end) pairs, got {_kind(value)}")
    pairs: list[tuple[int, int]] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise ValidationError.at(where, "expected a (start, end) pair of aware datetimes")
        a = _instant(item[0], f"{where}[0]")
        b = _instant(item[1], f"{where}[1]")
        if b < a:
            raise ValidationError.at(where, "ends before it starts")
        if a < b:
            pairs.append((a, b))
    pairs.sort()
    flat: list[int] = []
    for a, b in pairs:
        if flat and a <= flat[-1]:
            flat[-1] = max(flat[-1], b)
        else:
            flat += (a, b)
    return tuple(flat)


def _covers(flat: tuple[int, ...], a: int, b: int) -> bool:
    """Whether the merged spans ``flat`` cover all of ``[a, b)``."""
    i = bisect.bisect_right(flat, a)
    # An odd insertion point: ``a`` is at or after a start and before its end.
    return i % 2 == 1 and flat[i] >= b


def _minus(flat: list[int], cuts: tuple[int, ...]) -> list[int]:
    """Ordered disjoint spans ``flat`` minus the merged spans ``cuts``."""
    out: list[int] = []
    for i in range(0, len(flat), 2):
        a, b = flat[i], flat[i + 1]
        j = bisect.bisect_right(cuts, a)
        j -= j % 2  # the first cut that may overlap [a, b)
        while a < b and j < len(cuts) and cuts[j] < b:
            if cuts[j + 1] > a:
                if cuts[j] > a:
                    out += (a, cuts[j])
                a = cuts[j + 1]
            j += 2
        if a < b:
            out += (a, b)
    return out


# --------------------------------------------------------------------------------------
# Converters for the fields. They raise ValidationError naming the field (and the item).


def _check_zone(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise ValidationError.at(field.name, f"expected an IANA time zone name, got {_kind(value)}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the tz database ('America').
        raise ValidationError.at(
            field.name, f"{value!r} is not an IANA time zone (such as 'America/Chicago')"
        ) from None


def _check_code(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.at(field.name, "must be a non-empty string")


def _intervals(value: object, path: str) -> tuple[Interval, ...]:
    """A day's working intervals, checked and sorted by opening time."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValidationError.at(
            path, f"expected a list of (open, close) times, got {_kind(value)}"
        )
    out: list[Interval] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise ValidationError.at(where, "expected an (open, close) pair of times")
        opening, closing = item
        if not isinstance(opening, time):
            raise ValidationError.at(where, f"open must be a time, got {_kind(opening)}")
        if closing is not None and not isinstance(closing, time):
            raise ValidationError.at(where, f"close must be a time or None, got {_kind(closing)}")
        if opening.tzinfo is not None or (closing is not None and closing.tzinfo is not None):
            raise ValidationError.at(
                where, "working hours are local wall times: give times without a time zone"
            )
        opening = opening.replace(fold=0)
        if closing is not None:
            closing = closing.replace(fold=0)
            if closing == opening:
                raise ValidationError.at(
                    where,
                    f"opens and closes at {opening.isoformat()}: use None as the close "
                    "for 24:00, or a close before the open for a shift past midnight",
                )
        out.append((opening, closing))
    out.sort(key=lambda iv: iv[0])
    return tuple(out)


def _convert_hours(value: object) -> _FrozenMap[int, tuple[Interval, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError.at(
            "hours", f"expected a mapping of weekday (0=Monday) to intervals, got {_kind(value)}"
        )
    items = []
    for day, intervals in value.items():
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ValidationError.at(f"hours[{day!r}]", "weekday must be 0 (Monday) to 6 (Sunday)")
        items.append((day, _intervals(intervals, f"hours[{day}]")))
    return _FrozenMap(sorted(items))


def _a_date(value: object, path: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError.at(path, f"expected a local date, got {_kind(value)}")
    return value


def _convert_holidays(value: object) -> frozenset[date]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.at("holidays", f"expected a set of dates, got {_kind(value)}")
    return frozenset(_a_date(d, f"holidays[{d!r}]") for d in value)


def _convert_half_days(value: object) -> _FrozenMap[date, tuple[Interval, ...]]:
    if value is None:
        return _FrozenMap(())
    if not isinstance(value, Mapping):
        raise ValidationError.at(
            "half_days", f"expected a mapping of date to intervals, got {_kind(value)}"
        )
    items = []
    for day, intervals in value.items():
        where = f"half_days[{day.isoformat() if isinstance(day, date) else repr(day)}]"
        items.append((_a_date(day, where), _intervals(intervals, where)))
    return _FrozenMap(sorted(items))


def _convert_closures(value: object) -> tuple[tuple[datetime, datetime], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.at("closures", f"expected (start, end) pairs, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        where = f"closures[{i}]"
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise ValidationError.at(where, "expected a (start, end) pair of aware datetimes")
        a = _instant(item[0], f"{where}[0]")
        b = _instant(item[1], f"{where}[1]")
        if b <= a:
            raise ValidationError.at(where, "must end after it starts")
        out.append((_dt(a), _dt(b)))
    out.sort()
    return tuple(out)


def _wall_span(day_offset: int, iv: Interval) -> tuple[int, int]:
    """An interval as [start, end) microseconds of wall time from a reference midnight."""
    opening, closing = iv
    start = day_offset * _DAY_US + _tod_us(opening)
    if closing is None:
        end = (day_offset + 1) * _DAY_US
    elif closing > opening:
        end = day_offset * _DAY_US + _tod_us(closing)
    else:
        end = (day_offset + 1) * _DAY_US + _tod_us(closing)
    return start, end


def _tod_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US_PER_S + t.microsecond


def _overlaps(spans: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
    """``(later, earlier)`` paths of spans ``(start, end, path)`` that overlap."""
    found = []
    reach, reach_path = None, ""
    for start, end, path in sorted(spans):
        if reach is not None and start < reach and path != reach_path:
            found.append((path, reach_path))
        if reach is None or end > reach:
            reach, reach_path = end, path
    return found


# --------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class BusinessCalendar:
    """
    When an agency (or a team, or a person) is open, in its own time zone.

    Build one with :meth:`build` (which expands public holidays from the ``holidays``
    package) or :meth:`always_open`; the constructor takes the expanded form. Every
    method takes aware datetimes (any zone) and returns aware datetimes in UTC; a naive
    datetime is a :class:`~civiccrm.errors.ValidationError`.

    Rules for days: the intervals of a local date are its ``half_days`` entry if it has
    one (even on a holiday: an explicit half day wins), none if it is in ``holidays``,
    else its weekday's ``hours`` (all day if ``hours`` is ``None``). A shift belongs to
    the date it opens on, so a holiday on Saturday does not cut short Friday's night shift
    that ends on Saturday morning. ``closures`` are then cut out of the result, as real
    instants. Intervals may touch but not overlap, also across midnight (a Monday night
    shift to 06:00 and a Tuesday opening at 05:00 are refused).

    A calendar can be hashed and compared; it caches the open intervals of each local
    date it looks at, so keep one per profile rather than building it again.

    .. versionadded:: 0.1.0
    """

    #: The calendar's name in the profile (``"business-hours"``, ``"24x7"``).
    code: str = attrs.field(validator=_check_code)
    #: IANA time zone name, such as ``"America/Chicago"``; all dates are taken in it.
    zone: str = attrs.field(validator=_check_zone)
    #: Weekday (0 = Monday .. 6 = Sunday) to its working intervals; a weekday left out is
    #: closed. ``None`` means open 24 hours every day (holidays, half days and closures
    #: still apply).
    hours: Mapping[int, tuple[Interval, ...]] | None = attrs.field(converter=_convert_hours)
    #: Local dates closed all day (public holidays already expanded, and the profile's own).
    holidays: frozenset[date] = attrs.field(
        default=frozenset(),
        converter=_convert_holidays,
        repr=lambda v: f"<{len(v)} dates>",
    )
    #: Local dates with their own intervals instead of their weekday's (``()`` = closed).
    half_days: Mapping[date, tuple[Interval, ...]] = attrs.field(
        factory=lambda: _FrozenMap(()), converter=_convert_half_days
    )
    #: One-off closures ``[start, end)`` as aware instants (a snow day, an outage), any
    #: length; stored in UTC, sorted.
    closures: tuple[tuple[datetime, datetime], ...] = attrs.field(
        default=(), converter=_convert_closures
    )

    _tz: zoneinfo.ZoneInfo = attrs.field(init=False, eq=False, repr=False)
    _cuts: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    # Local date (as its ordinal) -> its open pieces; see _day.
    _days: dict[int, tuple[int, ...]] = attrs.field(init=False, eq=False, repr=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_tz", zoneinfo.ZoneInfo(self.zone))
        object.__setattr__(self, "_cuts", _spans(self.closures, "closures"))
        problems: list[Problem] = []
        if self.hours is not None:
            week = []
            for wd, intervals in self.hours.items():
                for i, iv in enumerate(intervals):
                    start, end = _wall_span(wd, iv)
                    week.append((start, end, f"hours[{wd}][{i}]"))
                    if end > 7 * _DAY_US:  # Sunday night into Monday morning
                        week.append((start - 7 * _DAY_US, end - 7 * _DAY_US, f"hours[{wd}][{i}]"))
            problems += (
                Problem(later, f"overlaps {earlier}") for later, earlier in _overlaps(week)
            )
        for day in self.half_days:
            spans = []
            for offset in (-1, 0, 1):
                other = day + timedelta(days=offset)
                for i, iv in enumerate(self._spec(other)):
                    path = f"half_days[{other.isoformat()}][{i}]"
                    if other not in self.half_days:
                        path = f"hours[{other.weekday()}][{i}]"
                    start, end = _wall_span(offset, iv)
                    spans.append((start, end, path))
            for later, earlier in _overlaps(spans):
                # Name the half day (the weekly hours were checked on their own).
                if not later.startswith("half_days"):
                    later, earlier = earlier, later
                problem = Problem(later, f"overlaps {earlier}")
                if problem not in problems:
                    problems.append(problem)
        if problems:
            raise ValidationError(problems, record_type="BusinessCalendar")

    # ----------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def build(
        cls,
        *,
        code: str,
        zone: str,
        hours: Mapping[int, Sequence[Interval]] | None,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        holiday_categories: Sequence[str] = (),
        extra_holidays: Iterable[date] = (),
        half_days: Mapping[date, Sequence[Interval]] | None = None,
        closures: Iterable[tuple[datetime, datetime]] = (),
        years: range = range(2000, 2051),
    ) -> BusinessCalendar:
        """
        Make a calendar with the public holidays of a country (and subdivision) from the
        ``holidays`` package, for ``years``.

        The package's dates are taken as they are, observed days included (for the US,
        a federal holiday on a Saturday is observed on the Friday before, one on a Sunday
        on the Monday after; both dates are closed). Every date it gives is closed all
        day: give shorter days as ``half_days``. ``extra_holidays`` adds the profile's
        own dates.

        Args:
            holiday_country: ISO 3166 code the ``holidays`` package knows (``"US"``,
                ``"GB"``); ``None`` for no public holidays.
            holiday_subdivision: a state, province or nation (``"IL"``, ``"ENG"``).
            holiday_categories: the package's categories (``"public"`` if empty;
                ``"government"`` for US federal offices, for example).
            years: the years to expand; outside them only ``extra_holidays`` apply.

        Raises:
            ValidationError: naming the argument at fault (an unknown country or
                subdivision, a bad interval, an unknown zone ...).
        """
        days: set[date] = set()
        if holiday_country is None:
            if holiday_subdivision is not None:
                raise ValidationError.at(
                    "holiday_subdivision", "a subdivision needs a holiday_country"
                )
            if holiday_categories:
                raise ValidationError.at("holiday_categories", "categories need a holiday_country")
        else:
            days.update(
                _public_holidays(
                    holiday_country, holiday_subdivision, tuple(holiday_categories), years
                )
            )
        for i, extra in enumerate(extra_holidays):
            days.add(_a_date(extra, f"extra_holidays[{i}]"))
        return cls(
            code=code,
            zone=zone,
            hours=hours,
            holidays=frozenset(days),
            half_days=half_days,
            closures=closures,
        )

    @classmethod
    def always_open(cls, code: str = "24x7", zone: str = "UTC") -> BusinessCalendar:
        """
        A calendar open every instant: business time is real time (a DST-change day in
        ``zone`` has 23 or 25 hours, the zone only matters for :meth:`add_days`).
        """
        return cls(code=code, zone=zone, hours=None)

    # ----------------------------------------------------------------------------------
    # Days

    def _spec(self, day: date) -> tuple[Interval, ...]:
        """The working intervals of a local date, before closures."""
        special = self.half_days.get(day)
        if special is not None:
            return special
        if day in self.holidays:
            return ()
        if self.hours is None:
            return _ALL_DAY
        return self.hours.get(day.weekday(), ())

    def _day(self, ordinal: int) -> tuple[int, ...]:
        """
        The open pieces of the shifts that open on the local date with this ordinal, as a
        flat tuple ``(a0, b0, a1, b1, ...)`` of microseconds since the epoch: ordered,
        disjoint, not touching, closures cut out. Cached.

        The pieces of successive dates follow each other in order (shifts may not
        overlap, and a wall time's first instant never goes back in time).
        """
        got = self._days.get(ordinal)
        if got is not None:
            return got
        day = date.fromordinal(ordinal)
        flat: list[int] = []
        for opening, closing in self._spec(day):
            a = self._wall(day, opening)
            if closing is None:
                b = self._wall(day + _ONE_DAY, _MIDNIGHT)
            elif closing > opening:
                b = self._wall(day, closing)
            else:
                b = self._wall(day + _ONE_DAY, closing)
            if a >= b:  # all of it inside a spring-forward gap
                continue
            if flat and a <= flat[-1]:
                flat[-1] = max(flat[-1], b)
            else:
                flat += (a, b)
        if self._cuts and flat:
            flat = _minus(flat, self._cuts)
        result = tuple(flat)
        self._days[ordinal] = result
        return result

    def _wall(self, day: date, at: time) -> int:
        """
        The first instant at which the local clock shows ``day`` ``at`` or later:
        the first occurrence of a repeated wall time; for a wall time in a
        spring-forward gap, the instant of the jump.
        """
        naive = datetime.combine(day, at)
        instant = naive.replace(tzinfo=self._tz).astimezone(UTC)  # fold=0
        if instant.astimezone(self._tz).replace(tzinfo=None) == naive:
            return _us(instant)
        # In a gap, fold=0 reads the wall time with the offset from before the jump (an
        # instant after it) and fold=1 with the offset after it (an instant before it).
        # The jump is at a whole second between the two: find it.
        after = _us(instant) // _US_PER_S
        before = _us(naive.replace(tzinfo=self._tz, fold=1)) // _US_PER_S
        offset_after = instant.astimezone(self._tz).utcoffset()
        while after - before > 1:
            mid = (before + after) // 2
            if datetime.fromtimestamp(mid, self._tz).utcoffset() == offset_after:
                after = mid
            else:
                before = mid
        return after * _US_PER_S

    def _local_ordinal(self, at: datetime) -> int:
        return at.astimezone(self._tz).toordinal()

    def is_working_day(self, day: date) -> bool:
        """
        Whether the shifts that open on local date ``day`` have any open time, after
        holidays, half days and closures. A closure of part of the day leaves it a
        working day; one that covers all its hours (a snow day) does not.

        ``day`` must be a :class:`~datetime.date` in the calendar's zone; a datetime is
        refused, so that a UTC date is never used by mistake.
        """
        return bool(self._day(_a_date(day, "day").toordinal()))

    # ----------------------------------------------------------------------------------
    # Instants

    def _pieces(
        self, start: int, pauses: tuple[int, ...] = (), end: int | None = None
    ) -> Iterator[tuple[int, int]]:
        """
        The open, unpaused pieces at or after ``start`` (and before ``end``), in order,
        clipped to ``[start, end)``. Without an end, gives up after ten years with no
        open time.
        """
        # Any date from two days before the UTC date on is early enough: the local date
        # is at most a day before the UTC one, and yesterday's night shift may be running.
        ordinal = start // _DAY_US + _EPOCH_ORDINAL - 2
        last = None if end is None else end // _DAY_US + _EPOCH_ORDINAL + 2
        idle = 0
        pi, n_pauses = 0, len(pauses)
        days = self._days
        while last is None or ordinal <= last:
            flat = days.get(ordinal)
            if flat is None:
                flat = self._day(ordinal)
            idle += 1
            for i in range(0, len(flat), 2):
                b = flat[i + 1]
                if b <= start:
                    continue
                a = flat[i]
                if end is not None:
                    if a >= end:
                        return
                    b = min(b, end)
                a = max(a, start)
                while True:
                    while pi < n_pauses and pauses[pi + 1] <= a:
                        pi += 2
                    if pi < n_pauses and pauses[pi] < b:
                        if pauses[pi] > a:
                            idle = 0
                            yield a, pauses[pi]
                        a = pauses[pi + 1]
                        if a >= b:
                            break
                    else:
                        idle = 0
                        yield a, b
                        break
            if end is None and idle > _GIVE_UP_DAYS:
                raise self._never(start, "open time")
            ordinal += 1

    def _never(self, start: int, what: str) -> ValidationError:
        return ValidationError(
            f"calendar {self.code!r} has no {what} in the ten years after {_dt(start).isoformat()}"
        )

    def is_open(self, t: datetime) -> bool:
        """Whether ``t`` (aware) is inside a working interval (open at open, shut at close)."""
        at = _instant(t, "t")
        ordinal = at // _DAY_US + _EPOCH_ORDINAL
        days = self._days
        for o in range(ordinal - 2, ordinal + 2):  # see _pieces
            flat = days.get(o)
            if flat is None:
                flat = self._day(o)
            if bisect.bisect_right(flat, at) % 2 == 1:
                return True
        return False

    def next_open(self, t: datetime) -> datetime:
        """
        ``t`` (in UTC) if the calendar is open at ``t``, else the next instant it opens.

        Raises:
            ValidationError: (a ``ValueError``) it never opens in the ten years after ``t``.
        """
        for a, _b in self._pieces(_instant(t, "t")):
            return _dt(a)
        raise AssertionError("unreachable")  # pragma: no cover

    def intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """
        The open time in ``[start, end)`` as ordered ``(a, b)`` pieces in UTC, each a
        half-open ``[a, b)``; pieces that touch are merged (a 24x7 calendar gives one).
        """
        s = _instant(start, "start")
        e = _instant(end, "end")
        return self._merged(s, e)

    def _merged(self, s: int, e: int) -> Iterator[tuple[datetime, datetime]]:
        if e <= s:
            return
        held: tuple[int, int] | None = None
        for a, b in self._pieces(s, end=e):
            if held is not None and a == held[1]:
                held = (held[0], b)
                continue
            if held is not None:
                yield _dt(held[0]), _dt(held[1])
            held = (a, b)
        if held is not None:
            yield _dt(held[0]), _dt(held[1])

    def elapsed(
        self,
        start: datetime,
        end: datetime,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> timedelta:
        """
        The business time in ``[start, end)``: the open time, minus the open time that
        falls in ``pauses`` (aware ``(start, end)`` pairs; they may overlap). Zero if
        ``end`` is not after ``start``. Exact to the microsecond.
        """
        s = _instant(start, "start")
        e = _instant(end, "end")
        cut = _spans(pauses, "pauses") if pauses else ()
        if e <= s:
            return timedelta(0)
        total = 0
        if cut:
            for a, b in self._pieces(s, cut, e):
                total += b - a
            return timedelta(microseconds=total)
        # The same walk as _pieces, without pauses, inline: a hot path.
        days = self._days
        for ordinal in range(s // _DAY_US + _EPOCH_ORDINAL - 2, e // _DAY_US + _EPOCH_ORDINAL + 2):
            flat = days.get(ordinal)
            if flat is None:
                flat = self._day(ordinal)
            for i in range(0, len(flat), 2):
                a, b = flat[i], flat[i + 1]
                if b > s and a < e:
                    total += min(b, e) - max(a, s)
        return timedelta(microseconds=total)

    def add(
        self,
        start: datetime,
        duration: timedelta,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """
        The deadline ``duration`` of business time after ``start``: the earliest instant
        ``d`` with ``elapsed(start, d, pauses=pauses) == duration``.

        A start outside working hours starts the clock at the next opening; a deadline
        that lands exactly on a close stays at the close (17:00, not 08:00 the next
        working day). A zero duration gives the instant the clock starts: ``start``
        itself if the calendar is open and not paused then, else the next such instant.

        Raises:
            ValidationError: a negative duration, a naive datetime; or (a ``ValueError``)
                no open time for ten years on end.
        """
        s = _instant(start, "start")
        if not isinstance(duration, timedelta):
            raise ValidationError.at("duration", f"expected a timedelta, got {_kind(duration)}")
        left = _td_us(duration)
        if left < 0:
            raise ValidationError.at("duration", f"must not be negative, got {duration}")
        if pauses:
            for a, b in self._pieces(s, _spans(pauses, "pauses")):
                if b - a >= left:
                    return _dt(a + left)
                left -= b - a
            raise AssertionError("unreachable")  # pragma: no cover
        # The same walk as _pieces, without pauses, inline: this is the hot path.
        ordinal = s // _DAY_US + _EPOCH_ORDINAL - 2
        days = self._days
        idle = 0
        while idle <= _GIVE_UP_DAYS:
            flat = days.get(ordinal)
            if flat is None:
                flat = self._day(ordinal)
            idle += 1
            for i in range(0, len(flat), 2):
                b = flat[i + 1]
                if b <= s:
                    continue
                a = flat[i]
                if a < s:
                    a = s
                if b - a >= left:
                    return _dt(a + left)
                left -= b - a
                idle = 0
            ordinal += 1
        raise self._never(s, "open time")

    def add_days(
        self,
        start: datetime,
        days: int,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """
        The deadline ``days`` business days after ``start``, the way public-records
        (FOIA) laws count: the close of the ``days``-th working day after the day of
        receipt.

        The day of receipt is the local date of ``start`` if it is a working day and
        ``start`` is before its close, otherwise the next working day; it does not count.
        A working day is a date with open time (:meth:`is_working_day`); its close is
        the end of its last open piece (after closures). A working day whose open time is
        wholly inside ``pauses`` is skipped (so a pause extends the deadline by the whole
        working days it covers); a working day paused only in part counts in full.
        ``days=0`` gives the close of the day of receipt.

        Raises:
            ValidationError: negative ``days``, a naive datetime; or (a ``ValueError``)
                no working day for ten years on end.
        """
        s = _instant(start, "start")
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValidationError.at("days", f"expected a whole number of days, got {_kind(days)}")
        if days < 0:
            raise ValidationError.at("days", f"must not be negative, got {days}")
        cut = _spans(pauses, "pauses") if pauses else ()
        day = self._local_ordinal(start)
        flat = self._day(day)
        if not (flat and s < flat[-1]):
            day, flat = self._next_working_day(day, s)
        while days:
            day, flat = self._next_working_day(day, s)
            if cut and all(_covers(cut, flat[i], flat[i + 1]) for i in range(0, len(flat), 2)):
                continue
            days -= 1
        return _dt(flat[-1])

    def _next_working_day(self, day: int, s: int) -> tuple[int, tuple[int, ...]]:
        for _ in range(_GIVE_UP_DAYS):
            day += 1
            flat = self._day(day)
            if flat:
                return day, flat
        raise self._never(s, "working day")


def _public_holidays(
    country: str, subdivision: str | None, categories: tuple[str, ...], years: range
) -> set[date]:
    """The dates the ``holidays`` package gives, observed days included."""
    if not isinstance(country, str):
        raise ValidationError.at(
            "holiday_country", f"expected a country code, got {_kind(country)}"
        )
    try:
        holidays_pkg.country_holidays(country)
    except NotImplementedError:
        raise ValidationError.at(
            "holiday_country",
            f"{country!r} is not a country the holidays package knows (such as 'US' or 'GB')",
        ) from None
    if subdivision is not None:
        try:
            holidays_pkg.country_holidays(country, subdiv=subdivision)
        except NotImplementedError:
            known = ", ".join(holidays_pkg.list_supported_countries().get(country, ()))
            raise ValidationError.at(
                "holiday_subdivision",
                f"{subdivision!r} is not a subdivision of {country} (known: {known})",
            ) from None
    extra: dict[str, Any] = {"categories": categories} if categories else {}
    try:
        found = holidays_pkg.country_holidays(
            country, subdiv=subdivision, years=years, observed=True, **extra
        )
    except ValueError as exc:
        raise ValidationError.at("holiday_categories", str(exc)) from None
    return set(found)
