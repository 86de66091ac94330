"""Retention schedules and legal holds as pure policy (civiccrm.privacy.retention)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import ValidationError
from civiccrm.privacy.retention import (
    EMPTY_DIGEST,
    Cutoff,
    Disposition,
    LegalHold,
    Period,
    RecordClass,
    RetentionFacts,
    RetentionSchedule,
    RetentionStatus,
    Trigger,
    check_schedules,
    covers,
    decide,
    digest_ids,
    parse_period,
    schedule_for,
)

CHICAGO = ZoneInfo("America/Chicago")
ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("UTC", "America/Chicago", "America/New_York", "Europe/London")]
)
PERIODS = st.builds(
    Period,
    years=st.integers(0, 30),
    months=st.integers(0, 40),
    days=st.integers(0, 800),
)
MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)


def _schedule(**kw: object) -> RetentionSchedule:
    fields: dict[str, object] = {
        "code": "cases-3y",
        "record_class": "case",
        "trigger": "closed",
        "period": "3 years",
        "disposition": "destroy",
        "authority": "GS 1-22 item 5",
    }
    fields.update(kw)
    return RetentionSchedule(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Periods


@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2900, 12, 31)), p=PERIODS)
def test_calendar_arithmetic_agrees_with_dateutil(day: date, p: Period) -> None:
    expected = day + relativedelta(years=p.years, months=p.months) + timedelta(days=p.days)
    assert p.add_to(day) == expected


def test_month_ends_and_leap_days_clamp() -> None:
    assert Period(years=1).add_to(date(2024, 2, 29)) == date(2025, 2, 28)
    assert Period(years=4).add_to(date(2024, 2, 29)) == date(2028, 2, 29)
    assert Period(months=1).add_to(date(2025, 1, 31)) == date(2025, 2, 28)
    assert Period(months=1, days=1).add_to(date(2025, 1, 31)) == date(2025, 3, 1)


@given(moment=MOMENTS, p=PERIODS, tz=ZONES)
def test_a_period_keeps_the_local_wall_time(moment: datetime, p: Period, tz: ZoneInfo) -> None:
    local = moment.astimezone(tz)
    due = p.after(moment, tz)
    assert due.tzinfo is UTC
    due_local = due.astimezone(tz)
    assert due_local.date() == p.add_to(local.date())
    wall = local.replace(tzinfo=None).time()
    shown = due_local.replace(tzinfo=None).time()
    # The same wall time, or an hour on when it falls in the gap of a spring-forward day.
    same_day = datetime.combine(due_local.date(), wall)
    assert shown == wall or datetime.combine(due_local.date(), shown) - same_day == timedelta(
        hours=1
    )


def test_a_period_over_a_daylight_saving_change() -> None:
    # 10:00 CST in January, a year and three months on is 10:00 CDT: 15:00 UTC, not 16:00.
    closed = datetime(2025, 1, 15, 16, 0, tzinfo=UTC)
    assert Period(years=1, months=3).after(closed, CHICAGO) == datetime(
        2026, 4, 15, 15, 0, tzinfo=UTC
    )


@given(p=PERIODS.filter(lambda p: p != Period()))
def test_iso_form_round_trips(p: Period) -> None:
    assert parse_period(str(p)) == p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 years", Period(years=7)),
        ("7y", Period(years=7)),
        ("1 year 6 months", Period(years=1, months=6)),
        ("1 year, 6 months", Period(years=1, months=6)),
        ("18 months", Period(months=18)),
        ("90 days", Period(days=90)),
        ("2 weeks", Period(days=14)),
        ("P7Y", Period(years=7)),
        ("p1y6m", Period(years=1, months=6)),
        ("P2W", Period(days=14)),
        ("P1Y2M3D", Period(years=1, months=2, days=3)),
    ],
)
def test_periods_parse(text: str, expected: Period) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("forever", "not a period"),
        ("7", "not a period"),
        ("7 fortnights", "not a period"),
        ("P", "not a period"),
        ("0 days", "no time at all"),
        ("P0D", "no time at all"),
        ("2000 years", "more than 1000 years"),
        (7, "expected text"),
    ],
)
def test_bad_periods_are_named(value: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_period(value, field="retention[2].period")
    assert info.value.problems[0].path == "retention[2].period"
    assert words in str(info.value)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        Period(days=1).after(datetime(2025, 1, 1), CHICAGO)


# --------------------------------------------------------------------------------------
# Schedules


def test_cutoff_at_the_end_of_the_year_counts_in_local_time() -> None:
    s = _schedule(period="1 year", cutoff="year_end")
    # 23:30 on 31 December in Chicago is already 1 January in UTC: still 2024's cutoff.
    closed = datetime(2025, 1, 1, 5, 30, tzinfo=UTC)
    assert s.start(closed, CHICAGO) == datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    assert s.due_at(closed, CHICAGO) == datetime(2026, 1, 1, 6, 0, tzinfo=UTC)


def test_cutoff_at_the_end_of_the_month() -> None:
    s = _schedule(period="30 days", cutoff="month_end")
    closed = datetime(2025, 12, 10, 12, tzinfo=UTC)
    assert s.due_at(closed, CHICAGO) == datetime(2026, 1, 31, 6, 0, tzinfo=UTC)


@given(a=MOMENTS, b=MOMENTS, tz=ZONES, cutoff=st.sampled_from(list(Cutoff)))
def test_a_later_trigger_is_never_due_more_than_an_hour_earlier(
    a: datetime, b: datetime, tz: ZoneInfo, cutoff: Cutoff
) -> None:
    s = _schedule(period="2 years 1 month", cutoff=cutoff)
    early, late = sorted((a, b))
    # (an hour: a wall time in a spring-forward gap moves on by the gap)
    assert s.due_at(late, tz) >= s.due_at(early, tz) - timedelta(hours=1)
    assert s.due_at(early, tz) > early


def test_bad_schedules_are_named() -> None:
    with pytest.raises(ValidationError) as info:
        _schedule(authority=" ", code="")
    paths = {p.path for p in info.value.problems}
    assert paths == {"authority", "code"}
    with pytest.raises(ValidationError, match="cases only"):
        _schedule(record_class="interaction", case_types=["001"])
    with pytest.raises(ValidationError, match="anonymise"):
        _schedule(record_class="audit", trigger="created", disposition="anonymise")
    with pytest.raises(ValidationError, match="never closed"):
        _schedule(record_class="party", trigger="closed")
    with pytest.raises(ValueError, match="'shred'"):
        _schedule(disposition="shred")


def test_one_schedule_per_record() -> None:
    schedules = [
        _schedule(code="a"),
        _schedule(code="b", case_types=["001", "002"]),
        _schedule(code="a", case_types=["003"]),
        _schedule(code="c"),
        _schedule(code="d", case_types=["002"]),
        _schedule(code="e", record_class="interaction", trigger="created"),
    ]
    problems = check_schedules(schedules)
    assert [p.path for p in problems] == ["retention[2].code", "retention[3]", "retention[4]"]
    assert "every case" in problems[1].message
    assert "case type '002'" in problems[2].message
    assert check_schedules([schedules[0], schedules[1], schedules[5]]) == []


def test_the_schedule_naming_a_case_type_wins() -> None:
    general = _schedule(code="general")
    specific = _schedule(code="permits", case_types=["PERMIT"], period="10 years")
    facts = RetentionFacts(
        record_class=RecordClass.CASE,
        record_id="c1",
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
        case_type="PERMIT",
    )
    assert schedule_for([general, specific], facts) is specific
    other = RetentionFacts(
        record_class=RecordClass.CASE,
        record_id="c2",
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
        case_type="001",
    )
    assert schedule_for([general, specific], other) is general
    note = RetentionFacts(
        record_class=RecordClass.INTERACTION,
        record_id="i1",
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    assert schedule_for([general, specific], note) is None


# --------------------------------------------------------------------------------------
# Holds and decisions

T0 = datetime(2020, 6, 1, 12, tzinfo=UTC)


def _case(record_id: str = "c1", **kw: object) -> RetentionFacts:
    fields: dict[str, object] = {
        "record_class": RecordClass.CASE,
        "record_id": record_id,
        "created_at": T0,
        "closed_at": T0 + timedelta(days=10),
        "case_type": "001",
        "case_id": record_id,
        "party_ids": ("p1",),
    }
    fields.update(kw)
    return RetentionFacts(**fields)  # type: ignore[arg-type]


def _hold(**kw: object) -> LegalHold:
    fields: dict[str, object] = {
        "id": "h1",
        "reason": "Smith v. City, discovery",
        "authority": "City Attorney",
        "placed_at": T0,
    }
    fields.update(kw)
    return LegalHold(**fields)  # type: ignore[arg-type]


def test_holds_cover_what_they_name() -> None:
    interaction = RetentionFacts(
        record_class=RecordClass.INTERACTION,
        record_id="i1",
        created_at=T0,
        case_id="c1",
        party_ids=("p2",),
    )
    by_case = _hold(cases=["c1"])
    assert covers(by_case, _case("c1"))
    assert covers(by_case, interaction)
    assert not covers(by_case, _case("c2"))
    by_party = _hold(parties=["p2"])
    assert covers(by_party, interaction)
    assert not covers(by_party, _case("c1"))
    party = RetentionFacts(record_class=RecordClass.PARTY, record_id="p2", created_at=T0)
    assert covers(by_party, party)
    by_query = _hold(case_type="001", created_from=T0, created_until=T0 + timedelta(days=1))
    assert covers(by_query, _case("c1"))
    assert covers(
        by_query,
        RetentionFacts(
            record_class=RecordClass.INTERACTION,
            record_id="i2",
            created_at=T0,
            case_id="c9",
            case_type="001",
        ),
    )
    assert not covers(by_query, _case("c3", created_at=T0 + timedelta(days=1)))
    assert not covers(by_query, _case("c4", case_type="002"))
    audit = RetentionFacts(record_class=RecordClass.AUDIT, record_id="1", created_at=T0)
    assert not covers(by_case, audit)
    assert not covers(by_query, audit)


def test_bad_holds_are_named() -> None:
    with pytest.raises(ValidationError) as info:
        _hold(reason="", authority="")
    assert {p.path for p in info.value.problems} == {"reason", "authority", "cases"}
    with pytest.raises(ValidationError, match="one"):
        _hold(cases=["c1"], parties=["p1"])
    with pytest.raises(ValidationError, match="after created_from"):
        _hold(created_from=T0, created_until=T0)
    with pytest.raises(ValidationError, match="placed_at"):
        _hold(cases=["c1"], released_at=T0 - timedelta(seconds=1))


def test_a_decision_for_each_status() -> None:
    s = _schedule(period="1 year")
    tz = ZoneInfo("UTC")
    due = T0 + timedelta(days=10) + timedelta(days=365)
    assert decide([], _case(), [], now=due, tz=tz).status is RetentionStatus.NO_SCHEDULE
    open_case = _case(closed_at=None)
    assert decide([s], open_case, [], now=due, tz=tz).status is RetentionStatus.NOT_TRIGGERED
    early = decide([s], _case(), [], now=due - timedelta(seconds=1), tz=tz)
    assert (early.status, early.due_at) == (RetentionStatus.NOT_DUE, due)
    hold = _hold(cases=["c1"])
    held = decide([s], _case(), [hold], now=due, tz=tz)
    assert (held.status, held.holds) == (RetentionStatus.HELD, ("h1",))
    released = _hold(cases=["c1"], released_at=due)
    assert decide([s], _case(), [released], now=due, tz=tz).status is RetentionStatus.DUE
    later = _hold(cases=["c1"], placed_at=due + timedelta(days=1))
    assert decide([s], _case(), [later], now=due, tz=tz).status is RetentionStatus.DUE


@settings(max_examples=200)
@given(
    created=MOMENTS,
    closed_after=st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=900))),
    now_after=st.timedeltas(timedelta(0), timedelta(days=5000)),
    trigger=st.sampled_from(list(Trigger)),
    held=st.booleans(),
    released_after=st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=5000))),
)
def test_due_exactly_when_the_period_is_over_and_nothing_holds_it(
    created: datetime,
    closed_after: timedelta | None,
    now_after: timedelta,
    trigger: Trigger,
    held: bool,
    released_after: timedelta | None,
) -> None:
    s = _schedule(trigger=trigger, period="2 years 6 months")
    closed = None if closed_after is None else created + closed_after
    facts = _case(created_at=created, closed_at=closed, last_activity_at=closed)
    now = created + now_after
    released = None if released_after is None else created + released_after
    holds = [_hold(cases=["c1"], placed_at=created, released_at=released)] if held else []
    got = decide([s], facts, holds, now=now, tz=CHICAGO)
    start = {Trigger.CREATED: created, Trigger.CLOSED: closed, Trigger.LAST_ACTIVITY: closed}[
        trigger
    ]
    if trigger is Trigger.LAST_ACTIVITY and start is None:
        start = created
    if start is None:
        assert got.status is RetentionStatus.NOT_TRIGGERED
        return
    local = start.astimezone(CHICAGO)
    day = local.date() + relativedelta(years=2, months=6)
    due = datetime.combine(day, local.time(), tzinfo=CHICAGO).astimezone(UTC)
    hold_in_force = held and (released is None or now < released)
    if now < due:
        assert got.status is RetentionStatus.NOT_DUE
    elif hold_in_force:
        assert got.status is RetentionStatus.HELD
    else:
        assert got.status is RetentionStatus.DUE
    assert got.due_at == due


@given(ids=st.lists(st.text(max_size=8), max_size=20, unique=True))
def test_the_digest_is_order_free(ids: list[str]) -> None:
    assert digest_ids(reversed(ids)) == digest_ids(ids)
    assert len(digest_ids(ids)) == 64


def test_the_digest_tells_sets_apart() -> None:
    assert digest_ids(["c1", "c2"]) != digest_ids(["c1"])
    assert digest_ids(["c1c2"]) != digest_ids(["c1", "c2"])
    assert digest_ids([]) == EMPTY_DIGEST
    # The SHA-256 of the sorted ids, one per line: anyone can recompute it.
    import hashlib

    assert digest_ids(["b", "a"]) == hashlib.sha256(b"a\nb\n").hexdigest()


def test_a_disposition_per_enum_value() -> None:
    assert {d.value for d in Disposition} == {"destroy", "anonymise", "archive", "review"}
