"""
SLA clocks replayed from a case's events: scenarios worked out by hand, the properties
that make the clock a pure function of its inputs, and the profile's calendars (US
federal, Illinois, England) at work under real policies.

The hand-worked scenarios use the Testville office calendar: Monday to Friday,
08:00-12:00 and 13:00-17:00 in America/Chicago, with US federal and Illinois holidays.
Monday 13 April 2026 is an ordinary working Monday (CDT, UTC-5).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import NotFoundError, ValidationError
from civiccrm.models import Case, CaseEvent, CaseStatus, EventKind, Priority
from civiccrm.profile import Profile, load_profile, parse_profile, springfield_path
from civiccrm.routing.sla import (
    SlaClock,
    SlaPolicy,
    SlaState,
    SlaTarget,
    SlaUnit,
    TargetClock,
    clock,
    policy_for,
)

CHICAGO = ZoneInfo("America/Chicago")
LONDON = ZoneInfo("Europe/London")
S = CaseStatus

OFFICE_HOURS = (
    "{ mon = ['08:00-12:00', '13:00-17:00'], tue = ['08:00-12:00', '13:00-17:00'], "
    "wed = ['08:00-12:00', '13:00-17:00'], thu = ['08:00-12:00', '13:00-17:00'], "
    "fri = ['08:00-12:00', '13:00-17:00'] }"
)

PROFILE_TOML = f"""
[agency]
code = "testville"
name = "Testville"
default_region = "US"
time_zone = "America/Chicago"

[[departments]]
code = "roads"
name = "Roads"

[[case_types]]
code = "pothole"
name = "Pothole"
department = "roads"
sla_policy = "standard"

[[case_types]]
code = "sewer"
name = "Sewer backup"
department = "roads"
sla_policy = "strict"

[[case_types]]
code = "permit"
name = "Permit"
department = "roads"
sla_policy = "permit"

[[case_types]]
code = "info"
name = "Information"
department = "roads"

[calendars.office]
name = "Office hours"
hours = {OFFICE_HOURS}
holidays = {{ country = "US", subdivision = "IL" }}

[calendars.always]
name = "Around the clock"
hours = "24x7"

[sla_policies.standard]
name = "Standard"
calendar = "office"
targets = [
  {{ name = "first_response", business_hours = 8 }},
  {{ name = "resolution", business_days = 5 }},
]

  [sla_policies.standard.priorities.urgent]
  targets = [
    {{ name = "first_response", business_hours = 1 }},
    {{ name = "resolution", business_hours = 4 }},
  ]

  [sla_policies.standard.priorities.high]
  calendar = "always"
  targets = [{{ name = "resolution", business_hours = 24 }}]

[sla_policies.strict]
name = "Strict"
calendar = "office"
start = "opened"
warnings = [0.25]
reset_on = ["case_type_changed", "reopened"]
targets = [
  {{ name = "first_response", business_hours = 8 }},
  {{ name = "update", calendar_hours = 24, met_by = "contact", repeat = true }},
  {{ name = "resolution", calendar_days = 3 }},
]

[sla_policies.permit]
name = "Permit review"
calendar = "office"
warnings = []
targets = [
  {{ name = "intake_check", business_days = 3, met_by = "event:assigned" }},
  {{ name = "review", business_minutes = 240, met_by = "status:in_progress" }},
  {{ name = "resolution", calendar_minutes = 90, met_by = "status:closed" }},
]
"""

PROFILE = parse_profile(PROFILE_TOML)


def local(day: int, hour: int, minute: int = 0, *, month: int = 4) -> datetime:
    """A Chicago wall time in 2026 (April unless told), in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


MON, TUE, WED, THU, FRI, NEXT_MON = 13, 14, 15, 16, 17, 20


@attrs.define
class Story:
    """A case's life as the CRM facade records it: each change a new case and an event."""

    case: Case
    events: list[CaseEvent] = attrs.field(factory=list)
    #: Every version of the case with the instant it was made.
    versions: list[tuple[datetime, Case]] = attrs.field(factory=list)

    @classmethod
    def open(
        cls,
        case_type: str = "pothole",
        *,
        reported: datetime,
        opened: datetime | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> Story:
        opened = opened or reported
        case = Case(
            id=uuid.uuid4(),
            case_type=case_type,
            priority=priority,
            reported_at=reported,
            opened_at=opened,
        )
        story = cls(case)
        story._record(EventKind.OPENED, opened, case, to_status=S.NEW)
        return story

    def _record(self, kind: EventKind, at: datetime, case: Case, **fields: object) -> Story:
        self.events.append(CaseEvent(case_id=case.id, kind=kind, at=at, **fields))  # type: ignore[arg-type]
        self.case = case
        self.versions.append((at, case))
        return self

    def move(self, to: CaseStatus, at: datetime) -> Story:
        """A status change, with the first response the facade records with it."""
        current = self.case
        moved = current.transition(to, at=at)
        if moved.first_response_at is None and to in (S.IN_PROGRESS, S.RESOLVED):
            moved = attrs.evolve(moved, first_response_at=at)
        if to is S.ASSIGNED:
            kind = EventKind.ASSIGNED
        elif current.status is S.RESOLVED and to is S.IN_PROGRESS:
            kind = EventKind.REOPENED
        else:
            kind = EventKind.STATUS_CHANGED
        return self._record(kind, at, moved, from_status=current.status, to_status=to)

    def contact(self, at: datetime, direction: str = "outbound") -> Story:
        case = self.case
        if direction == "outbound" and case.first_response_at is None:
            case = attrs.evolve(case, first_response_at=at)
        data = {"channel": "phone", "direction": direction}
        return self._record(EventKind.INTERACTION_LOGGED, at, case, data=data)

    def reprioritize(self, to: Priority, at: datetime) -> Story:
        data = {"from": self.case.priority.value, "to": to.value}
        return self._record(
            EventKind.PRIORITY_CHANGED, at, attrs.evolve(self.case, priority=to), data=data
        )

    def retype(self, to: str, at: datetime) -> Story:
        data = {"fields": "case_type,queue"}
        return self._record(EventKind.UPDATED, at, attrs.evolve(self.case, case_type=to), data=data)

    def clock(self, at: datetime, profile: Profile = PROFILE) -> SlaClock:
        got = clock(self.case, self.events, profile, at=at)
        assert got is not None
        return got

    def as_of(self, at: datetime) -> tuple[Case, list[CaseEvent]]:
        """The case as it was at ``at``, and the events recorded by then."""
        case = self.versions[0][1]
        for when, version in self.versions:
            if when <= at:
                case = version
        return case, [e for e in self.events if e.at <= at]


def target(c: SlaClock, name: str) -> TargetClock:
    found = c.target(name)
    assert found is not None, name
    return found


# --------------------------------------------------------------------------------------
# Starting, warning, breaching


def test_the_clock_starts_when_the_citizen_reported() -> None:
    story = Story.open(reported=local(MON, 9), opened=local(MON, 10))
    c = story.clock(local(MON, 10))
    assert c.policy == "standard"
    assert c.priority is Priority.NORMAL
    assert not c.paused
    first = target(c, "first_response")
    assert first.started_at == local(MON, 9)
    # 8 business hours: Monday 09-12 and 13-17 (7), Tuesday 08-09 (1).
    assert first.due_at == local(TUE, 9)
    # 4 hours in: 09-12 and 13-14; 6 hours in: 13-16.
    assert first.warn_at == (local(MON, 14), local(MON, 16))
    assert first.elapsed == timedelta(hours=1)
    assert first.remaining == timedelta(hours=7)
    assert (first.state, first.level, first.met_at, first.paused) == (
        SlaState.ON_TRACK,
        0,
        None,
        (),
    )
    resolution = target(c, "resolution")
    # Monday is the day of receipt; the fifth working day after it is the next Monday.
    assert resolution.due_at == local(NEXT_MON, 17)
    # Its business time: 7 + 4 x 8 + 8 = 47 hours; 50% is 23.5 hours (Thursday 08:30),
    # 75% is 35.25 hours (Friday 13:15, after the lunch hour).
    assert resolution.remaining == timedelta(hours=46)
    assert resolution.warn_at == (local(THU, 8, 30), local(FRI, 13, 15))
    assert c.next_change_at == local(MON, 14)


def test_a_policy_may_start_when_the_case_was_opened() -> None:
    story = Story.open("sewer", reported=local(MON, 9), opened=local(MON, 10))
    first = target(story.clock(local(MON, 10)), "first_response")
    assert first.started_at == local(MON, 10)
    assert first.due_at == local(TUE, 10)


def test_start_falls_back_to_opened_at_and_the_opened_event() -> None:
    story = Story.open(reported=local(MON, 9))
    no_report = attrs.evolve(story.case, reported_at=None, opened_at=local(MON, 10))
    got = clock(no_report, story.events, PROFILE, at=local(MON, 11))
    assert got is not None
    assert target(got, "first_response").started_at == local(MON, 10)
    bare = attrs.evolve(story.case, reported_at=None, opened_at=None)
    got = clock(bare, story.events, PROFILE, at=local(MON, 11))
    assert got is not None
    assert target(got, "first_response").started_at == local(MON, 9)  # the opened event
    with pytest.raises(ValidationError, match="no reported_at or opened_at"):
        clock(bare, [], PROFILE, at=local(MON, 11))


@pytest.mark.parametrize(
    ("at", "state", "level", "remaining"),
    [
        (local(MON, 13, 59), SlaState.ON_TRACK, 0, timedelta(hours=4, minutes=1)),
        (local(MON, 14), SlaState.AT_RISK, 1, timedelta(hours=4)),
        (local(MON, 16), SlaState.AT_RISK, 2, timedelta(hours=2)),
        (local(MON, 20), SlaState.AT_RISK, 2, timedelta(hours=1)),  # closed: time stands
        (local(TUE, 8, 59), SlaState.AT_RISK, 2, timedelta(minutes=1)),
        (local(TUE, 9), SlaState.BREACHED, 3, timedelta(0)),
        (local(TUE, 10), SlaState.BREACHED, 3, timedelta(hours=-1)),
    ],
)
def test_warnings_then_breach(
    at: datetime, state: SlaState, level: int, remaining: timedelta
) -> None:
    story = Story.open(reported=local(MON, 9))
    first = target(story.clock(at), "first_response")
    assert (first.state, first.level, first.remaining) == (state, level, remaining)


def test_next_change_at_walks_through_the_warnings_and_due_times() -> None:
    story = Story.open(reported=local(MON, 9))
    seen = []
    at = local(MON, 9)
    while True:
        nxt = story.clock(at).next_change_at
        if nxt is None:
            break
        seen.append(nxt)
        at = nxt
    assert seen == [
        local(MON, 14),
        local(MON, 16),
        local(TUE, 9),  # first response breached
        local(THU, 8, 30),
        local(FRI, 13, 15),
        local(NEXT_MON, 17),  # resolution breached
    ]


# --------------------------------------------------------------------------------------
# Meeting targets


def test_first_response_met_by_an_outbound_contact() -> None:
    story = Story.open(reported=local(MON, 9))
    story.contact(local(MON, 11), direction="inbound")  # the citizen calls again: no
    story.contact(local(MON, 15))
    for at in (local(MON, 15), local(WED, 12)):
        first = target(story.clock(at), "first_response")
        assert first.met_at == local(MON, 15)
        assert (first.state, first.level) == (SlaState.MET, 1)  # past the 50% warning
        assert first.elapsed == timedelta(hours=5)
        assert first.remaining == timedelta(hours=3)
    assert target(story.clock(local(MON, 14, 59)), "first_response").met_at is None


def test_first_response_met_late() -> None:
    story = Story.open(reported=local(MON, 9)).contact(local(TUE, 10))
    first = target(story.clock(local(TUE, 12)), "first_response")
    assert (first.state, first.level, first.met_at) == (SlaState.MET_LATE, 3, local(TUE, 10))
    assert first.remaining == timedelta(hours=-1)


def test_first_response_met_exactly_on_time() -> None:
    story = Story.open(reported=local(MON, 9)).contact(local(TUE, 9))
    first = target(story.clock(local(TUE, 9)), "first_response")
    assert (first.state, first.level) == (SlaState.MET, 2)


def test_first_response_from_the_case_field_alone() -> None:
    story = Story.open(reported=local(MON, 9))
    case = attrs.evolve(story.case, first_response_at=local(MON, 11))
    before = clock(case, story.events, PROFILE, at=local(MON, 10))
    after = clock(case, story.events, PROFILE, at=local(MON, 11))
    assert before is not None
    assert after is not None
    assert target(before, "first_response").state is SlaState.ON_TRACK
    assert target(after, "first_response").met_at == local(MON, 11)


def test_starting_work_is_a_first_response_and_resolving_meets_resolution() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.ASSIGNED, local(MON, 9, 30))  # assigning is not a response
    story.move(S.IN_PROGRESS, local(MON, 10))
    story.move(S.RESOLVED, local(WED, 10))
    c = story.clock(local(WED, 11))
    assert target(c, "first_response").met_at == local(MON, 10)
    resolution = target(c, "resolution")
    assert (resolution.state, resolution.met_at) == (SlaState.MET, local(WED, 10))
    assert c.next_change_at is None


def test_named_milestones_met_by_an_event_and_by_a_status() -> None:
    story = Story.open("permit", reported=local(MON, 9))
    c = story.clock(local(MON, 9))
    assert [t.name for t in c.targets] == ["intake_check", "review", "resolution"]
    assert all(t.warn_at == () for t in c.targets)  # warnings = []
    assert target(c, "review").due_at == local(MON, 14)  # 240 business minutes
    assert target(c, "resolution").due_at == local(MON, 10, 30)  # 90 calendar minutes
    story.move(S.ASSIGNED, local(TUE, 10))
    story.move(S.IN_PROGRESS, local(TUE, 11))
    c = story.clock(local(TUE, 12))
    assert target(c, "intake_check").state is SlaState.MET
    assert target(c, "review").state is SlaState.MET_LATE
    assert target(c, "resolution").state is SlaState.BREACHED
    assert target(c, "resolution").level == 1  # no warnings: breached is level 1


# --------------------------------------------------------------------------------------
# Pauses and cancellation


def test_pending_pauses_the_clock_and_resuming_restarts_it() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.ASSIGNED, local(MON, 10, 30))
    story.move(S.PENDING, local(MON, 11))
    c = story.clock(local(TUE, 10))
    assert c.paused
    assert c.next_change_at is None  # nothing happens by time alone while paused
    first = target(c, "first_response")
    assert first.state is SlaState.PAUSED
    assert first.paused == ((local(MON, 11), local(TUE, 10)),)
    assert first.elapsed == timedelta(hours=2)
    # Due as if resumed now: 6 hours left from Tuesday 10:00.
    assert first.due_at == local(TUE, 17)
    assert first.level == 0
    assert target(c, "resolution").state is SlaState.PAUSED

    story.move(S.IN_PROGRESS, local(TUE, 11))  # resumed: also the first response
    c = story.clock(local(TUE, 12))
    assert not c.paused
    first = target(c, "first_response")
    assert first.paused == ((local(MON, 11), local(TUE, 11)),)
    assert first.due_at == local(WED, 9)
    assert (first.state, first.met_at) == (SlaState.MET, local(TUE, 11))
    resolution = target(c, "resolution")
    assert resolution.paused == ((local(MON, 11), local(TUE, 11)),)
    assert resolution.elapsed == timedelta(hours=3)  # Monday 09-11, Tuesday 11-12
    # Days paused in part count in full: still due the next Monday.
    assert resolution.due_at == local(NEXT_MON, 17)


def test_working_days_paused_whole_are_skipped() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.ASSIGNED, local(MON, 10)).move(S.PENDING, local(MON, 11))
    story.move(S.IN_PROGRESS, local(THU, 11))
    resolution = target(story.clock(local(THU, 12)), "resolution")
    # Tuesday and Wednesday are paused whole: Thursday, Friday, Monday, Tuesday, Wednesday.
    assert resolution.due_at == local(22, 17)


def test_a_pause_on_a_calendar_time_target_moves_it_by_the_pause() -> None:
    story = Story.open("sewer", reported=local(MON, 10))
    story.move(S.ASSIGNED, local(MON, 11)).move(S.PENDING, local(MON, 12))
    story.move(S.IN_PROGRESS, local(MON, 18))
    resolution = target(story.clock(local(MON, 19)), "resolution")
    assert resolution.due_at == local(MON, 10) + timedelta(days=3, hours=6)
    assert resolution.elapsed == timedelta(hours=3)


def test_cancelling_cancels_what_is_not_met() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.CANCELLED, local(MON, 12, 30))
    c = story.clock(local(WED, 9))
    assert c.next_change_at is None
    for name in ("first_response", "resolution"):
        t = target(c, name)
        assert (t.state, t.met_at) == (SlaState.CANCELLED, None)
        assert t.elapsed == timedelta(hours=3)  # 09-12; the lunch hour is closed
    story = Story.open(reported=local(MON, 9)).contact(local(MON, 10))
    story.move(S.CANCELLED, local(MON, 11))
    c = story.clock(local(MON, 12))
    assert target(c, "first_response").state is SlaState.MET
    assert target(c, "resolution").state is SlaState.CANCELLED


# --------------------------------------------------------------------------------------
# Reset, priority change, reopen


def test_a_change_of_case_type_restarts_every_target() -> None:
    story = Story.open(reported=local(MON, 9), opened=local(MON, 9))
    story.move(S.ASSIGNED, local(MON, 10)).move(S.IN_PROGRESS, local(MON, 11))
    story.retype("sewer", local(TUE, 10))
    c = story.clock(local(TUE, 11))
    assert c.policy == "strict"
    first = target(c, "first_response")
    # Restarted at the change, not met by it (the case was already in progress).
    assert (first.started_at, first.met_at, first.state) == (
        local(TUE, 10),
        None,
        SlaState.ON_TRACK,
    )
    assert first.due_at == local(WED, 10)
    assert target(c, "update").due_at == local(WED, 10)  # 24 calendar hours
    assert target(c, "resolution").due_at == local(FRI, 10)  # 3 calendar days
    assert all(t.started_at == local(TUE, 10) for t in c.targets)


def test_a_policy_without_the_reset_condition_keeps_going() -> None:
    story = Story.open("sewer", reported=local(MON, 9), opened=local(MON, 9))
    story.retype("pothole", local(TUE, 10))  # standard does not list case_type_changed?
    c = story.clock(local(TUE, 11))
    # It does (the default reset_on is ["case_type_changed"]): both targets restart.
    assert target(c, "first_response").started_at == local(TUE, 10)
    no_reset = attrs.evolve(PROFILE.sla_policy("standard"), reset_on=[])
    profile = attrs.evolve(PROFILE, sla_policies={**PROFILE.sla_policies, "standard": no_reset})
    c = story.clock(local(TUE, 11), profile)
    assert target(c, "first_response").started_at == local(MON, 9)
    other_fields = Story.open(reported=local(MON, 9))
    other_fields._record(
        EventKind.UPDATED, local(MON, 10), other_fields.case, data={"fields": "title,tags"}
    )
    assert target(other_fields.clock(local(MON, 11)), "first_response").started_at == local(MON, 9)


def test_priority_change_replans_from_the_original_start() -> None:
    story = Story.open(reported=local(MON, 9))
    story.reprioritize(Priority.URGENT, local(MON, 12, 30))
    # Before the change the case was normal: its priority is walked back from now.
    before = story.clock(local(MON, 12))
    assert before.priority is Priority.NORMAL
    assert target(before, "first_response").due_at == local(TUE, 9)
    after = story.clock(local(MON, 12, 30))
    assert after.priority is Priority.URGENT
    first = target(after, "first_response")
    # One business hour from 09:00: due 10:00, already passed: breached.
    assert (first.started_at, first.due_at, first.state) == (
        local(MON, 9),
        local(MON, 10),
        SlaState.BREACHED,
    )
    resolution = target(after, "resolution")
    assert resolution.due_at == local(MON, 14)  # 4 business hours, over the lunch hour
    assert resolution.warn_at == (local(MON, 11), local(MON, 12))
    assert (resolution.state, resolution.level) == (SlaState.AT_RISK, 2)
    assert after.next_change_at == local(MON, 14)


def test_a_target_met_before_a_priority_change_keeps_its_verdict() -> None:
    story = Story.open(reported=local(MON, 9)).contact(local(MON, 10, 30))
    story.reprioritize(Priority.URGENT, local(MON, 12, 30))
    first = target(story.clock(local(MON, 13)), "first_response")
    # Under urgent it would be late (due 10:00); it was met while normal (due Tuesday).
    assert (first.state, first.due_at) == (SlaState.MET, local(TUE, 9))


def test_a_priority_may_change_the_calendar_and_lowering_it_relaxes_targets() -> None:
    story = Story.open(reported=local(MON, 9), priority=Priority.HIGH)
    c = story.clock(local(MON, 9))
    # High runs on the 24x7 calendar: resolution is 24 hours, and the first response
    # keeps its 8 hours, but around the clock too.
    assert target(c, "resolution").due_at == local(TUE, 9)
    assert target(c, "first_response").due_at == local(MON, 17)
    story.reprioritize(Priority.LOW, local(MON, 10))  # low has no overrides
    assert target(story.clock(local(MON, 10)), "resolution").due_at == local(NEXT_MON, 17)


def test_priority_change_can_reset_instead() -> None:
    policy = attrs.evolve(PROFILE.sla_policy("standard"), reset_on=["priority_changed"])
    profile = attrs.evolve(PROFILE, sla_policies={**PROFILE.sla_policies, "standard": policy})
    story = Story.open(reported=local(MON, 9)).reprioritize(Priority.URGENT, local(MON, 12, 30))
    first = target(story.clock(local(MON, 13), profile), "first_response")
    assert (first.started_at, first.due_at) == (local(MON, 12, 30), local(MON, 14))


def test_reopen_replans_resolution_and_keeps_the_first_response() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.IN_PROGRESS, local(MON, 10)).move(S.RESOLVED, local(TUE, 10))
    resolved = story.clock(local(TUE, 12))
    assert target(resolved, "resolution").state is SlaState.MET
    story.move(S.IN_PROGRESS, local(WED, 10))  # reopened
    assert story.events[-1].kind is EventKind.REOPENED
    c = story.clock(local(WED, 11))
    first = target(c, "first_response")
    assert (first.state, first.met_at) == (SlaState.MET, local(MON, 10))
    resolution = target(c, "resolution")
    assert (resolution.started_at, resolution.met_at, resolution.state) == (
        local(WED, 10),
        None,
        SlaState.ON_TRACK,
    )
    # A fresh five working days from the reopen.
    assert resolution.due_at == local(22, 17)
    # The clock at a moment before the reopen is unchanged by it.
    assert story.clock(local(TUE, 12)) == resolved


def test_reopen_restarts_everything_when_the_policy_resets_on_it() -> None:
    story = Story.open("sewer", reported=local(MON, 9))
    story.move(S.IN_PROGRESS, local(MON, 10)).move(S.RESOLVED, local(TUE, 10))
    story.move(S.IN_PROGRESS, local(WED, 10))
    c = story.clock(local(WED, 11))
    assert all(t.started_at == local(WED, 10) for t in c.targets)
    assert all(t.met_at is None for t in c.targets)  # the reopen itself meets nothing


def test_a_repeating_update_target() -> None:
    story = Story.open("sewer", reported=local(MON, 10))
    story.contact(local(MON, 15))
    c = story.clock(local(MON, 16))
    update = target(c, "update")
    assert (update.started_at, update.due_at) == (local(MON, 15), local(TUE, 15))
    assert update.warn_at == (local(MON, 21),)
    assert target(c, "first_response").met_at == local(MON, 15)
    assert target(story.clock(local(TUE, 16)), "update").state is SlaState.BREACHED
    story.contact(local(TUE, 17))
    update = target(story.clock(local(TUE, 18)), "update")
    assert (update.started_at, update.state) == (local(TUE, 17), SlaState.ON_TRACK)
    story.move(S.IN_PROGRESS, local(WED, 9)).move(S.RESOLVED, local(WED, 10))
    c = story.clock(local(WED, 11))
    assert target(c, "update").met_at == local(WED, 10)  # resolving is the last update
    assert c.next_change_at is None


# --------------------------------------------------------------------------------------
# Inputs


def test_no_policy_no_clock() -> None:
    story = Story.open("info", reported=local(MON, 9))
    assert clock(story.case, story.events, PROFILE, at=local(MON, 10)) is None
    assert policy_for(PROFILE, "info", Priority.NORMAL) is None
    assert policy_for(PROFILE, "no-such-type", Priority.NORMAL) is None


def test_the_agency_default_policy() -> None:
    agency = attrs.evolve(PROFILE.agency, default_sla_policy="permit")
    profile = attrs.evolve(PROFILE, agency=agency)
    default = policy_for(profile, "info", Priority.NORMAL)
    assert default is not None
    assert default.code == "permit"
    # Also for a case type the profile no longer has.
    story = Story.open("retired-type", reported=local(MON, 9))
    got = clock(story.case, story.events, profile, at=local(MON, 9))
    assert got is not None
    assert got.policy == "permit"


def test_policy_for_applies_the_priority() -> None:
    urgent = policy_for(PROFILE, "pothole", Priority.URGENT)
    assert urgent is not None
    assert [(t.name, t.unit, t.amount) for t in urgent.targets] == [
        ("first_response", SlaUnit.BUSINESS_HOURS, 1),
        ("resolution", SlaUnit.BUSINESS_HOURS, 4),
    ]
    assert urgent.priorities == {}
    high = policy_for(PROFILE, "pothole", Priority.HIGH)
    assert high is not None
    assert high.calendar == "always"
    assert [t.amount for t in high.targets] == [8, 24]


def test_events_are_replayed_in_time_order_and_after_at_ignored() -> None:
    story = Story.open(reported=local(MON, 9))
    story.move(S.ASSIGNED, local(MON, 10)).move(S.PENDING, local(MON, 11))
    story.move(S.IN_PROGRESS, local(TUE, 11)).move(S.RESOLVED, local(WED, 9))
    at = local(TUE, 10)
    expected = story.clock(at)
    shuffled = clock(story.case, list(reversed(story.events)), PROFILE, at=at)
    assert shuffled == expected
    assert expected.paused  # the resume after ``at`` did not happen yet


def test_bad_inputs() -> None:
    story = Story.open(reported=local(MON, 9))
    with pytest.raises(ValidationError, match="naive"):
        clock(story.case, story.events, PROFILE, at=datetime(2026, 4, 13, 12))
    stranger = CaseEvent(case_id=uuid.uuid4(), kind=EventKind.NOTE_ADDED, at=local(MON, 10))
    with pytest.raises(ValidationError, match=r"events\[1\]\.case_id"):
        clock(story.case, [*story.events, stranger], PROFILE, at=local(MON, 11))
    broken = attrs.evolve(PROFILE.sla_policy("standard"), calendar="gone")
    with pytest.raises(ValidationError, match="no calendar 'gone'"):
        attrs.evolve(PROFILE, sla_policies={**PROFILE.sla_policies, "standard": broken})


def test_an_unreadable_priority_change_is_skipped() -> None:
    story = Story.open(reported=local(MON, 9), priority=Priority.URGENT)
    story._record(EventKind.PRIORITY_CHANGED, local(MON, 10), story.case, data={"from": "extreme"})
    assert story.clock(local(MON, 9, 30)).priority is Priority.URGENT


def test_policy_objects_check_themselves() -> None:
    with pytest.raises(ValidationError, match="met_by"):
        SlaTarget(name="callback", unit="business_hours", amount=2)
    with pytest.raises(ValidationError, match="whole number of days"):
        SlaTarget(name="resolution", unit=SlaUnit.BUSINESS_DAYS, amount=1.5)
    with pytest.raises(ValidationError, match="repeat"):
        SlaTarget(name="resolution", unit="calendar_days", amount=3, repeat=True)
    with pytest.raises(ValidationError, match="not a unit"):
        SlaTarget(name="resolution", unit="fortnights", amount=3)
    ok = SlaTarget(name="resolution", unit="calendar_days", amount=3)
    assert (ok.met_by, ok.duration) == ("resolved", timedelta(days=3))
    with pytest.raises(ValidationError, match="increasing"):
        SlaPolicy(code="p", name="P", calendar="c", warnings=[0.75, 0.5], targets=[ok])
    with pytest.raises(ValidationError, match="at least one target"):
        SlaPolicy(code="p", name="P", calendar="c", targets=[])
    with pytest.raises(ValidationError, match="duplicate target"):
        SlaPolicy(code="p", name="P", calendar="c", targets=[ok, ok])


# --------------------------------------------------------------------------------------
# Properties: the clock is a pure function of (case, events, profile, at)

ACTIONS = (
    "assign",
    "work",
    "pend",
    "resume",
    "resolve",
    "reopen",
    "close",
    "cancel",
    "contact",
    "inbound",
    "priority",
    "retype",
)
_STATUS_ACTIONS = {
    "assign": S.ASSIGNED,
    "work": S.IN_PROGRESS,
    "pend": S.PENDING,
    "resume": S.IN_PROGRESS,
    "resolve": S.RESOLVED,
    "reopen": S.IN_PROGRESS,
    "close": S.CLOSED,
    "cancel": S.CANCELLED,
}

steps = st.lists(
    st.tuples(
        # The common moves more often, so that cases get worked, paused and resumed.
        st.sampled_from(ACTIONS) | st.sampled_from(("assign", "work", "pend", "resume")),
        st.integers(1, 24 * 60) | st.integers(1, 10 * 24 * 60),  # minutes since the last
        st.sampled_from(list(Priority)),
        st.sampled_from(["pothole", "sewer", "permit"]),
    ),
    max_size=12,
)


def _play(
    case_type: str,
    reported: datetime,
    lag: int,
    plan: Sequence[tuple[str, int, Priority, str]],
) -> Story:
    story = Story.open(case_type, reported=reported, opened=reported + timedelta(minutes=lag))
    at = reported + timedelta(minutes=lag)
    for action, delay, priority, other_type in plan:
        at += timedelta(minutes=delay)
        status = story.case.status
        if action in _STATUS_ACTIONS:
            to = _STATUS_ACTIONS[action]
            if to is not status and to in _allowed(status):
                story.move(to, at)
        elif action == "contact":
            story.contact(at)
        elif action == "inbound":
            story.contact(at, direction="inbound")
        elif action == "priority" and priority is not story.case.priority:
            story.reprioritize(priority, at)
        elif action == "retype" and other_type != story.case.case_type:
            story.retype(other_type, at)
    return story


def _allowed(status: CaseStatus) -> frozenset[CaseStatus]:
    from civiccrm.models import allowed_transitions

    return allowed_transitions(status)


def _signature(c: SlaClock) -> tuple[tuple[str, SlaState, int], ...]:
    return tuple((t.name, t.state, t.level) for t in c.targets)


histories = st.builds(
    _play,
    st.sampled_from(["pothole", "sewer", "permit"]),
    st.datetimes(
        min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(0, 3 * 24 * 60),
    steps,
)
# Where to look: near one of the story's events (before it, at it, after it), in
# minutes and seconds.
probes = st.tuples(st.integers(0, 30), st.integers(-3 * 60, 6 * 24 * 60), st.integers(0, 59))


def _probe(story: Story, probe: tuple[int, int, int]) -> datetime:
    index, minutes, seconds = probe
    base = story.events[index % len(story.events)].at
    return base + timedelta(minutes=minutes, seconds=seconds)


@settings(max_examples=120, deadline=None, database=None)
@given(histories, probes)
def test_same_inputs_same_clock(story: Story, probe: tuple[int, int, int]) -> None:
    at = _probe(story, probe)
    first = story.clock(at)
    assert story.clock(at) == first
    assert clock(story.case, list(reversed(story.events)), PROFILE, at=at) == first
    again = parse_profile(PROFILE_TOML)  # a policy loaded again is the same policy
    assert story.clock(at, again) == first


@settings(max_examples=120, deadline=None, database=None)
@given(histories, probes)
def test_events_after_at_change_nothing(story: Story, probe: tuple[int, int, int]) -> None:
    at = _probe(story, probe)
    then, known = story.as_of(at)
    assert clock(then, story.events, PROFILE, at=at) == clock(then, known, PROFILE, at=at)


@settings(max_examples=120, deadline=None, database=None)
@given(histories, probes)
def test_recomputing_a_past_moment_gives_what_was_computed_then(
    story: Story, probe: tuple[int, int, int]
) -> None:
    # The case's current version and full history, asked about a past moment, say what
    # the case as it was then and its history up to then say. (Not across a change of
    # case type after that moment: the policy is the case type's, see the docs.)
    at = _probe(story, probe)
    then, known = story.as_of(at)
    if then.case_type != story.case.case_type:
        return
    assert story.clock(at) == clock(then, known, PROFILE, at=at)


@settings(max_examples=120, deadline=None, database=None)
@given(histories, probes, st.floats(0, 1))
def test_next_change_at_is_the_next_change(
    story: Story, probe: tuple[int, int, int], fraction: float
) -> None:
    at = _probe(story, probe)
    then, known = story.as_of(at)  # nothing happens after ``at``

    def look(when: datetime) -> SlaClock:
        got = clock(then, known, PROFILE, at=when)
        assert got is not None
        return got

    now = look(at)
    nxt = now.next_change_at
    if nxt is None:
        assert _signature(look(at + timedelta(days=400))) == _signature(now)
        return
    assert nxt > at
    pending = {w for t in now.targets for w in (*t.warn_at, t.due_at)}
    assert nxt in pending
    step = timedelta(microseconds=1)
    between = at + (nxt - step - at) * fraction
    assert _signature(look(between)) == _signature(now)
    assert _signature(look(nxt - step)) == _signature(now)
    assert _signature(look(nxt)) != _signature(now)


@settings(max_examples=80, deadline=None, database=None)
@given(histories, probes)
def test_elapsed_and_remaining_add_up(story: Story, probe: tuple[int, int, int]) -> None:
    at = _probe(story, probe)
    for t in story.clock(at).targets:
        assert t.elapsed >= timedelta(0)
        assert list(t.warn_at) == sorted(t.warn_at)
        assert all(w <= t.due_at for w in t.warn_at)
        assert all(a < b for a, b in t.paused)
        if t.state is SlaState.BREACHED:
            assert t.remaining <= timedelta(0)
        if t.state in (SlaState.ON_TRACK, SlaState.AT_RISK, SlaState.PAUSED):
            assert t.remaining > timedelta(0)
            assert t.met_at is None


# --------------------------------------------------------------------------------------
# Calendars from profiles: US federal (observed), Illinois, England


@pytest.fixture(scope="module")
def springfield() -> Profile:
    return load_profile(springfield_path())


def _open(springfield: Profile, case_type: str, reported: datetime, **kw: object) -> SlaClock:
    story = Story.open(case_type, reported=reported, **kw)  # type: ignore[arg-type]
    return story.clock(reported, springfield)


def test_springfield_pothole_over_the_observed_independence_day(springfield: Profile) -> None:
    # July 4, 2026 is a Saturday: the federal holiday is observed on Friday July 3.
    reported = local(2, 10, month=7)  # Thursday
    c = _open(springfield, "001", reported)
    assert c.policy == "street-repair"
    assert target(c, "first_response").due_at == local(6, 17, month=7)  # Monday
    urgent = _open(springfield, "001", reported, priority=Priority.URGENT)
    # Urgent potholes run around the clock: holidays do not count.
    assert target(urgent, "first_response").due_at == reported + timedelta(hours=2)
    assert target(urgent, "resolution").due_at == reported + timedelta(hours=24)


def test_springfield_state_and_federal_calendars(springfield: Profile) -> None:
    # Lincoln's Birthday (Thursday 12 February 2026) is an Illinois holiday, not a
    # federal one; Washington's Birthday (Monday 16 February) is both.
    reported = local(11, 10, month=2)  # Wednesday
    vaccination = _open(springfield, "024", reported)  # standard: city-hall calendar
    assert vaccination.policy == "standard"
    assert target(vaccination, "first_response").due_at == local(17, 17, month=2)
    snap = _open(springfield, "019", reported)  # benefits: federal calendar
    assert snap.policy == "benefits"
    assert target(snap, "first_response").due_at == local(13, 17, month=2)
    assert target(snap, "resolution").due_at == reported + timedelta(days=30)


def test_springfield_emergencies_run_around_the_clock(springfield: Profile) -> None:
    reported = local(25, 23, month=12)  # Christmas night
    c = _open(springfield, "010", reported, priority=Priority.URGENT)  # water main break
    assert c.policy == "emergency"
    assert target(c, "first_response").due_at == reported + timedelta(minutes=30)
    assert [len(t.warn_at) for t in c.targets] == [3, 3]  # 50%, 75% and 90%


def test_every_springfield_case_type_has_a_clock(springfield: Profile) -> None:
    reported = local(MON, 9)
    for ct in springfield.case_types:
        for priority in Priority:
            c = _open(springfield, ct.code, reported, priority=priority)
            assert c.policy == (ct.sla_policy or springfield.agency.default_sla_policy)
            assert c.targets
            assert all(t.due_at > reported for t in c.targets)


UK_PROFILE = """
# A small English council, to show a UK calendar at work: bank holidays of England
# from the holidays package, office hours in Europe/London.
[agency]
code = "ashby-vale"
name = "Ashby Vale Borough Council"
default_region = "GB"
time_zone = "Europe/London"
locale = "en-GB"
default_sla_policy = "council"

[calendars.council-office]
name = "Council offices"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"], wed = ["09:00-17:00"], thu = ["09:00-17:00"], fri = ["09:00-16:30"] }
holidays = { country = "GB", subdivision = "ENG" }

[sla_policies.council]
name = "Council service standard"
calendar = "council-office"
targets = [
  { name = "first_response", business_hours = 4 },
  { name = "resolution", business_days = 10 },
]
"""


def test_an_english_calendar_from_a_profile() -> None:
    profile = parse_profile(UK_PROFILE)
    office = profile.calendar("council-office")
    assert office.zone == "Europe/London"

    def london(month: int, day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)

    # The Early May bank holiday: Monday 4 May 2026.
    assert not office.is_open(london(5, 4, 10))
    assert office.is_open(london(5, 5, 10))
    # Friday closes at 16:30: 30 minutes on Friday, then Tuesday from 09:00 (BST).
    assert office.add(london(5, 1, 16), timedelta(hours=2)) == london(5, 5, 10, 30)
    # Boxing Day 2026 is a Saturday: observed on Monday 28 December.
    assert not office.is_open(london(12, 28, 10))
    story = Story.open("anything", reported=london(5, 1, 16))
    c = story.clock(london(5, 1, 16), profile)
    assert c.policy == "council"
    assert target(c, "first_response").due_at == london(5, 5, 12, 30)


def test_unknown_calendar_in_a_hand_made_profile() -> None:
    with pytest.raises(NotFoundError):
        PROFILE.calendar("nope")
    with pytest.raises(NotFoundError):
        PROFILE.sla_policy("nope")
