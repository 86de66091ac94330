"""The escalation sweep: exactly the warnings and breaches due, once, from an index."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import civiccrm
from civiccrm import CRM, FixedClock
from civiccrm._workload import WorkloadGenerator
from civiccrm.models import Case, CaseStatus, EventKind
from civiccrm.profile import load_profile, springfield_path
from tests.profiles import without_automation

PROFILE = without_automation(load_profile(springfield_path()))
T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
EMERGENCY = "009"  # the emergency policy: 24x7; first response 1 h (warnings 50/75/90%)


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @civiccrm.hookimpl
    def civiccrm_sla_warning(self, crm: CRM, case: Case, target: str, event: object) -> None:
        self.events.append(("warning", target))

    @civiccrm.hookimpl
    def civiccrm_sla_breached(self, crm: CRM, case: Case, target: str, event: object) -> None:
        self.events.append(("breach", target))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[CRM, FixedClock, Seen, list[Case]]]:
    clock = FixedClock(T0)
    seen = Seen()
    with civiccrm.open(
        f"sqlite:///{tmp_path / 'sla.db'}", profile=PROFILE, clock=clock, plugins=[seen]
    ) as crm:
        gen = WorkloadGenerator(PROFILE, seed=1, now=T0)
        answers = gen.form(PROFILE.case_type(EMERGENCY))
        with crm.transaction():
            cases = [crm.cases.open(EMERGENCY, attributes=answers) for _ in range(1000)]
        yield crm, clock, seen, cases


def _sla_events(crm: CRM) -> Counter[tuple[str, str, int]]:
    out: Counter[tuple[str, str, int]] = Counter()
    for kind in ("sla_warning", "sla_breach"):
        for record in crm.storage.stream(
            civiccrm.adapters.Query("case_event", (civiccrm.adapters.Filter("kind", "eq", kind),))
        ):
            event = crm._from_record(crm._kind(civiccrm.models.CaseEvent), record)
            out[(kind, str(event.data["target"]), int(event.data["level"]))] += 1  # type: ignore[arg-type]
    return out


def test_the_sweep_records_each_threshold_once(
    world: tuple[CRM, FixedClock, Seen, list[Case]],
) -> None:
    crm, _, seen, cases = world
    first = crm.sla.clock(cases[0])
    assert first is not None
    response = first.target("first_response")
    assert response is not None
    assert response.due_at == T0 + timedelta(hours=1)
    assert crm.cases.get(cases[0].id).sla_check_at == T0 + timedelta(minutes=30)

    # Nothing due yet: nothing read, nothing recorded.
    assert crm.sla.sweep(now=T0 + timedelta(minutes=20)).checked == 0
    # The first warning (50% of the first response).
    report = crm.sla.sweep(now=T0 + timedelta(minutes=35))
    assert (report.checked, report.warnings, report.breaches) == (1000, 1000, 0)
    assert crm.sla.sweep(now=T0 + timedelta(minutes=35)).checked == 0  # idempotent
    # 75% and 90%.
    report = crm.sla.sweep(now=T0 + timedelta(minutes=55))
    assert (report.warnings, report.breaches) == (2000, 0)
    # 1,000 newly breached cases: exactly 1,000 events.
    before = sum(_sla_events(crm).values())
    report = crm.sla.sweep(now=T0 + timedelta(minutes=61))
    assert (report.checked, report.warnings, report.breaches) == (1000, 0, 1000)
    assert sum(_sla_events(crm).values()) - before == 1000
    assert crm.sla.sweep(now=T0 + timedelta(minutes=61)).checked == 0
    assert _sla_events(crm) == Counter(
        {
            ("sla_warning", "first_response", 1): 1000,
            ("sla_warning", "first_response", 2): 1000,
            ("sla_warning", "first_response", 3): 1000,
            ("sla_breach", "first_response", 4): 1000,
        }
    )
    assert Counter(seen.events) == Counter(
        {("warning", "first_response"): 3000, ("breach", "first_response"): 1000}
    )
    # The case's own clock agrees.
    late = crm.sla.clock(cases[0], at=T0 + timedelta(minutes=61))
    assert late is not None
    target = late.target("first_response")
    assert target is not None
    assert target.state.value == "breached"


def test_met_and_paused_cases_are_not_swept(
    world: tuple[CRM, FixedClock, Seen, list[Case]],
) -> None:
    crm, clock, _, cases = world
    clock.advance(minutes=10)
    crm.cases.transition(cases[0], CaseStatus.CANCELLED)
    assert crm.cases.get(cases[0].id).sla_check_at is None
    report = crm.sla.sweep(now=T0 + timedelta(minutes=35))
    assert report.checked == 999


def test_two_sweeps_at_once_record_nothing_twice(
    world: tuple[CRM, FixedClock, Seen, list[Case]],
) -> None:
    crm, _, _, _ = world
    now = T0 + timedelta(minutes=61)
    reports = []

    def run() -> None:
        reports.append(crm.sla.sweep(now=now))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.breaches for r in reports) == 1000
    counts = _sla_events(crm)
    assert counts[("sla_breach", "first_response", 4)] == 1000
    assert all(n == 1000 for n in counts.values())


def test_the_sweep_query_uses_the_partial_index(
    world: tuple[CRM, FixedClock, Seen, list[Case]], tmp_path: Path
) -> None:
    crm, _, _, _ = world
    seen: list[str] = []
    conn = crm.storage._state().conn  # type: ignore[attr-defined]
    conn.set_trace_callback(seen.append)
    try:
        crm.sla.sweep(now=T0)
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in seen if "sla_check_at" in s and s.lstrip().upper().startswith("SELECT")]
    assert selects
    raw = sqlite3.connect(tmp_path / "sla.db")
    try:
        plan = " ".join(
            str(r[3]) for r in raw.execute("EXPLAIN QUERY PLAN " + selects[0].replace("?", "0"))
        )
    finally:
        raw.close()
    assert "rec_case__i__case_open_sla_check" in plan


def test_events_mark_what_a_sweep_saw(
    world: tuple[CRM, FixedClock, Seen, list[Case]],
) -> None:
    crm, _, _, cases = world
    crm.sla.sweep(now=T0 + timedelta(minutes=61))
    kinds = [e.kind for e in crm.cases.events(cases[0])]
    assert kinds.count(EventKind.SLA_BREACH) == 1
    assert kinds.count(EventKind.SLA_WARNING) == 3


def test_the_command_line_sweep(
    world: tuple[CRM, FixedClock, Seen, list[Case]], tmp_path: Path
) -> None:
    import io
    import json

    from civiccrm.cli import main

    crm, _, _, _ = world
    crm.auditor.flush()
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    out = io.StringIO()
    now = (T0 + timedelta(minutes=61)).isoformat()
    assert main(["--db", url, "--json", "sla", "sweep", "--now", now], out=out) == 0
    report = json.loads(out.getvalue())
    assert (report["checked"], report["warnings"], report["breaches"]) == (1000, 3000, 1000)
    out = io.StringIO()
    assert main(["--db", url, "--json", "sla", "sweep", "--now", now], out=out) == 0
    assert json.loads(out.getvalue())["checked"] == 0
    assert main(["--db", url, "sla", "sweep", "--now", "2026-03-09"], out=io.StringIO()) == 2


class Escalations:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, tuple[str, ...]]] = []

    @civiccrm.hookimpl
    def civiccrm_sla_escalated(
        self, crm: CRM, case: Case, target: str, step: int, notify: tuple[str, ...], event: object
    ) -> None:
        self.seen.append((target, step, notify))


def _escalated(crm: CRM, case: Case) -> list[tuple[str, int]]:
    return [
        (str(e.data["target"]), int(e.data["step"]))  # type: ignore[arg-type]
        for e in crm.cases.events(case)
        if e.kind is EventKind.ESCALATED
    ]


def test_the_escalation_chain_is_taken_step_by_step_once(tmp_path: Path) -> None:
    from civiccrm.models import Priority

    clock = FixedClock(T0)
    hooks = Escalations()
    with civiccrm.open(
        f"sqlite:///{tmp_path / 'esc.db'}", profile=PROFILE, clock=clock, plugins=[hooks]
    ) as crm:
        answers = WorkloadGenerator(PROFILE, seed=2, now=T0).form(PROFILE.case_type(EMERGENCY))
        case = crm.cases.open(EMERGENCY, attributes=answers)
        assert case.priority is Priority.HIGH  # the case type's default
        # Breached at 60 minutes: step 0 at once (urgent, tell the assignee).
        report = crm.sla.sweep(now=T0 + timedelta(minutes=61))
        assert (report.breaches, report.escalations) == (1, 1)
        stored = crm.cases.get(case.id)
        assert stored.priority is Priority.URGENT
        assert _escalated(crm, case) == [("first_response", 0)]
        assert hooks.seen == [("first_response", 0, ("assignee",))]
        # The next step is due an hour after the breach: the check time says so.
        assert stored.sla_check_at is not None
        assert stored.sla_check_at <= T0 + timedelta(hours=2)
        assert crm.sla.sweep(now=T0 + timedelta(minutes=61)).escalations == 0
        crm.sla.sweep(now=T0 + timedelta(hours=2, minutes=1))
        crm.sla.sweep(now=T0 + timedelta(hours=5, minutes=1))
        crm.sla.sweep(now=T0 + timedelta(hours=6))
        first = [s for s in _escalated(crm, case) if s[0] == "first_response"]
        assert first == [("first_response", 0), ("first_response", 1), ("first_response", 2)]
        assert [s for s in hooks.seen if s[0] == "first_response"] == [
            ("first_response", 0, ("assignee",)),
            ("first_response", 1, ("supervisor",)),
            ("first_response", 2, ("department_head",)),
        ]
        # Priority changes are in the history, so the clock replays them.
        kinds = [e.kind for e in crm.cases.events(case)]
        assert kinds.count(EventKind.PRIORITY_CHANGED) == 1


def test_an_escalation_step_can_move_the_case(tmp_path: Path) -> None:
    import attrs

    from civiccrm.routing.sla import EscalationStep

    policy = PROFILE.sla_policies["emergency"]
    moved = attrs.evolve(
        policy, escalation=(EscalationStep(queue="pw-traffic", notify=("supervisor",)),)
    )
    profile = attrs.evolve(PROFILE, sla_policies={**PROFILE.sla_policies, "emergency": moved})
    clock = FixedClock(T0)
    with civiccrm.open(f"sqlite:///{tmp_path / 'q.db'}", profile=profile, clock=clock) as crm:
        answers = WorkloadGenerator(profile, seed=3, now=T0).form(profile.case_type(EMERGENCY))
        case = crm.cases.open(EMERGENCY, attributes=answers)
        assert case.queue != "pw-traffic"
        crm.sla.sweep(now=T0 + timedelta(minutes=61))
        assert crm.cases.get(case.id).queue == "pw-traffic"


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ("{ after_hours = -1 }", "escalation[0].after_hours"),
        ('{ notify = ["mayor"] }', "escalation[0].notify"),
        ('{ queue = "nowhere" }', "escalation[0].queue"),
        ('{ raise_priority = "yes" }', "escalation[0].raise_priority"),
        ('{ after_hours = 1, colour = "red" }', "escalation[0].colour"),
    ],
)
def test_bad_escalation_steps_are_reported_by_path(step: str, path: str) -> None:
    from civiccrm.errors import PolicyError
    from civiccrm.profile import parse_profile

    text = (
        springfield_path()
        .read_text(encoding="utf-8")
        .replace(
            """escalation = [
  { after_hours = 0, raise_priority = true, notify = ["assignee"] },""",
            f"""escalation = [
  {step},""",
        )
    )
    with pytest.raises(PolicyError) as info:
        parse_profile(text)
    assert any(p.path.endswith(path) for p in info.value.problems), info.value.problems


def test_imported_open_cases_are_planned_by_the_next_sweep(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    with civiccrm.open(f"sqlite:///{tmp_path / 'imp.db'}", profile=PROFILE, clock=clock) as crm:
        answers = WorkloadGenerator(PROFILE, seed=4, now=T0).form(PROFILE.case_type(EMERGENCY))
        legacy = [
            Case(
                case_type=EMERGENCY,
                attributes=answers,
                opened_at=T0 - timedelta(hours=2),
                reported_at=T0 - timedelta(hours=2),
                external_ids={"legacy": f"L{i}"},
                status=CaseStatus.NEW if i % 2 else CaseStatus.CLOSED,
            )
            for i in range(10)
        ]
        crm.cases.bulk_import(legacy)
        report = crm.sla.sweep(now=T0)
        assert report.checked == 5  # the open ones
        assert report.breaches == 5  # first response was due an hour ago
        assert crm.sla.sweep(now=T0).checked == 0
        found = crm.cases.find_by_external_id("legacy", "L1")
        assert found is not None
        assert found.response_due_at == T0 - timedelta(hours=1)
