"""
Assignment: every step of the pipeline and its reason, both strategies, the language
policies, and properties over random agents and arrival orders (checked against a
predicate written here, independently of civiccrm.routing.assign).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import ValidationError
from civiccrm.models import Agent
from civiccrm.routing.assign import (
    AssignmentBoard,
    AssignmentDecision,
    AssignmentRequest,
    Exclusion,
    LanguagePolicy,
    Strategy,
    assign,
    serves,
)
from civiccrm.routing.calendar import BusinessCalendar

Q = "pw-water"
#: Sunday 2026-03-08 03:00 UTC: Saturday 21:00 in Chicago.
SUNDAY_NIGHT = datetime(2026, 3, 8, 3, tzinfo=UTC)
#: Monday 2026-03-09 15:00 UTC: 10:00 in Chicago (daylight time).
MONDAY_MORNING = datetime(2026, 3, 9, 15, tzinfo=UTC)
DAY_SHIFT = BusinessCalendar(
    code="day-shift",
    zone="America/Chicago",
    hours={d: ((time(8), time(17)),) for d in range(5)},
)
ALWAYS = BusinessCalendar.always_open("24x7")


def agent(name: str, **kw: object) -> Agent:
    kw.setdefault("queues", (Q,))
    return Agent(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        username=name,
        display_name=name.title(),
        **kw,  # type: ignore[arg-type]
    )


def request(**kw: object) -> AssignmentRequest:
    kw.setdefault("queue", Q)
    kw.setdefault("at", MONDAY_MORNING)
    return AssignmentRequest(**kw)  # type: ignore[arg-type]


def step_of(decision: AssignmentDecision, username: str) -> Exclusion:
    (found,) = [e for e in decision.excluded if e.username == username]
    return found


# --------------------------------------------------------------------------------------
# The filters, one by one


def test_agents_of_other_queues_are_excluded_at_queue() -> None:
    ana, olga = agent("ana"), agent("olga", queues=("hs-benefits",))
    d = assign(request(), [olga, ana], {})
    assert d.username == "ana"
    e = step_of(d, "olga")
    assert (e.step, e.reason, e.agent_id) == ("queue", "not in queue pw-water", olga.id)


def test_inactive_agents_are_excluded_at_active() -> None:
    d = assign(request(), [agent("ana", active=False), agent("bob")], {})
    assert d.username == "bob"
    assert (step_of(d, "ana").step, step_of(d, "ana").reason) == ("active", "inactive")


def test_supervisors_out_of_the_rotation_are_excluded_at_rotation() -> None:
    boss = agent("boss", role="supervisor", in_rotation=False, skills=("gas",))
    d = assign(request(skills=("gas",)), [boss, agent("bob", skills=("gas",))], {})
    assert d.username == "bob"
    assert (step_of(d, "boss").step, step_of(d, "boss").reason) == (
        "rotation",
        "out of the rotation",
    )
    alone = assign(request(), [boss], {})
    assert alone.agent_id is None
    assert alone.reason == "no active agent of pw-water is in the rotation"


def test_inactive_is_reported_before_out_of_rotation() -> None:
    d = assign(request(), [agent("ana", active=False, in_rotation=False)], {})
    assert step_of(d, "ana").step == "active"
    assert d.reason == "no active agent in queue pw-water"


def test_every_required_skill_is_needed() -> None:
    agents = [
        agent("ana", skills=("water",)),
        agent("bob", skills=()),
        agent("carl", skills=("gas", "water", "sewer")),
    ]
    d = assign(request(skills=("gas", "water")), agents, {})
    assert d.username == "carl"
    assert step_of(d, "ana").reason == "lacks skill gas"
    assert step_of(d, "bob").reason == "lacks skills gas, water"
    assert {step_of(d, n).step for n in ("ana", "bob")} == {"skills"}
    nobody = assign(request(skills=("gas", "asbestos")), agents, {})
    assert nobody.agent_id is None
    assert nobody.reason == (
        "no agent of pw-water in the rotation has every required skill (gas, asbestos)"
    )


def test_availability_reads_the_agents_calendar_at_the_moment() -> None:
    agents = [agent("ana", calendar="day-shift"), agent("bob", calendar="day-shift")]
    calendars = {"day-shift": DAY_SHIFT}
    night = assign(request(at=SUNDAY_NIGHT), agents, {}, calendars=calendars)
    assert night.agent_id is None
    for name in ("ana", "bob"):
        e = step_of(night, name)
        assert e.step == "availability"
        assert e.reason == "off shift: calendar day-shift is closed at 2026-03-08T03:00:00Z"
    assert night.reason == "no agent of pw-water is on shift at 2026-03-08T03:00:00Z"
    day = assign(request(at=MONDAY_MORNING), agents, {}, calendars=calendars)
    assert day.username == "ana"
    # An agent without a calendar is always available.
    mixed = assign(request(at=SUNDAY_NIGHT), [*agents, agent("zed")], {}, calendars=calendars)
    assert mixed.username == "zed"


def test_the_moment_is_read_in_any_zone() -> None:
    chicago_night = SUNDAY_NIGHT.astimezone(timezone(timedelta(hours=-6)))
    d = assign(
        request(at=chicago_night),
        [agent("ana", calendar="day-shift")],
        {},
        calendars={"day-shift": DAY_SHIFT},
    )
    assert step_of(d, "ana").reason.endswith("closed at 2026-03-08T03:00:00Z")


def test_an_unknown_calendar_excludes_the_agent_without_crashing() -> None:
    d = assign(request(), [agent("ana", calendar="night-shift"), agent("bob")], {})
    assert d.username == "bob"
    e = step_of(d, "ana")
    assert (e.step, e.reason) == ("availability", "unknown calendar night-shift")


def test_capacity_none_is_unlimited() -> None:
    ana = agent("ana", capacity=None)
    d = assign(request(), [ana], {ana.id: 10_000})
    assert d.username == "ana"


def test_capacity_zero_takes_nothing() -> None:
    ana = agent("ana", capacity=0)
    d = assign(request(), [ana], {})
    assert d.agent_id is None
    assert (step_of(d, "ana").step, step_of(d, "ana").reason) == (
        "capacity",
        "at capacity (0 of 0 open cases)",
    )
    assert d.reason == "every agent of pw-water is at capacity"


def test_at_and_over_capacity() -> None:
    ana, bob, carl = agent("ana", capacity=40), agent("bob", capacity=3), agent("carl", capacity=5)
    d = assign(request(), [ana, bob, carl], {ana.id: 40, bob.id: 5, carl.id: 4})
    assert d.username == "carl"
    assert step_of(d, "ana").reason == "at capacity (40 of 40 open cases)"
    assert step_of(d, "bob").reason == "over capacity (5 of 3 open cases)"
    full = assign(request(), [ana, bob, carl], {ana.id: 40, bob.id: 5, carl.id: 5})
    assert full.agent_id is None
    assert full.reason == "every agent of pw-water is at capacity"


def test_the_reason_names_the_step_that_removed_the_last_candidates() -> None:
    ana, bob = agent("ana", capacity=1), agent("bob", active=False)
    d = assign(request(), [ana, bob], {ana.id: 1})
    assert d.reason == "every agent of pw-water who could take the case is at capacity"
    assert assign(request(), [], {}).reason == "no agent in queue pw-water"
    elsewhere = assign(request(), [agent("olga", queues=("hs",))], {})
    assert elsewhere.reason == "no agent in queue pw-water"


def test_a_case_without_a_queue_stays_unassigned() -> None:
    d = assign(request(queue=None), [agent("ana")], {}, pointer="ana")
    assert d.agent_id is None
    assert d.reason == "the case has no queue"
    assert (d.pointer_before, d.pointer_after) == ("ana", "ana")
    assert d.summary()["reason"] == "the case has no queue"


# --------------------------------------------------------------------------------------
# Language


def test_language_tags_match_by_prefix() -> None:
    assert serves("es", "es-MX")
    assert serves("es", "es")
    assert serves("ES", "es-mx")
    assert serves("es-MX", "es-MX")
    assert not serves("es-MX", "es")
    assert not serves("es-MX", "es-ES")
    assert not serves("zh-Hant", "zh-Hans")
    assert serves("zh-Hant", "zh-Hant-TW")
    assert serves("zh", "zh-Hans")
    assert not serves("e", "es")


def test_prefer_keeps_only_speakers_when_there_are_some() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob", languages=("en", "es"))]
    d = assign(request(language="es-MX"), agents, {}, language=LanguagePolicy.PREFER)
    assert d.username == "bob"
    assert d.eligible == ("bob",)
    e = step_of(d, "ana")
    assert (e.step, e.reason) == ("language", "does not speak es-MX (speaks en)")
    assert d.notes == ()


def test_prefer_counts_only_speakers_who_could_take_the_case() -> None:
    # bob speaks Spanish but is at capacity: the preference is relaxed, ana gets it.
    ana = agent("ana", languages=("en",))
    bob = agent("bob", languages=("es",), capacity=1)
    d = assign(request(language="es"), [ana, bob], {bob.id: 1})
    assert d.username == "ana"
    assert step_of(d, "bob").step == "capacity"
    assert d.notes == ("language preference relaxed: nobody who could take the case speaks es",)
    assert "relaxed" in d.explain()


def test_prefer_relaxes_when_nobody_speaks_it() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob")]
    d = assign(request(language="vi"), agents, {})
    assert d.username == "ana"
    assert d.eligible == ("ana", "bob")
    assert any("relaxed" in n for n in d.notes)


def test_require_refuses_when_nobody_speaks_it() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob", languages=("zh-Hant",))]
    d = assign(request(language="zh-Hans"), agents, {}, language=LanguagePolicy.REQUIRE)
    assert d.agent_id is None
    assert {e.step for e in d.excluded} == {"language"}
    assert step_of(d, "bob").reason == "does not speak zh-Hans (speaks zh-Hant)"
    assert (
        d.reason == "no agent of pw-water who could take the case speaks the requester's language"
    )
    summary = json.dumps(d.summary())
    assert "zh" not in summary


def test_require_assigns_a_speaker() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob", languages=("zh-Hant",))]
    d = assign(request(language="zh-Hant-TW"), agents, {}, language=LanguagePolicy.REQUIRE)
    assert d.username == "bob"


def test_ignore_leaves_languages_out() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob", languages=("es",))]
    d = assign(request(language="es"), agents, {}, language=LanguagePolicy.IGNORE)
    assert d.username == "ana"
    assert d.notes == ()


def test_the_default_language_imposes_nothing() -> None:
    agents = [agent("ana", languages=("es",)), agent("bob")]
    for tag in ("en", "EN-us", "en-GB"):
        d = assign(request(language=tag), agents, {}, language=LanguagePolicy.REQUIRE)
        assert d.username == "ana"
        assert d.notes == ()
    refused = assign(
        request(language="en"),
        agents,
        {},
        language=LanguagePolicy.REQUIRE,
        default_language=None,
    )
    assert refused.agent_id is None
    other_default = assign(
        request(language="es-MX"),
        [agent("bob")],
        {},
        default_language="es",
        language=LanguagePolicy.REQUIRE,
    )
    assert other_default.username == "bob"


def test_a_language_check_comes_before_availability_and_capacity() -> None:
    ana = agent("ana", languages=("en",), capacity=0)
    bob = agent("bob", languages=("es",))
    d = assign(request(language="es"), [ana, bob], {})
    assert step_of(d, "ana").step == "language"


# --------------------------------------------------------------------------------------
# Strategies and the pointer


def test_round_robin_cycles_in_username_order_and_wraps() -> None:
    agents = [agent("carl"), agent("ana"), agent("bob")]
    board = AssignmentBoard(agents)
    picked, pointers = [], []
    for _ in range(7):
        d = board.assign(request())
        picked.append(d.username)
        pointers.append((d.pointer_before, d.pointer_after))
    assert picked == ["ana", "bob", "carl", "ana", "bob", "carl", "ana"]
    assert pointers[:4] == [(None, "ana"), ("ana", "bob"), ("bob", "carl"), ("carl", "ana")]
    assert board.pointers == {Q: "ana"}
    assert board.loads == {a.id: n for a, n in zip(agents, (2, 3, 2), strict=True)}


def test_round_robin_skips_ineligible_agents_and_departed_pointers() -> None:
    agents = [agent("ana"), agent("bob", active=False), agent("carl"), agent("dan")]
    d = assign(request(), agents, {}, pointer="ana")
    assert d.username == "carl"
    assert step_of(d, "dan").reason == "not chosen: round robin picked carl (next after ana)"
    # A pointer at someone no longer there still places the rotation.
    assert assign(request(), agents, {}, pointer="bobby").username == "carl"
    wrapped = assign(request(), agents, {}, pointer="dan")
    assert wrapped.username == "ana"
    assert step_of(wrapped, "carl").reason == (
        "not chosen: round robin picked ana (next after dan, wrapping round)"
    )
    assert assign(request(), agents, {}, pointer="zzz").username == "ana"


def test_least_loaded_picks_the_fewest_open_cases() -> None:
    ana, bob, carl = agent("ana"), agent("bob"), agent("carl")
    loads = {ana.id: 3, bob.id: 1, carl.id: 2}
    d = assign(request(), [ana, bob, carl], loads, strategy=Strategy.LEAST_LOADED)
    assert d.username == "bob"
    assert d.pointer_after == "bob"
    assert step_of(d, "ana").step == "strategy"
    assert step_of(d, "ana").reason == (
        "not chosen: least loaded picked bob (1 open case; this agent has 3)"
    )


def test_least_loaded_breaks_ties_after_the_pointer() -> None:
    ana, bob, carl, dan = agent("ana"), agent("bob"), agent("carl"), agent("dan")
    loads = {ana.id: 1, bob.id: 1, carl.id: 2, dan.id: 1}
    everyone = [ana, bob, carl, dan]
    ll = Strategy.LEAST_LOADED
    assert assign(request(), everyone, loads, strategy=ll).username == "ana"
    assert assign(request(), everyone, loads, strategy=ll, pointer="ana").username == "bob"
    d = assign(request(), everyone, loads, strategy=ll, pointer="bob")
    assert d.username == "dan"  # carl is after bob, but has more
    assert step_of(d, "ana").reason == (
        "not chosen: least loaded picked dan (tied at 1 open case; dan is next after bob)"
    )
    assert assign(request(), everyone, loads, strategy=ll, pointer="dan").username == "ana"


def test_least_loaded_board_spreads_the_work() -> None:
    agents = [agent("ana"), agent("bob"), agent("carl")]
    board = AssignmentBoard(
        agents, strategy=Strategy.LEAST_LOADED, loads={agents[0].id: 2}, pointers={Q: "carl"}
    )
    picked = [board.assign(request()).username for _ in range(5)]
    assert picked == ["bob", "carl", "bob", "carl", "ana"]
    assert [board.loads[a.id] for a in agents] == [3, 2, 2]


def test_an_unassigned_case_leaves_the_pointer() -> None:
    ana = agent("ana", capacity=1)
    board = AssignmentBoard([ana], loads={ana.id: 1}, pointers={Q: "ana"})
    d = board.assign(request())
    assert d.agent_id is None
    assert (d.pointer_before, d.pointer_after) == ("ana", "ana")
    assert board.loads[ana.id] == 1


def test_release_never_goes_below_zero() -> None:
    ana = agent("ana", capacity=1)
    board = AssignmentBoard([ana])
    assert board.assign(request()).username == "ana"
    assert board.assign(request()).agent_id is None
    board.release(ana.id)
    assert board.loads[ana.id] == 0
    board.release(ana.id)
    assert board.loads[ana.id] == 0
    assert board.assign(request()).username == "ana"


# --------------------------------------------------------------------------------------
# The trace


def test_explain_names_every_agent_and_the_choice() -> None:
    agents = [
        agent("ana", skills=("gas",), languages=("en", "es")),
        agent("bob", skills=()),
        agent("carl", skills=("gas",), languages=("es",), capacity=1),
        agent("dan", skills=("gas",), languages=("es",), calendar="day-shift"),
        agent("erin", skills=("gas",), active=False),
        agent("fay", skills=("gas",), in_rotation=False),
        agent("gus", queues=("hs",)),
        agent("hal", skills=("gas",), languages=("es",)),
    ]
    d = assign(
        request(skills=("gas",), language="es", rule="water-main-break", at=SUNDAY_NIGHT),
        agents,
        {agents[2].id: 1},
        pointer="bob",
        calendars={"day-shift": DAY_SHIFT},
    )
    assert d.username == "hal"
    assert d.eligible == ("ana", "hal")
    text = d.explain()
    for a in agents:
        assert a.username in text
    for piece in (
        "water-main-break",
        "round_robin",
        "lacks skill gas",
        "at capacity (1 of 1 open cases)",
        "off shift",
        "inactive",
        "out of the rotation",
        "not in queue pw-water",
        "ana: round robin picked hal (next after bob)",
        "bob -> hal",
        "assigned to: hal",
    ):
        assert piece in text
    unassigned = assign(request(), [agent("ana", capacity=0)], {}).explain()
    assert "unassigned: every agent of pw-water is at capacity" in unassigned


def test_summary_is_flat_json_and_says_nothing_of_the_language() -> None:
    agents = [agent("ana", languages=("en",)), agent("bob", languages=("pt-BR",))]
    d = assign(request(language="pt-BR", rule="r1"), agents, {}, pointer="zed")
    summary = d.summary()
    assert summary == {
        "assignee": "bob",
        "queue": Q,
        "strategy": "round_robin",
        "rule": "r1",
        "eligible_count": 1,
        "excluded_count": 1,
        "pointer_before": "zed",
        "pointer_after": "bob",
        "reason": None,
    }
    assert json.loads(json.dumps(summary)) == summary
    assert "pt" not in json.dumps(summary).lower()


def test_many_agents_of_other_queues_are_counted_not_listed() -> None:
    agents = [agent(f"o{i:02}", queues=("hs",)) for i in range(48)] + [agent("ana"), agent("bob")]
    d = assign(request(), agents, {})
    assert d.username == "ana"
    assert [e.username for e in d.excluded] == ["bob"]
    assert d.notes == ("48 agents of other queues not considered",)
    few = assign(request(), agents[40:], {})
    assert sum(e.step == "queue" for e in few.excluded) == 8


# --------------------------------------------------------------------------------------
# Bad input


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate username"):
        assign(request(), [agent("ana"), Agent(username="ana", display_name="Ana 2")], {})
    ana = agent("ana")
    with pytest.raises(ValidationError, match="duplicate agent id"):
        assign(request(), [ana, Agent(id=ana.id, username="ann", display_name="Ann")], {})
    with pytest.raises(ValidationError, match="naive"):
        AssignmentRequest(queue=Q, at=datetime(2026, 3, 9, 10))
    with pytest.raises(ValidationError, match="BCP 47"):
        request(language="not a tag")
    with pytest.raises(ValidationError, match="skills"):
        request(skills="gas")
    with pytest.raises(ValidationError, match="queue"):
        request(queue=" ")
    with pytest.raises(ValidationError, match="strategy"):
        assign(request(), [ana], {}, strategy="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="loads"):
        assign(request(), [ana], {ana.id: -1})
    with pytest.raises(ValidationError, match="default_language"):
        assign(request(), [ana], {}, default_language="??")
    assert request(language="es-mx").language == "es-MX"


# --------------------------------------------------------------------------------------
# Properties. The predicate below restates the rules without the module's helpers.

NAMES = st.text(alphabet="abcyz", min_size=1, max_size=3)
QUEUES = ("water", "roads", "hs")
SKILLS = ("gas", "sewer", "legal")
AGENT_LANGS = ("en", "es", "es-MX", "zh-Hant", "zh-Hans", "vi")
REQUEST_LANGS = (None, "en", "en-US", "es", "es-MX", "es-ES", "zh-Hant-TW", "zh-Hans", "vi", "fr")
CALENDARS = {"24x7": ALWAYS}
T0 = datetime(2026, 5, 4, 12, tzinfo=UTC)


@st.composite
def agent_sets(draw: st.DrawFn) -> list[Agent]:
    names = draw(st.lists(NAMES, min_size=1, max_size=8, unique=True))
    out = []
    for i, name in enumerate(names):
        out.append(
            Agent(
                id=uuid.UUID(int=i + 1),
                username=name,
                display_name=name,
                queues=draw(st.lists(st.sampled_from(QUEUES), max_size=2, unique=True)),
                skills=draw(st.lists(st.sampled_from(SKILLS), max_size=3, unique=True)),
                languages=draw(st.lists(st.sampled_from(AGENT_LANGS), max_size=2, unique=True)),
                capacity=draw(st.none() | st.integers(0, 5)),
                active=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
                in_rotation=draw(st.integers(0, 4).map(bool)),
                calendar=draw(st.sampled_from([None, None, "24x7", "gone"])),
            )
        )
    return out


requests = st.builds(
    AssignmentRequest,
    queue=st.sampled_from((*QUEUES, None)),
    skills=st.lists(st.sampled_from(SKILLS), max_size=2, unique=True).map(tuple),
    language=st.sampled_from(REQUEST_LANGS),
    at=st.just(T0),
)
operations = st.lists(
    st.one_of(requests, st.integers(0, 7)),  # an int: release a case of that agent
    min_size=1,
    max_size=40,
)


def spoken_by(a: Agent, tag: str) -> bool:
    want = tag.lower()
    return any(want == t.lower() or want.startswith(t.lower() + "-") for t in a.languages)


def language_matters(req: AssignmentRequest) -> bool:
    """The default language is English: an English request imposes nothing."""
    return req.language is not None and req.language.lower().split("-")[0] != "en"


def could_take(a: Agent, req: AssignmentRequest, load: int) -> bool:
    """Every filter but the language one."""
    return (
        req.queue in a.queues
        and a.active
        and a.in_rotation
        and all(s in a.skills for s in req.skills)
        and a.calendar in (None, "24x7")
        and (a.capacity is None or load < a.capacity)
    )


def expected_eligible(
    agents: Sequence[Agent], req: AssignmentRequest, loads: Mapping[uuid.UUID, int], policy: str
) -> list[Agent]:
    able = [a for a in agents if could_take(a, req, loads.get(a.id, 0))]
    if policy == "ignore" or not language_matters(req):
        return able
    assert req.language is not None
    speakers = [a for a in able if spoken_by(a, req.language)]
    if policy == "require" or speakers:
        return speakers
    return able


def expected_pick(
    eligible: list[Agent], loads: Mapping[uuid.UUID, int], pointer: str | None, strategy: str
) -> Agent:
    ring = sorted(eligible, key=lambda a: a.username)
    if pointer is not None:
        later = [a for a in ring if a.username > pointer]
        ring = later + [a for a in ring if a.username <= pointer]
    if strategy == "least_loaded":
        fewest = min(loads.get(a.id, 0) for a in ring)
        ring = [a for a in ring if loads.get(a.id, 0) == fewest]
    return ring[0]


@settings(max_examples=200)
@given(
    agents=agent_sets(),
    ops=operations,
    strategy=st.sampled_from(Strategy),
    policy=st.sampled_from(LanguagePolicy),
)
def test_no_overload_and_unassigned_only_when_nobody_can_take_it(
    agents: list[Agent],
    ops: list[AssignmentRequest | int],
    strategy: Strategy,
    policy: LanguagePolicy,
) -> None:
    board = AssignmentBoard(agents, strategy=strategy, language=policy, calendars=CALENDARS)
    for op in ops:
        if isinstance(op, int):
            if op < len(agents):
                board.release(agents[op].id)
            continue
        before = dict(board.loads)
        pointer = board.pointers.get(op.queue) if op.queue else None
        d = board.assign(op)
        assert d.pointer_before == pointer
        expected = expected_eligible(agents, op, before, policy) if op.queue else []
        assert d.eligible == tuple(sorted(a.username for a in expected))
        if d.agent_id is None:
            # (b) unassigned only when nobody passes the filters with room to spare.
            assert expected == []
            assert d.reason
            assert d.pointer_after == pointer
            assert board.loads == before
        else:
            chosen = next(a for a in agents if a.id == d.agent_id)
            # (c) the chosen agent passes every filter.
            assert could_take(chosen, op, before.get(chosen.id, 0))
            if policy == "require" and language_matters(op):
                assert op.language is not None
                assert spoken_by(chosen, op.language)
            assert chosen in expected
            assert chosen is expected_pick(expected, before, pointer, strategy)
            assert d.pointer_after == chosen.username
            assert board.loads[chosen.id] == before.get(chosen.id, 0) + 1
        # Every agent of the pool is accounted for once.
        listed = [e.username for e in d.excluded if e.step != "strategy"] + list(d.eligible)
        if op.queue:
            assert sorted(listed) == sorted(a.username for a in agents)
        # (a) never over capacity.
        for a in agents:
            assert a.capacity is None or board.loads[a.id] <= a.capacity


@settings(max_examples=150)
@given(agents=agent_sets(), req=requests, data=st.data())
def test_one_decision_matches_the_predicate_whatever_the_order_of_the_agents(
    agents: list[Agent], req: AssignmentRequest, data: st.DataObject
) -> None:
    loads = {a.id: data.draw(st.integers(0, 6)) for a in agents}
    pointer = data.draw(st.none() | st.sampled_from([a.username for a in agents]) | NAMES)
    strategy = data.draw(st.sampled_from(Strategy))
    policy = data.draw(st.sampled_from(LanguagePolicy))
    shuffled = data.draw(st.permutations(agents))
    first = assign(
        req,
        agents,
        loads,
        strategy=strategy,
        pointer=pointer,
        language=policy,
        calendars=CALENDARS,
    )
    expected = expected_eligible(agents, req, loads, policy) if req.queue else []
    if expected:
        assert first.agent_id == expected_pick(expected, loads, pointer, strategy).id
    else:
        assert first.agent_id is None
    again = assign(
        req,
        shuffled,
        loads,
        strategy=strategy,
        pointer=pointer,
        language=policy,
        calendars=CALENDARS,
    )
    assert again == first


@settings(max_examples=100)
@given(
    names=st.lists(NAMES, min_size=1, max_size=8, unique=True),
    k=st.integers(1, 6),
    start=st.none() | NAMES,
    seed=st.integers(0, 2**32 - 1),
)
def test_round_robin_is_fair(names: list[str], k: int, start: str | None, seed: int) -> None:
    agents = [Agent(username=n, display_name=n, queues=(Q,), skills=("gas",)) for n in names]
    random.Random(seed).shuffle(agents)
    board = AssignmentBoard(agents, pointers={} if start is None else {Q: start})
    for _ in range(k * len(agents)):
        assert board.assign(request(skills=("gas",))).agent_id is not None
    assert sorted(board.loads.values()) == [k] * len(agents)
