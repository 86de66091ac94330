"""The case lifecycle: one transition table, and nothing ever leaves it."""

from __future__ import annotations

import itertools
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from civiccrm import TransitionError
from civiccrm.models import TRANSITIONS, Case, CaseStatus, allowed_transitions, check_transition

S = CaseStatus
T0 = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def _reachable(start: CaseStatus) -> set[CaseStatus]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(CaseStatus)
    for targets in TRANSITIONS.values():
        assert targets <= set(CaseStatus)


def test_every_status_is_reachable_from_new() -> None:
    assert _reachable(S.NEW) == set(CaseStatus)


def test_every_status_can_reach_a_final_one() -> None:
    finals = {s for s in CaseStatus if s.is_final}
    assert finals == {S.CLOSED, S.CANCELLED}
    for status in CaseStatus:
        assert _reachable(status) & finals, status


def test_documented_path_and_reopen() -> None:
    path = [
        S.NEW,
        S.ASSIGNED,
        S.IN_PROGRESS,
        S.PENDING,
        S.IN_PROGRESS,
        S.RESOLVED,
        S.IN_PROGRESS,
        S.RESOLVED,
        S.CLOSED,
    ]
    for a, b in itertools.pairwise(path):
        check_transition(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (S.CLOSED, S.IN_PROGRESS),
        (S.CANCELLED, S.NEW),
        (S.NEW, S.CLOSED),
        (S.PENDING, S.ASSIGNED),
        (S.RESOLVED, S.CANCELLED),
        (S.IN_PROGRESS, S.NEW),
        (S.NEW, S.NEW),
    ],
)
def test_illegal_transitions_name_both_ends(a: CaseStatus, b: CaseStatus) -> None:
    with pytest.raises(TransitionError) as info:
        check_transition(a, b)
    assert info.value.from_status is a
    assert info.value.to_status is b
    assert set(info.value.allowed) == allowed_transitions(a)
    assert a.value in str(info.value)
    assert b.value in str(info.value)


def test_status_properties() -> None:
    assert {s for s in CaseStatus if s.is_open} == {S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.PENDING}
    assert [s for s in CaseStatus if s.pauses_clock] == [S.PENDING]


def test_transition_timestamps() -> None:
    case = Case(case_type="001", opened_at=T0, assignee=None)
    t1, t2, t3, t4 = (T0 + timedelta(hours=h) for h in (1, 2, 3, 4))
    resolved = case.transition(S.IN_PROGRESS, at=t1).transition(S.RESOLVED, at=t2)
    assert resolved.resolved_at == t2
    assert resolved.updated_at == t2
    reopened = resolved.transition(S.IN_PROGRESS, at=t3)
    assert reopened.resolved_at is None
    assert reopened.reopen_count == 1
    closed = reopened.transition(S.RESOLVED, at=t4).transition(S.CLOSED, at=t4)
    assert closed.closed_at == t4
    assert closed.resolved_at == t4
    assert case.status is S.NEW  # the original is unchanged


class Lifecycle(RuleBasedStateMachine):
    """A random walk over the lifecycle, trying legal and illegal moves alike."""

    def __init__(self) -> None:
        super().__init__()
        self.case = Case(case_type="001", opened_at=T0)
        self.now = T0
        self.history = [S.NEW]
        self.resolutions = 0

    @rule(to_status=st.sampled_from(CaseStatus), minutes=st.integers(0, 10_000))
    def move(self, to_status: CaseStatus, minutes: int) -> None:
        target = to_status
        self.now += timedelta(minutes=minutes)
        before = self.case
        if target in TRANSITIONS[before.status]:
            after = before.transition(target, at=self.now)
            assert after.status is target
            assert after.updated_at == self.now
            reopen = before.status is S.RESOLVED and target is S.IN_PROGRESS
            assert after.reopen_count == before.reopen_count + reopen
            self.case = after
            self.history.append(target)
        else:
            with pytest.raises(TransitionError):
                before.transition(target, at=self.now)
            assert self.case is before

    @invariant()
    def history_follows_the_table(self) -> None:
        for a, b in zip(self.history, self.history[1:], strict=False):
            assert b in TRANSITIONS[a]
        assert self.case.status is self.history[-1]

    @invariant()
    def timestamps_match_status(self) -> None:
        case = self.case
        if case.status in (S.RESOLVED, S.CLOSED) and S.RESOLVED in self.history:
            assert case.resolved_at is not None
        if case.status.is_final:
            assert case.closed_at is not None
        else:
            assert case.closed_at is None
        if case.status is S.NEW:
            assert case.assignee is None


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=40)


@given(st.lists(st.sampled_from(CaseStatus), max_size=60))
def test_any_sequence_either_follows_table_or_raises(seq: list[CaseStatus]) -> None:
    case = Case(case_type="001")
    for target in seq:
        try:
            nxt = case.transition(target, at=T0)
        except TransitionError:
            assert target not in TRANSITIONS[case.status]
        else:
            assert target in TRANSITIONS[case.status]
            case = nxt
