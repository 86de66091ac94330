"""Routing, assignment, automations and duplicate detection through the facade."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import hookimpl
from civiccrm._clock import FixedClock
from civiccrm._records import OPEN_STATUSES
from civiccrm.adapters import Filter, Query
from civiccrm.crm import CRM, Actor
from civiccrm.errors import AccessDeniedError, ValidationError
from civiccrm.models import (
    Agent,
    Case,
    CaseStatus,
    Channel,
    Citizen,
    Direction,
    EventKind,
    Location,
    Priority,
)
from civiccrm.profile import load_profile, parse_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
# Tuesday 10 March 2026, 10:00 in Springfield (City Hall open).
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
DOWNTOWN = (39.80, -89.65)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as session:
        yield session


def _agent(crm: CRM, username: str, queue: str, **kw: Any) -> Agent:
    return crm.agents.create(
        Agent(username=username, display_name=username.title(), queues=(queue,), **kw)
    )


def _wires(crm: CRM, **kw: Any) -> Case:
    return crm.cases.open(
        "002", attributes={"problem": "exposed_wires", "pole_number": "P-1"}, **kw
    )


def _events(crm: CRM, case: Case, kind: EventKind) -> list[Any]:
    return [e for e in crm.cases.events(case) if e.kind is kind]


# --- routing on open ------------------------------------------------------------------


def test_open_applies_the_matching_rule_and_explains_it(crm: CRM) -> None:
    _agent(crm, "ana", "pw-traffic", skills=("electrical",))
    case = _wires(crm)
    assert case.priority is Priority.URGENT
    assert case.tags == ("hazard",)
    assert case.required_skills == ("electrical",)
    (routed,) = _events(crm, case, EventKind.ROUTED)
    assert routed.data["changed"] == "priority,required_skills,tags"
    assert routed.note is not None
    assert "exposed-wires" in routed.note
    # The priority change is in the history too, so the SLA clock follows it.
    (changed,) = _events(crm, case, EventKind.PRIORITY_CHANGED)
    assert changed.data == {"from": "normal", "to": "urgent", "by": "routing"}


def test_open_assigns_an_agent_with_the_required_skill(crm: CRM) -> None:
    _agent(crm, "bob", "pw-traffic")
    ana = _agent(crm, "ana", "pw-traffic", skills=("electrical",))
    case = _wires(crm)
    assert case.assignee == ana.id
    assert case.status is CaseStatus.ASSIGNED
    (assigned,) = _events(crm, case, EventKind.ASSIGNED)
    assert assigned.data["assignee"] == str(ana.id)
    text = crm.routing.explain(case)
    assert "bob" in text
    assert "lacks skill electrical" in text
    assert "exposed-wires" in text


def test_no_eligible_agent_leaves_the_case_in_its_queue_with_the_reason(crm: CRM) -> None:
    _agent(crm, "bob", "pw-traffic")  # no electrical skill
    case = _wires(crm)
    assert case.assignee is None
    assert case.status is CaseStatus.NEW
    assert case.queue == "pw-traffic"
    (waiting,) = _events(crm, case, EventKind.WAITING)
    assert "reason" not in waiting.data
    assert waiting.note is not None
    assert "lacks skill electrical" in crm.routing.explain(case)


def test_capacity_is_never_exceeded_and_waiting_cases_are_assigned_later(crm: CRM) -> None:
    ana = _agent(crm, "ana", "as-field", capacity=1)
    first = crm.cases.open("035")
    second = crm.cases.open("035")
    assert first.assignee == ana.id
    assert second.assignee is None
    assert "capacity" in crm.routing.explain(second)
    crm.cases.transition(first.id, CaseStatus.RESOLVED)
    report = crm.routing.route_many(list(crm.routing.waiting(queue="as-field")), progress=False)
    assert (report.routed, report.assigned, report.waiting) == (1, 1, 0)
    assert crm.cases.get(second.id).assignee == ana.id


def test_round_robin_takes_turns_and_the_pointer_survives_sessions(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'rr.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        for name in ("ana", "bob", "cy"):
            _agent(crm, name, "as-field")
        got = [crm.cases.open("035").assignee for _ in range(2)]
        names = {a.id: a.username for a in crm.agents.list().items}
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        got.append(crm.cases.open("035").assignee)
        got.append(crm.cases.open("035").assignee)
    assert [names[g] for g in got if g is not None] == ["ana", "bob", "cy", "ana"]


def test_supervisors_out_of_rotation_are_never_picked(crm: CRM) -> None:
    _agent(crm, "boss", "as-field", role="supervisor", in_rotation=False)
    case = crm.cases.open("035")
    assert case.assignee is None
    assert "rotation" in crm.routing.explain(case)


def test_explicit_queue_and_priority_are_kept(crm: CRM) -> None:
    case = _wires(crm, queue="pw-streets", priority=Priority.LOW)
    assert case.queue == "pw-streets"
    assert case.priority is Priority.LOW
    (routed,) = _events(crm, case, EventKind.ROUTED)
    assert routed.data["kept"] == "priority"
    assert case.tags == ("hazard",)


def test_requester_facts_route_without_leaking_them_into_event_data(crm: CRM) -> None:
    person = crm.citizens.create(
        Citizen(given_name="Vera", family_name="Lane", vulnerable=True, preferred_language="es")
    )
    case = crm.cases.open(
        "019", requester=person, attributes={"household_size": 2, "monthly_income": 900}
    )
    assert "safeguarding" in case.tags
    assert case.priority is Priority.HIGH
    # Event data is stored in clear: no rule name, tag, skill, reason or language.
    for event in crm.cases.events(case):
        assert "rule" not in event.data
        assert "reason" not in event.data
        values = [str(v) for v in event.data.values()]
        assert "es" not in values
        assert not [v for v in values if "vulnerable" in v or "safeguarding" in v]
    assert "vulnerable-resident" in crm.routing.explain(case)


def test_district_and_keyword_rules(crm: CRM) -> None:
    downtown = crm.cases.open(
        "001",
        location=Location(latitude=DOWNTOWN[0] + 0.004, longitude=DOWNTOWN[1]),
        attributes={"size": "small", "position": "curb"},
    )
    assert "downtown" in downtown.tags
    school = crm.cases.open(
        "008",
        description="Children walk past here on the way to school.",
        attributes={"damage_type": "raised"},
        location=Location(latitude=39.71, longitude=-89.74),
    )
    assert "school-route" in school.tags


def test_after_hours_rule_uses_the_calendar(crm: CRM, clock: FixedClock) -> None:
    clock.set(datetime(2026, 3, 10, 4, 0, tzinfo=UTC))  # 23:00 the night before
    night = crm.cases.open("010")
    assert "after-hours" in night.tags
    assert night.required_skills == ("on-call",)
    clock.set(T0)
    day = crm.cases.open("010")
    assert "after-hours" not in day.tags


def test_route_on_open_can_be_switched_off(tmp_path: Path, clock: FixedClock) -> None:
    profile = attrs.evolve(
        SPRINGFIELD, routing=attrs.evolve(SPRINGFIELD.routing, route_on_open=False)
    )
    with civiccrm.open("memory://", profile=profile, clock=clock) as crm:
        case = _wires(crm)
        assert case.priority is Priority.NORMAL
        assert not _events(crm, case, EventKind.ROUTED)


def test_retype_routes_again(crm: CRM) -> None:
    _agent(crm, "tech", "pw-traffic", skills=("electrical",))
    case = crm.cases.open("001", attributes={"size": "small", "position": "curb"})
    assert case.queue == "pw-streets"
    moved = crm.cases.retype(case.id, "002", attributes={"problem": "exposed_wires"})
    assert moved.case_type == "002"
    assert moved.queue == "pw-traffic"
    assert moved.priority is Priority.URGENT
    assert moved.assignee is not None
    updated = _events(crm, moved, EventKind.UPDATED)
    assert updated[-1].data["from"] == "001"
    assert updated[-1].data["to"] == "002"
    with pytest.raises(ValidationError, match="case_type"):
        crm.cases.retype(moved.id, "nope")


def test_manual_assign_refuses_an_agent_at_capacity_unless_overridden(crm: CRM) -> None:
    ana = _agent(crm, "ana", "as-field", capacity=1)
    crm.cases.open("035")
    assert crm.storage.count("case", group_by="assignee").get(str(ana.id)) == 1
    assert crm.cases.find(assignee=ana.id).items
    other = crm.cases.open("035")
    assert other.assignee is None
    with pytest.raises(ValidationError, match="at capacity"):
        crm.cases.assign(other.id, ana)
    forced = crm.cases.assign(other.id, ana, over_capacity=True)
    assert forced.assignee == ana.id
    assert _events(crm, forced, EventKind.ASSIGNED)[-1].data["over_capacity"] is True


def test_observers_are_told_of_routing(crm: CRM) -> None:
    seen: list[tuple[str | None, Any]] = []

    class Watcher:
        @hookimpl
        def civiccrm_case_routed(
            self, crm: CRM, case: Case, decision: Any, assignment: Any
        ) -> None:
            seen.append((decision.rule if decision else None, assignment))

    crm.plugins.register(Watcher())
    _wires(crm)
    assert seen
    assert seen[0][0] == "exposed-wires"


# --- acknowledgements and automations -------------------------------------------------


def test_web_requests_are_acknowledged_without_counting_as_first_response(crm: CRM) -> None:
    person = crm.citizens.create(Citizen(given_name="Ada", family_name="Byron"))
    case = crm.cases.open("035", requester=person, channel=Channel.WEB, reference="SR-1")
    (ack,) = _events(crm, case, EventKind.ACKNOWLEDGED)
    (message,) = crm.interactions.for_case(case)
    assert str(message.id) == ack.data["interaction"]
    assert message.direction is Direction.OUTBOUND
    assert "SR-1" in (message.subject or "")
    assert crm.cases.get(case.id).first_response_at is None
    phoned = crm.cases.open("035", requester=person, channel=Channel.PHONE)
    assert not _events(crm, phoned, EventKind.ACKNOWLEDGED)


def test_auto_close_after_five_business_days_once(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("035")
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    # Resolved Tuesday 10:00; five business days run to the close of business (17:00)
    # the next Tuesday.
    clock.set(datetime(2026, 3, 17, 21, 59, tzinfo=UTC))
    assert crm.automations.run().closed == 0
    clock.set(datetime(2026, 3, 17, 22, 0, tzinfo=UTC))
    assert crm.automations.run().closed == 1
    assert crm.cases.get(case.id).status is CaseStatus.CLOSED
    assert crm.automations.run().closed == 0


def test_reopened_cases_are_not_auto_closed_early(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("035")
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    clock.advance(days=4)
    crm.cases.reopen(case.id)
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    clock.advance(days=4)
    assert crm.automations.run().closed == 0


def test_pending_reminder_once_per_spell(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("035")
    crm.cases.transition(case.id, CaseStatus.IN_PROGRESS)
    crm.cases.transition(case.id, CaseStatus.PENDING)
    clock.advance(days=13)  # 9 business days
    assert crm.automations.run().reminded == 0
    clock.advance(days=2)
    assert crm.automations.run().reminded == 1
    assert crm.automations.run().reminded == 0
    (reminder,) = _events(crm, case, EventKind.REMINDED)
    assert reminder.data["automation"] == "remind_pending"


# --- duplicates -----------------------------------------------------------------------


def _pothole(crm: CRM, lat: float, lon: float, **kw: Any) -> Case:
    return crm.cases.open(
        "001",
        location=Location(latitude=lat, longitude=lon),
        attributes={"size": "small", "position": "curb"},
        **kw,
    )


def test_a_nearby_open_report_is_proposed_as_the_parent(crm: CRM, clock: FixedClock) -> None:
    first = _pothole(crm, 39.75, -89.70)
    clock.advance(hours=5)
    second = _pothole(crm, 39.7502, -89.70)  # about 22 m north
    (proposed,) = _events(crm, second, EventKind.DUPLICATE_PROPOSED)
    assert proposed.data["candidate"] == str(first.id)
    assert 20 < float(str(proposed.data["distance_m"])) < 25
    (found,) = crm.cases.duplicates(second)
    assert found.case_id == first.id
    assert found.hours_apart == pytest.approx(5)
    far = _pothole(crm, 39.7510, -89.70)  # about 110 m: too far
    assert not _events(crm, far, EventKind.DUPLICATE_PROPOSED)
    clock.advance(days=8)
    late = _pothole(crm, 39.75, -89.70)  # same place, outside the 168 h window
    assert not _events(crm, late, EventKind.DUPLICATE_PROPOSED)


def test_other_types_and_closed_cases_are_not_duplicates(crm: CRM) -> None:
    first = _pothole(crm, 39.75, -89.70)
    other = crm.cases.open(
        "008",
        location=Location(latitude=39.75, longitude=-89.70),
        attributes={"damage_type": "raised"},
    )
    assert not crm.cases.duplicates(other)
    crm.cases.transition(first.id, CaseStatus.CANCELLED)
    assert not crm.cases.duplicates(_pothole(crm, 39.75, -89.70))


def test_accepted_duplicates_follow_their_parent(crm: CRM) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="One"))
    ben = crm.citizens.create(Citizen(given_name="Ben", family_name="Two"))
    parent = _pothole(crm, 39.75, -89.70, requester=ana)
    child = _pothole(crm, 39.75, -89.70, requester=ben)
    linked = crm.cases.accept_duplicate(child.id, parent.id)
    assert linked.duplicate_of == parent.id
    assert [r.id for r in crm.cases.requesters(parent.id)] == [ana.id, ben.id]
    crm.cases.transition(parent.id, CaseStatus.RESOLVED, resolution_code="repaired")
    follower = crm.cases.get(child.id)
    assert follower.status is CaseStatus.RESOLVED
    assert follower.resolution_code == "repaired"
    assert _events(crm, follower, EventKind.STATUS_CHANGED)[-1].data["follows"] == str(parent.id)
    crm.cases.reopen(parent.id)
    assert crm.cases.get(child.id).status is CaseStatus.IN_PROGRESS
    crm.cases.transition(parent.id, CaseStatus.RESOLVED)
    crm.cases.transition(parent.id, CaseStatus.CLOSED)
    assert crm.cases.get(child.id).status is CaseStatus.CLOSED


def test_accepting_a_duplicate_of_a_resolved_case_resolves_it(crm: CRM) -> None:
    parent = _pothole(crm, 39.75, -89.70)
    crm.cases.transition(parent.id, CaseStatus.RESOLVED)
    child = crm.cases.accept_duplicate(_pothole(crm, 39.75, -89.70).id, parent.id)
    assert child.status is CaseStatus.RESOLVED


def test_accept_duplicate_refuses_what_cannot_be_the_same(crm: CRM) -> None:
    parent = _pothole(crm, 39.75, -89.70)
    other = crm.cases.open(
        "008",
        location=Location(latitude=39.75, longitude=-89.70),
        attributes={"damage_type": "raised"},
    )
    with pytest.raises(ValidationError, match="case type"):
        crm.cases.accept_duplicate(other.id, parent.id)
    with pytest.raises(ValidationError, match="itself"):
        crm.cases.accept_duplicate(parent.id, parent.id)
    for missing in ("not-an-id", uuid.uuid4()):
        with pytest.raises(ValidationError, match="duplicate_of: no case"):
            crm.cases.accept_duplicate(parent.id, missing)
    child = _pothole(crm, 39.75, -89.70)
    crm.cases.accept_duplicate(child.id, parent.id)
    with pytest.raises(ValidationError, match="is itself a duplicate"):
        crm.cases.accept_duplicate(_pothole(crm, 39.75, -89.70).id, child.id)


def test_the_grid_cell_column_is_a_blind_index(tmp_path: Path, clock: FixedClock) -> None:
    import sqlite3

    path = tmp_path / "g.db"
    with civiccrm.open(f"sqlite:///{path}", profile=SPRINGFIELD, clock=clock) as crm:
        case = _pothole(crm, 39.75, -89.70)
    with sqlite3.connect(path) as db:
        (cell,) = db.execute(
            "SELECT geo_cell FROM rec_case WHERE id = ?", (str(case.id),)
        ).fetchone()
    assert cell
    assert "001" not in cell
    assert "|" not in cell


# --- bulk import and the demo ---------------------------------------------------------


def test_bulk_import_routes_each_case_once(crm: CRM) -> None:
    cases = [
        Case(
            case_type="002",
            attributes={"problem": "exposed_wires"},
            external_ids={"legacy": f"L-{n}"},
            opened_at=T0 - timedelta(days=n),
        )
        for n in range(1, 4)
    ]
    first = crm.cases.bulk_import(cases, route=True)
    assert first.inserted == 3
    again = crm.cases.bulk_import(cases, route=True)
    assert again.inserted == 0
    assert again.updated == 0
    for n in range(1, 4):
        stored = crm.cases.find_by_external_id("legacy", f"L-{n}")
        assert stored is not None
        assert stored.priority is Priority.URGENT
        routed = _events(crm, stored, EventKind.ROUTED)
        assert len(routed) == 1
        assert routed[0].note
        assert "exposed-wires" in routed[0].note


def test_the_demo_routes_every_case_with_an_explanation(tmp_path: Path) -> None:
    from civiccrm._demo import build_demo

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        build_demo(crm, cases=300, seed=7, as_of=T0)
        routed = {
            r.columns["case_id"]
            for r in crm.storage.stream(
                Query(
                    "case_event",
                    (Filter("kind", "eq", "routed"),),
                    limit=None,
                    columns=("case_id",),
                )
            )
        }
        assert len(routed) == 300
        some = crm.cases.find(limit=20).items
        for case in some:
            assert "won" in crm.routing.explain(case) or "no rule" in crm.routing.explain(case)


def test_role_without_assign_may_not_route(tmp_path: Path, clock: FixedClock) -> None:
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=clock) as crm:
        case = crm.cases.open("035")
    with (
        civiccrm.open(
            "memory://",
            profile=SPRINGFIELD,
            clock=clock,
            actor=Actor("ann", uuid.uuid4(), "analyst"),
            purpose="statistics",
        ) as analyst,
        pytest.raises(AccessDeniedError),
    ):
        analyst.routing.route(case.id)


def test_profile_warns_of_rules_that_can_never_fire() -> None:
    text = springfield_path().read_text(encoding="utf-8")
    text = text.replace(
        'districts = "springfield-districts.geojson"',
        f'districts = "{springfield_path().parent / "springfield-districts.geojson"}"',
    )
    text += """
[[routing.rules]]
name = "wires-again"
when.case_type = ["002"]
when.attributes = { problem = "exposed_wires" }
when.channel = ["phone"]
then.priority = "high"
"""
    profile = parse_profile(text)
    assert any("wires-again" in w and "exposed-wires" in w for w in profile.routing.warnings)


# --- capacity through the facade --------------------------------------------------------

_AGENT_SPECS = st.lists(
    st.tuples(
        st.sampled_from(["as-field", "as-shelter"]),
        st.none() | st.integers(0, 3),
        st.booleans(),
    ),
    min_size=1,
    max_size=4,
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.sampled_from(["035", "036"])),
        st.tuples(st.just("close"), st.integers(0, 50)),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(specs=_AGENT_SPECS, steps=_STEPS)
def test_no_agent_ever_exceeds_capacity_through_the_facade(
    specs: list[tuple[str, int | None, bool]], steps: list[tuple[str, Any]]
) -> None:
    """
    Whatever the agents and the order cases arrive and close in: no agent holds more
    open cases than their capacity, and a case is left waiting only when no agent of
    its queue in the rotation had room at that moment.
    """
    pet = {"species": "dog", "last_seen": "2026-03-09T10:00:00-05:00", "pet_description": "Rex"}
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        agents = [
            crm.agents.create(
                Agent(
                    username=f"a{i}",
                    display_name=f"A {i}",
                    queues=(queue,),
                    capacity=capacity,
                    in_rotation=rotation,
                )
            )
            for i, (queue, capacity, rotation) in enumerate(specs)
        ]
        opened: list[Case] = []
        for step, value in steps:
            if step == "open":
                before = _loads(crm)
                case = crm.cases.open(value, attributes=pet if value == "036" else None)
                opened.append(case)
                room = [
                    a
                    for a in agents
                    if case.queue in a.queues
                    and a.in_rotation
                    and (a.capacity is None or before.get(a.id, 0) < a.capacity)
                ]
                assert (case.assignee is not None) == bool(room)
            elif opened:
                target = opened[value % len(opened)]
                if crm.cases.get(target.id).is_open:
                    crm.cases.transition(target.id, CaseStatus.CANCELLED)
            loads = _loads(crm)
            for a in agents:
                if a.capacity is not None:
                    assert loads.get(a.id, 0) <= a.capacity


def _loads(crm: CRM) -> dict[uuid.UUID, int]:
    counts = crm.storage.count(
        "case", (Filter("status", "in", OPEN_STATUSES),), group_by="assignee"
    )
    return {uuid.UUID(str(k)): v for k, v in counts.items() if k is not None}


def test_concurrent_openings_never_overfill_an_agent(tmp_path: Path) -> None:
    """Threads opening cases at once on one SQLite file: capacity still holds."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        for name in ("ana", "bob"):
            _agent(crm, name, "as-field", capacity=5)

        def work(_: int) -> list[uuid.UUID | None]:
            return [crm.cases.open("035").assignee for _ in range(8)]

        with ThreadPoolExecutor(4) as pool:
            got = [a for batch in pool.map(work, range(4)) for a in batch]
        assert sum(a is not None for a in got) == 10
        assert sorted(_loads(crm).values()) == [5, 5]
