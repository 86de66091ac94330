"""
Retention schedules and legal holds, as pure policy: what is due for disposition, when.

Public records law says how long each class of record must be kept, privacy law that
it must not be kept longer, and litigation that some records must not be touched at all.
This module decides; it does no I/O. The facade reads the records' facts from storage,
asks :func:`decide` about each, and carries out the dispositions.

A **retention schedule** applies to a record class (cases, optionally of some case types
only; interactions; parties; audit entries) and says:

- its **trigger**: the event the retention period counts from (the record was created,
  closed, or last active);
- an optional **cutoff**: records schedules often count from the end of the month or
  calendar year in which the trigger fell ("cut off at the end of the calendar year,
  destroy 3 years after cut-off");
- its **period**, in calendar years, months and days (:class:`Period`): a year after
  29 February is 28 February, a month after 31 January is the last day of February;
- its **disposition**: destroy (crypto-shred then delete), anonymise (drop or
  generalise personal fields, keep statistics), archive (export to an archive file,
  then destroy) or review (flag for a person to decide);
- the **legal authority**: the schedule item that requires it, such as a state records
  schedule's item number.

Periods count in the agency's time zone: a record closed at 23:30 local time on
31 December with a one-year period cut off at the end of the year is due at local
midnight starting 1 January two years later, whatever the UTC offset was then.

A **legal hold** names cases, parties, or a query (the cases of a type opened in a date
range) and, while it is in force, suspends the disposition of everything it covers: a
held record is never disposed, however long ago it expired.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._work import LegalHold

__all__ = [
    "Cutoff",
    "Decision",
    "Disposition",
    "LegalHold",
    "Period",
    "RecordClass",
    "RetentionFacts",
    "RetentionSchedule",
    "RetentionStatus",
    "Trigger",
    "check_schedules",
    "covers",
    "decide",
    "digest_ids",
    "EMPTY_DIGEST",
    "parse_period",
    "parse_retention",
    "schedule_for",
]


class RecordClass(enum.StrEnum):
    """The classes of record a retention schedule may apply to."""

    CASE = "case"
    INTERACTION = "interaction"
    PARTY = "party"
    AUDIT = "audit"


class Trigger(enum.StrEnum):
    """The event a retention period counts from."""

    CREATED = "created"
    CLOSED = "closed"
    LAST_ACTIVITY = "last_activity"


class Cutoff(enum.StrEnum):
    """Where a retention period starts, relative to its trigger."""

    #: At the trigger itself.
    NONE = "none"
    #: At local midnight starting the month after the trigger's.
    MONTH_END = "month_end"
    #: At local midnight starting the year after the trigger's (1 January).
    YEAR_END = "year_end"


class Disposition(enum.StrEnum):
    """What happens to a record when its retention period ends."""

    #: Crypto-shred its personal data, then delete it.
    DESTROY = "destroy"
    #: Drop or generalise its personal fields; keep the rest for statistics.
    ANONYMISE = "anonymise"
    #: Export it to an archive file, then destroy it.
    ARCHIVE = "archive"
    #: Flag it for a person to decide.
    REVIEW = "review"


# --------------------------------------------------------------------------------------
# Periods

_ISO_PERIOD_RE: Final = re.compile(
    r"P(?=\d)(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?", re.ASCII
)
_WORD_PART_RE: Final = re.compile(
    r"\s*(?P<n>\d+)\s*(?P<unit>years?|yrs?|y|months?|mos?|m|weeks?|wks?|w|days?|d)\b\s*,?",
    re.ASCII | re.IGNORECASE,
)
_UNITS: Final = {"y": "years", "m": "months", "w": "weeks", "d": "days"}
#: The digest of no records (see :func:`digest_ids`).
EMPTY_DIGEST: Final = hashlib.sha256(b"").hexdigest()
#: No schedule keeps anything longer than this (and dates stay within datetime's range).
_MAX_YEARS: Final = 1000


@attrs.frozen
class Period:
    """
    A retention period in calendar years, months and days. ``str()`` gives its ISO 8601
    form (``P7Y``, ``P1Y6M``, ``P90D``), which :func:`parse_period` reads back.

    >>> Period(years=1).after(datetime(2024, 2, 29, 12, tzinfo=UTC), ZoneInfo("UTC"))
    datetime.datetime(2025, 2, 28, 12, 0, tzinfo=datetime.timezone.utc)
    """

    years: int = 0
    months: int = 0
    days: int = 0

    def __attrs_post_init__(self) -> None:
        for name in ("years", "months", "days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError.at(name, f"must be a whole number 0 or more, got {value!r}")
        if self.years + self.months // 12 + self.days // 366 > _MAX_YEARS:
            raise ValidationError.at("", f"a period of more than {_MAX_YEARS} years")

    def __str__(self) -> str:
        parts = [(self.years, "Y"), (self.months, "M"), (self.days, "D")]
        text = "".join(f"{n}{unit}" for n, unit in parts if n)
        return "P" + (text or "0D")

    def add_to(self, day: date) -> date:
        """``day`` plus this period: years and months first, clamped to the end of a
        shorter month, then days."""
        months = day.year * 12 + (day.month - 1) + self.years * 12 + self.months
        year, month = divmod(months, 12)
        month += 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last)) + timedelta(days=self.days)

    def after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """
        The instant this period after ``moment``, counted in ``tz``'s calendar: the
        same local wall time on the day :meth:`add_to` gives (in a gap of a daylight
        saving change, the wall time it becomes), in UTC.
        """
        local = _local(moment, tz)
        wall = datetime.combine(self.add_to(local.date()), local.time(), tzinfo=tz)
        return wall.astimezone(UTC)


def parse_period(value: object, *, field: str = "period") -> Period:
    """
    A :class:`Period` from its ISO 8601 form (``P7Y``, ``P1Y6M``, ``P2W``, ``P90D``) or
    words (``7 years``, ``18 months``, ``1 year 6 months``, ``90 days``, ``7y``).

    Raises:
        ValidationError: at ``field``, naming what is wrong.

    >>> parse_period("1 year, 6 months")
    Period(years=1, months=6, days=0)
    >>> str(parse_period("P2W"))
    'P14D'
    """
    if isinstance(value, Period):
        return value
    if not isinstance(value, str):
        raise ValidationError.at(field, f"expected text such as '7 years' or 'P7Y', got {value!r}")
    text = value.strip()
    counts = {"years": 0, "months": 0, "weeks": 0, "days": 0}
    iso = _ISO_PERIOD_RE.fullmatch(text.upper())
    if iso is not None:
        for key, unit in (("y", "years"), ("m", "months"), ("w", "weeks"), ("d", "days")):
            counts[unit] = int(iso.group(key) or 0)
    else:
        pos, seen = 0, False
        while pos < len(text):
            m = _WORD_PART_RE.match(text, pos)
            if m is None or m.end() == pos:
                raise ValidationError.at(
                    field,
                    f"{value!r} is not a period: write e.g. '7 years', '18 months', "
                    "'1 year 6 months', '90 days' or ISO 8601 'P7Y'",
                )
            unit = _UNITS[m.group("unit")[0].lower()]
            counts[unit] += int(m.group("n"))
            pos, seen = m.end(), True
        if not seen:
            raise ValidationError.at(field, "is empty: write e.g. '7 years' or 'P7Y'")
    try:
        period = Period(counts["years"], counts["months"], counts["days"] + 7 * counts["weeks"])
    except ValidationError as exc:
        raise ValidationError.at(field, f"{value!r}: {exc.problems[0].message}") from None
    if period == Period():
        raise ValidationError.at(field, f"{value!r} is no time at all: a period must be longer")
    return period


# --------------------------------------------------------------------------------------
# Schedules


def _period(value: object) -> Period:
    return parse_period(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class RetentionSchedule:
    """
    How long one class of record is kept and what happens to it then (see the module's
    docstring). ``case_types``, for cases only, limits the schedule to those case types;
    empty, it applies to every case type no other schedule names.
    """

    code: str
    record_class: RecordClass = attrs.field(converter=RecordClass)
    trigger: Trigger = attrs.field(converter=Trigger)
    period: Period = attrs.field(converter=_period)
    disposition: Disposition = attrs.field(converter=Disposition)
    #: The legal authority: the records-schedule item (or statute) that requires it.
    authority: str
    case_types: tuple[str, ...] = attrs.field(default=(), converter=_names)
    cutoff: Cutoff = attrs.field(default=Cutoff.NONE, converter=Cutoff)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        problems = []
        if not self.code.strip():
            problems.append(Problem("code", "must not be empty"))
        if not self.authority.strip():
            problems.append(
                Problem("authority", "must name the legal authority (e.g. a schedule item)")
            )
        if self.case_types and self.record_class is not RecordClass.CASE:
            problems.append(
                Problem("case_types", f"applies to cases only, not to {self.record_class}")
            )
        if self.record_class is RecordClass.AUDIT:
            if self.disposition in (Disposition.ANONYMISE, Disposition.REVIEW):
                problems.append(
                    Problem(
                        "disposition",
                        "the audit trail is cut from its start, whole: destroy or archive "
                        "(its entries hold no personal data to anonymise)",
                    )
                )
            if self.trigger is not Trigger.CREATED:
                problems.append(Problem("trigger", "audit entries count from 'created' only"))
        if self.record_class is RecordClass.PARTY and self.trigger is Trigger.CLOSED:
            problems.append(
                Problem("trigger", "a party is never closed: use 'created' or 'last_activity'")
            )
        if problems:
            raise ValidationError(problems, record_type="retention schedule")

    def start(self, trigger_at: datetime, tz: ZoneInfo) -> datetime:
        """When the period starts for a trigger at ``trigger_at`` (after the cutoff)."""
        if self.cutoff is Cutoff.NONE:
            return trigger_at.astimezone(UTC)
        local = _local(trigger_at, tz)
        if self.cutoff is Cutoff.MONTH_END:
            first = Period(months=1).add_to(local.date().replace(day=1))
        else:
            first = date(local.year + 1, 1, 1)
        return datetime.combine(first, clock_time(0), tzinfo=tz).astimezone(UTC)

    def due_at(self, trigger_at: datetime, tz: ZoneInfo) -> datetime:
        """When a record whose trigger fell at ``trigger_at`` is due for disposition."""
        return self.period.after(self.start(trigger_at, tz), tz)


def check_schedules(schedules: Sequence[RetentionSchedule]) -> list[Problem]:
    """
    The problems of a profile's schedules as a whole (each at ``retention[i]``): codes
    must be unique, and no two schedules may apply to the same records (two without
    case types for one class, or two naming the same case type).
    """
    problems: list[Problem] = []
    codes: dict[str, int] = {}
    claimed: dict[tuple[RecordClass, str | None], int] = {}
    for i, s in enumerate(schedules):
        if s.code in codes:
            problems.append(
                Problem(f"retention[{i}].code", f"{s.code!r} is also retention[{codes[s.code]}]")
            )
        codes.setdefault(s.code, i)
        for case_type in s.case_types or (None,):
            key = (s.record_class, case_type)
            if key in claimed:
                what = f"case type {case_type!r}" if case_type else f"every {s.record_class}"
                problems.append(
                    Problem(
                        f"retention[{i}]",
                        f"{what} already has a schedule (retention[{claimed[key]}]): "
                        "a record must have one schedule",
                    )
                )
            claimed.setdefault(key, i)
    return problems


# --------------------------------------------------------------------------------------
# Records, holds and decisions


@attrs.frozen(kw_only=True)
class RetentionFacts:
    """What retention needs to know of one record: no personal data."""

    record_class: RecordClass
    record_id: str
    created_at: datetime
    closed_at: datetime | None = None
    last_activity_at: datetime | None = None
    case_type: str | None = None
    #: The case a case, interaction or event belongs to.
    case_id: str | None = None
    #: The parties the record is about (a case's requester, an interaction's party).
    party_ids: tuple[str, ...] = ()


def covers(hold: LegalHold, facts: RetentionFacts) -> bool:
    """Whether ``hold``'s scope takes in the record (in force or not): the cases it
    names (and their interactions), every record of the parties it names, or the cases
    (and their interactions) of its query."""
    if facts.record_class is RecordClass.AUDIT:
        return False  # the audit trail is kept by its own schedule
    if hold.cases:
        return (facts.case_id or "") in hold.cases or (
            facts.record_class is RecordClass.CASE and facts.record_id in hold.cases
        )
    if hold.parties:
        if facts.record_class is RecordClass.PARTY:
            return facts.record_id in hold.parties
        return any(p in hold.parties for p in facts.party_ids)
    if facts.record_class not in (RecordClass.CASE, RecordClass.INTERACTION):
        return False
    if facts.record_class is RecordClass.INTERACTION and facts.case_id is None:
        return False
    if hold.case_type is not None and facts.case_type != hold.case_type:
        return False
    if hold.created_from is not None and facts.created_at < hold.created_from:
        return False
    return hold.created_until is None or facts.created_at < hold.created_until


class RetentionStatus(enum.StrEnum):
    """Where a record stands against its schedule."""

    #: No schedule applies: kept.
    NO_SCHEDULE = "no_schedule"
    #: The trigger has not happened (a case still open, say): kept.
    NOT_TRIGGERED = "not_triggered"
    #: The period has not ended: kept.
    NOT_DUE = "not_due"
    #: The period has ended but a legal hold in force covers it: kept.
    HELD = "held"
    #: The period has ended: the schedule's disposition applies.
    DUE = "due"


@attrs.frozen
class Decision:
    """What :func:`decide` said of one record."""

    facts: RetentionFacts
    status: RetentionStatus
    schedule: RetentionSchedule | None = None
    due_at: datetime | None = None
    #: The holds in force that cover the record (status ``held``).
    holds: tuple[str, ...] = ()


def schedule_for(
    schedules: Sequence[RetentionSchedule], facts: RetentionFacts
) -> RetentionSchedule | None:
    """The schedule that applies to a record: the one naming its case type, else the
    one of its class naming none (see :func:`check_schedules`), else None."""
    general = None
    for s in schedules:
        if s.record_class is not facts.record_class:
            continue
        if s.case_types:
            if facts.case_type in s.case_types:
                return s
        elif general is None:
            general = s
    return general


def decide(
    schedules: Sequence[RetentionSchedule],
    facts: RetentionFacts,
    holds: Sequence[LegalHold],
    *,
    now: datetime,
    tz: ZoneInfo,
    holds_at: datetime | None = None,
) -> Decision:
    """
    Whether one record is due for disposition at ``now``, and under which schedule.

    The holds are judged at ``holds_at`` (default ``now``): a run judging periods as of
    an earlier instant (a resumed run, say) must still respect a hold placed since, so
    it passes the current time there.
    """
    schedule = schedule_for(schedules, facts)
    if schedule is None:
        return Decision(facts, RetentionStatus.NO_SCHEDULE)
    trigger_at = {
        Trigger.CREATED: facts.created_at,
        Trigger.CLOSED: facts.closed_at,
        Trigger.LAST_ACTIVITY: facts.last_activity_at or facts.created_at,
    }[schedule.trigger]
    if trigger_at is None:
        return Decision(facts, RetentionStatus.NOT_TRIGGERED, schedule)
    due = schedule.due_at(trigger_at, tz)
    if now < due:
        return Decision(facts, RetentionStatus.NOT_DUE, schedule, due)
    at = now if holds_at is None else holds_at
    holding = tuple(h.id for h in holds if h.in_force(at) and covers(h, facts))
    if holding:
        return Decision(facts, RetentionStatus.HELD, schedule, due, holding)
    return Decision(facts, RetentionStatus.DUE, schedule, due)


def digest_ids(ids: Iterable[str]) -> str:
    """
    The SHA-256 of ``ids`` sorted, one per line (UTF-8, each line ending in a newline),
    in hex: what a disposition certificate gives to prove which records it disposed of
    without listing them. Anyone holding the list can recompute it.

    >>> digest_ids(["b", "a"]) == digest_ids(["a", "b"])
    True
    >>> digest_ids([]) == EMPTY_DIGEST
    True
    """
    h = hashlib.sha256()
    for record_id in sorted(ids):
        h.update(record_id.encode("utf-8") + b"\n")
    return h.hexdigest()


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError.at("", f"a retention time must be timezone-aware, got {moment}")
    return moment.astimezone(tz)


#: Record classes a schedule may name but ``crm.retention`` does not dispose of yet.
UNAPPLIED_CLASSES: Final = frozenset({"party"})

_SCHEDULE_KEYS: Final = (
    "code",
    "record_class",
    "trigger",
    "period",
    "disposition",
    "authority",
    "case_types",
    "cutoff",
    "description",
)


def parse_retention(
    raw: object, *, case_types: Collection[str] | None
) -> tuple[tuple[RetentionSchedule, ...] | None, list[Problem]]:
    """
    The profile's ``[[retention]]`` array of tables as schedules, or None with every
    problem, each at its TOML path (``retention[2].period``). ``case_types``: the
    profile's case type codes (None: not known, not checked).

    .. versionadded:: 0.1.0
    """
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        kind = type(raw).__name__
        return None, [Problem("retention", f"expected an array of tables, got {kind}")]
    found: list[Problem] = []
    schedules: list[RetentionSchedule] = []
    for i, item in enumerate(raw):
        path = f"retention[{i}]"
        if not isinstance(item, Mapping):
            found.append(Problem(path, f"expected a table, got {type(item).__name__}"))
            continue
        at: list[Problem] = []
        for key in item:
            if key not in _SCHEDULE_KEYS:
                at.append(
                    Problem(str(key), f"unknown setting (known: {', '.join(_SCHEDULE_KEYS)})")
                )
        for key in ("code", "record_class", "trigger", "period", "disposition", "authority"):
            if key not in item:
                at.append(Problem(key, "is required"))
        choices = {
            "record_class": RecordClass,
            "trigger": Trigger,
            "disposition": Disposition,
            "cutoff": Cutoff,
        }
        for key, enum_cls in choices.items():
            value = item.get(key)
            if value is not None and value not in {e.value for e in enum_cls}:
                known = ", ".join(e.value for e in enum_cls)
                at.append(Problem(key, f"{value!r} is not one of {known}"))
        if item.get("record_class") in UNAPPLIED_CLASSES:
            at.append(
                Problem(
                    "record_class",
                    f"{item['record_class']!r} schedules are not applied yet: this release "
                    "disposes of cases, interactions and the audit trail (erase parties "
                    "with crm.subjects.erase)",
                )
            )
        for key in ("code", "authority", "description"):
            if key in item and not isinstance(item[key], str):
                at.append(Problem(key, f"expected text, got {type(item[key]).__name__}"))
        types = item.get("case_types", [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            at.append(Problem("case_types", "expected a list of case type codes"))
        elif case_types is not None:
            for j, code in enumerate(types):
                if code not in case_types:
                    at.append(Problem(f"case_types[{j}]", f"no case type {code!r}"))
        if "period" in item:
            try:
                parse_period(item["period"], field="")
            except ValidationError as exc:
                at.extend(p.prefixed("period") for p in exc.problems)
        if not at:
            try:
                schedules.append(RetentionSchedule(**{k: item[k] for k in item}))
            except ValidationError as exc:
                at.extend(exc.problems)
        found.extend(p.prefixed(path) for p in at)
    if not found:
        found.extend(check_schedules(schedules))
    return (tuple(schedules) if not found else None), found
