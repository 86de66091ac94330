"""
Bulk case work (``crm.bulk`` and ``civiccrm cases bulk``): each operation's effects,
the bulk key on every event, dry runs that write nothing, idempotent and resumed
runs, refusals, capacity, the assignment pipeline, roles, and the command line.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import civiccrm
from civiccrm import CRM, FixedClock, ValidationError
from civiccrm._bulkwork import BulkResult
from civiccrm._records import SCHEMA
from civiccrm.adapters._base import Query
from civiccrm.cli import main
from civiccrm.errors import AccessDeniedError
from civiccrm.models import Agent, Case, CaseEvent, CaseStatus, EventKind
from civiccrm.profile import load_profile, springfield_path

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())
POTHOLE = {"size": "small"}
GRAFFITI = {"surface": "utility_box", "offensive": "no"}


class Crash:
    """An observer that fails once armed, after a number of case events: a crash."""

    def __init__(self) -> None:
        self.after: int | None = None

    @civiccrm.hookimpl
    def civiccrm_case_changed(self, crm: CRM, case: Case, event: CaseEvent) -> None:
        if self.after is not None and "bulk" in event.data:
            self.after -= 1
            if self.after < 0:
                self.after = None
                raise RuntimeError("the job's process died")


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def crash() -> Crash:
    return Crash()


@pytest.fixture
def crm(url: str, crash: Crash) -> Iterator[CRM]:
    with civiccrm.open(url, profile=PROFILE, clock=FixedClock(T0), plugins=[crash]) as session:
        yield session


@pytest.fixture
def sqlite_crm(tmp_path: Path) -> Iterator[CRM]:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=PROFILE, clock=FixedClock(T0)) as session:
        yield session


def agent(crm: CRM, name: str, *queues: str, **kw: Any) -> Agent:
    return crm.agents.create(
        Agent(username=name, display_name=name.title(), queues=queues or ("pw-streets",), **kw)
    )


def pothole(crm: CRM, ref: str) -> Case:
    return crm.cases.open("001", attributes=POTHOLE, reference=ref)


def graffiti(crm: CRM, ref: str) -> Case:
    return crm.cases.open("005", attributes=GRAFFITI, reference=ref)


def caseload(crm: CRM, owner: Agent, n: int, prefix: str = "SR-") -> list[Case]:
    """``n`` potholes, given to ``owner`` on opening (the only agent of pw-streets)."""
    cases = [pothole(crm, f"{prefix}{i:03d}") for i in range(n)]
    assert all(c.assignee == owner.id for c in cases)
    return cases


def bulk_events(crm: CRM, case: Case | uuid.UUID, key: str) -> list[CaseEvent]:
    case_id = case.id if isinstance(case, Case) else case
    return [e for e in crm.cases.events(case_id) if e.data.get("bulk") == key]


def snapshot(crm: CRM) -> tuple[dict[str, int], dict[str, int], int]:
    """Every kind's record count, each case's version, and the audit trail's length."""
    crm.auditor.flush()
    counts = {k.kind: sum(crm.storage.count(k.kind).values()) for k in SCHEMA.kinds}
    cases = crm.storage.stream(Query("case", columns=("status",)))
    versions = {r.id: r.version for r in cases}  # read without an audited read
    return counts, versions, len(crm.storage.read_audit(limit=1_000_000))


def event_count(crm: CRM) -> int:
    return sum(crm.storage.count("case_event").values())


# --------------------------------------------------------------------------------------
# Reassign


def test_reassign_to_an_agent(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 5)
    ana = agent(crm, "ana")
    result = crm.bulk.reassign("bob", to_agent="ana", key="leaver-bob", progress=False)
    assert (result.operation, result.key, result.dry_run) == ("reassign", "leaver-bob", False)
    assert (result.selected, result.changed, result.skipped, result.waiting) == (5, 5, 0, 0)
    assert result.reasons == {}
    assert not result.already_done
    assert result.sample == tuple(c.reference for c in cases)
    for case in cases:
        assert crm.cases.get(case.id).assignee == ana.id
        (event,) = bulk_events(crm, case, "leaver-bob")
        assert event.kind is EventKind.ASSIGNED
        assert event.data["previous_assignee"] == str(bob.id)
    job = crm.bulk.job("leaver-bob")
    assert job is not None
    assert (job.operation, job.status, job.selected, job.changed, job.skipped) == (
        "reassign",
        "done",
        5,
        5,
        0,
    )
    assert json.loads(job.params) == {"from_agent": str(bob.id), "to_agent": str(ana.id)}
    assert job.params == json.dumps(json.loads(job.params), sort_keys=True)
    assert (job.actor_name, job.started_at, job.finished_at) == ("system", T0, T0)

    # The same job again: its stored result, and nothing touched.
    before = snapshot(crm)
    again = crm.bulk.reassign(bob, to_agent=ana.id, key="leaver-bob", progress=False)
    assert again.already_done
    assert (again.selected, again.changed, again.skipped) == (5, 5, 0)
    assert snapshot(crm) == before
    # Done is done, even once ana has left too.
    crm.agents.update(attrs.evolve(crm.agents.get(ana.id), active=False))
    assert crm.bulk.reassign("bob", to_agent="ana", key="leaver-bob").already_done

    # The same key for other work is refused.
    carl = agent(crm, "carl")
    with pytest.raises(ValidationError) as info:
        crm.bulk.reassign("bob", to_agent=carl, key="leaver-bob")
    assert info.value.problems[0].path == "key"
    assert "used for reassign with other parameters" in str(info.value)
    with pytest.raises(ValidationError, match="used for reassign with other parameters"):
        crm.bulk.close(case_type="001", key="leaver-bob")


def test_reassign_never_forces_an_agent_at_capacity(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 6)
    ana = agent(crm, "ana", "pw-water", capacity=3)
    crm.cases.assign(cases[5].id, ana)  # ana holds one case already
    preview = crm.bulk.reassign("bob", to_agent="ana", key="k", dry_run=True)
    full = "agent 'ana' is at capacity (3 open cases)"
    assert (preview.selected, preview.changed, preview.skipped) == (5, 2, 3)
    assert preview.reasons == {full: 3}
    result = crm.bulk.reassign("bob", to_agent="ana", key="k", progress=False)
    assert (result.selected, result.changed, result.skipped) == (5, 2, 3)
    assert result.reasons == {full: 3}
    owners = [crm.cases.get(c.id).assignee for c in cases]
    assert owners == [ana.id, ana.id, bob.id, bob.id, bob.id, ana.id]
    assert not any(e.data.get("over_capacity") for c in cases for e in crm.cases.events(c))
    # Once ana has room, a new job moves what is left.
    crm.bulk.close(case_ids=[cases[0].id], key="make-room", progress=False)
    more = crm.bulk.reassign("bob", to_agent="ana", key="k2", progress=False)
    assert (more.selected, more.changed, more.skipped) == (3, 1, 2)


def test_reassign_through_the_pipeline(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 4)
    crm.cases.transition(cases[0].id, CaseStatus.IN_PROGRESS)
    # Still in the rotation: the pipeline could give the cases straight back.
    with pytest.raises(ValidationError, match="still active and in the rotation"):
        crm.bulk.reassign("bob", key="k")
    crm.agents.update(attrs.evolve(crm.agents.get(bob.id), active=False))
    carl = agent(crm, "carl")
    result = crm.bulk.reassign("bob", key="k", progress=False)
    assert (result.selected, result.changed, result.skipped, result.waiting) == (4, 4, 0, 0)
    for case in cases:
        stored = crm.cases.get(case.id)
        assert stored.assignee == carl.id
        kinds = [e.kind for e in bulk_events(crm, case, "k")]
        assert kinds == [EventKind.UNASSIGNED, EventKind.ASSIGNED]
    assert crm.cases.get(cases[0].id).status is CaseStatus.IN_PROGRESS
    assert crm.cases.get(cases[1].id).status is CaseStatus.ASSIGNED


def test_reassign_through_the_pipeline_waits_when_nobody_can_take_them(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 3)
    crm.agents.update(attrs.evolve(crm.agents.get(bob.id), in_rotation=False))
    result = crm.bulk.reassign("bob", key="k", progress=False)
    assert (result.selected, result.changed, result.waiting) == (3, 3, 3)
    ((reason, n),) = result.reasons.items()
    assert n == 3
    assert reason.startswith("waiting: ")
    assert "pw-streets" in reason
    for case in cases:
        stored = crm.cases.get(case.id)
        assert (stored.status, stored.assignee, stored.queue) == (
            CaseStatus.NEW,
            None,
            "pw-streets",
        )
        last = bulk_events(crm, case, "k")[-1]
        assert last.note is not None
        assert reason.removeprefix("waiting: ") in last.note
    assert sorted(crm.routing.waiting(queue="pw-streets")) == sorted(c.id for c in cases)


def test_reassign_refusals(crm: CRM) -> None:
    bob = agent(crm, "bob")
    with pytest.raises(ValidationError, match="no agent 'nobody'"):
        crm.bulk.reassign("nobody", to_agent="bob", key="k")
    with pytest.raises(ValidationError, match="another agent"):
        crm.bulk.reassign("bob", to_agent=bob, key="k")
    gone = agent(crm, "gone", active=False)
    with pytest.raises(ValidationError, match="not active"):
        crm.bulk.reassign("bob", to_agent=gone, key="k")
    for key in ("", "  ", " padded"):
        with pytest.raises(ValidationError) as info:
            crm.bulk.reassign("bob", to_agent="gone", key=key)
        assert info.value.problems[0].path == "key"
    assert crm.bulk.job("k") is None


# --------------------------------------------------------------------------------------
# Close


def test_close_by_filters(crm: CRM) -> None:
    new = pothole(crm, "SR-1")
    working = crm.cases.transition(pothole(crm, "SR-2").id, CaseStatus.IN_PROGRESS)
    resolved = crm.cases.transition(
        pothole(crm, "SR-3").id, CaseStatus.RESOLVED, resolution_code="fixed"
    )
    cancelled = crm.cases.transition(pothole(crm, "SR-4").id, CaseStatus.CANCELLED)
    other = graffiti(crm, "SR-5")
    note = "Street resurfaced in March: Ana Example called about it"
    result = crm.bulk.close(case_type="001", note=note, key="resurfaced", progress=False)
    assert (result.selected, result.changed, result.skipped) == (3, 3, 0)
    assert result.sample == ("SR-1", "SR-2", "SR-3")
    for case in (new, working, resolved):
        assert crm.cases.get(case.id).status is CaseStatus.CLOSED
    assert crm.cases.get(new.id).resolution_code == "bulk_closed"
    assert crm.cases.get(resolved.id).resolution_code == "fixed"  # kept
    assert crm.cases.get(cancelled.id).status is CaseStatus.CANCELLED
    assert crm.cases.get(other.id).status is CaseStatus.NEW
    events = bulk_events(crm, working, "resurfaced")
    assert [(e.from_status, e.to_status) for e in events] == [
        (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED),
        (CaseStatus.RESOLVED, CaseStatus.CLOSED),
    ]
    assert events[-1].note == note
    assert [e.to_status for e in bulk_events(crm, resolved, "resurfaced")] == [CaseStatus.CLOSED]
    job = crm.bulk.job("resurfaced")
    assert job is not None
    assert note not in job.params
    assert "Ana" not in job.params
    assert json.loads(job.params)["case_type"] == "001"


def test_close_by_ids_and_other_filters(crm: CRM) -> None:
    _a, b, c = (pothole(crm, f"SR-{i}") for i in range(3))
    crm.cases.transition(c.id, CaseStatus.CANCELLED)
    result = crm.bulk.close(case_ids=["SR-0", b.id, str(c.id)], key="ids", progress=False)
    assert (result.selected, result.changed, result.skipped) == (3, 2, 1)
    assert result.reasons == {"already final": 1}
    # By queue, status and opening time together.
    old = graffiti(crm, "SR-old")
    crm.cases.transition(old.id, CaseStatus.IN_PROGRESS)
    graffiti(crm, "SR-new-status")
    result = crm.bulk.close(
        queue="pw-streets",
        status="in_progress",
        opened_before=T0 + timedelta(seconds=1),
        key="filters",
        progress=False,
    )
    assert (result.selected, result.changed, result.sample) == (1, 1, ("SR-old",))


def test_close_needs_a_selector(crm: CRM) -> None:
    case = pothole(crm, "SR-1")
    with pytest.raises(ValidationError, match="select the cases"):
        crm.bulk.close(key="k")
    with pytest.raises(ValidationError, match="not both"):
        crm.bulk.close(case_ids=[case.id], case_type="001", key="k")
    with pytest.raises(ValidationError, match="no case with reference 'SR-404'"):
        crm.bulk.close(case_ids=["SR-404"], key="k")
    with pytest.raises(ValidationError, match="no case type"):
        crm.bulk.close(case_type="999", key="k")
    with pytest.raises(ValidationError, match="not a case status"):
        crm.bulk.close(status="lost", key="k")
    with pytest.raises(ValidationError, match="final"):
        crm.bulk.close(status="closed", key="k")
    with pytest.raises(ValidationError, match="time zone"):
        crm.bulk.close(opened_before=datetime(2026, 1, 1), key="k")
    assert crm.bulk.job("k") is None
    assert crm.cases.get(case.id).status is CaseStatus.NEW


def test_close_moves_accepted_duplicates_along(crm: CRM) -> None:
    parent, follower, other = (pothole(crm, f"SR-{i}") for i in range(3))
    crm.cases.accept_duplicate(follower.id, parent.id)
    crm.cases.accept_duplicate(other.id, parent.id)
    # The parent and one follower selected: the follower is changed once, by following.
    result = crm.bulk.close(case_ids=[parent.id, follower.id], key="k", progress=False)
    assert (result.selected, result.changed, result.skipped) == (2, 2, 0)
    for case in (parent, follower, other):
        assert crm.cases.get(case.id).status is CaseStatus.CLOSED
    events = bulk_events(crm, other, "k")
    assert [e.to_status for e in events] == [CaseStatus.RESOLVED, CaseStatus.CLOSED]
    assert all(e.data["follows"] == str(parent.id) for e in events)
    assert crm.cases.get(other.id).resolution_code == "bulk_closed"


# --------------------------------------------------------------------------------------
# Merge and move


def test_merge(crm: CRM) -> None:
    into, a, b = (pothole(crm, f"SR-{i}") for i in range(3))
    other = graffiti(crm, "SR-g")
    crm.cases.transition(into.id, CaseStatus.RESOLVED, resolution_code="patched")
    result = crm.bulk.merge("SR-0", ["SR-1", b.id, other, into.id], key="m", progress=False)
    assert (result.selected, result.changed, result.skipped) == (4, 2, 2)
    assert result.reasons == {
        "a case cannot duplicate itself": 1,
        "case SR-0 is of case type '001', not '005'": 1,
    }
    for case in (a, b):
        stored = crm.cases.get(case.id)
        assert stored.duplicate_of == into.id
        # Brought to the resolved parent's status, with its resolution code.
        assert (stored.status, stored.resolution_code) == (CaseStatus.RESOLVED, "patched")
        linked, resolved = bulk_events(crm, case, "m")
        assert (linked.kind, linked.data["duplicate_of"], linked.data["accepted"]) == (
            EventKind.LINKED,
            str(into.id),
            True,
        )
        assert (resolved.to_status, resolved.data["follows"]) == (CaseStatus.RESOLVED, str(into.id))
    assert crm.cases.get(other.id).duplicate_of is None
    assert {c.id for c in crm.cases.followers(into)} == {a.id, b.id}
    # Run again (the same cases, given otherwise): done; into a duplicate: refused.
    before = event_count(crm)
    assert crm.bulk.merge(into, [into, other, b, a], key="m", progress=False).already_done
    assert event_count(crm) == before
    with pytest.raises(ValidationError, match="is itself a duplicate"):
        crm.bulk.merge(a, [other], key="m2")


def test_move_case_type(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 3)
    done = crm.cases.transition(pothole(crm, "SR-done").id, CaseStatus.CANCELLED)
    there = crm.cases.open("001", attributes=POTHOLE, queue="pw-water", reference="SR-there")
    graffiti(crm, "SR-g")
    with pytest.raises(ValidationError, match="no queue 'nowhere'"):
        crm.bulk.move_case_type("001", to_queue="nowhere", key="k")
    with pytest.raises(ValidationError, match="no case type"):
        crm.bulk.move_case_type("999", to_queue="pw-water", key="k")
    result = crm.bulk.move_case_type("001", to_queue="pw-water", key="k", progress=False)
    assert (result.selected, result.changed, result.skipped) == (3, 3, 0)
    for case in cases:
        stored = crm.cases.get(case.id)
        assert (stored.queue, stored.assignee) == ("pw-water", bob.id)  # assignee kept
        (event,) = bulk_events(crm, case, "k")
        assert event.kind is EventKind.UPDATED
        assert (event.data["fields"], event.data["from"], event.data["to"]) == (
            "queue",
            "pw-streets",
            "pw-water",
        )
    assert crm.cases.get(done.id).queue == "pw-streets"
    assert bulk_events(crm, there, "k") == []
    assert crm.cases.count_open_by_queue().get("pw-streets") == 1  # the graffiti


# --------------------------------------------------------------------------------------
# Dry runs, resuming, roles


def test_dry_runs_write_nothing(crm: CRM) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 4)
    agent(crm, "ana", "pw-water")
    crm.cases.transition(cases[3].id, CaseStatus.CANCELLED)
    before = snapshot(crm)
    runs: list[BulkResult] = [
        crm.bulk.reassign("bob", to_agent="ana", key="r", dry_run=True),
        crm.bulk.close(case_ids=[c.id for c in cases], key="c", dry_run=True),
        crm.bulk.merge(cases[0], cases[1:], key="m", dry_run=True),
        crm.bulk.move_case_type("001", to_queue="pw-water", key="v", dry_run=True),
    ]
    assert snapshot(crm) == before
    assert all(crm.bulk.job(r.key) is None for r in runs)
    assert all(r.dry_run and not r.already_done for r in runs)
    counts = [(r.selected, r.changed, r.skipped) for r in runs]
    assert counts == [(3, 3, 0), (4, 3, 1), (3, 3, 0), (3, 3, 0)]
    assert runs[1].reasons == {"already final": 1}
    assert runs[0].sample == ("SR-000", "SR-001", "SR-002")


def test_a_dry_run_checks_the_key(crm: CRM) -> None:
    pothole(crm, "SR-1")
    crm.bulk.close(case_type="001", key="k", progress=False)
    with pytest.raises(ValidationError, match="used for close with other parameters"):
        crm.bulk.close(case_type="002", key="k", dry_run=True)
    assert crm.bulk.close(case_type="001", key="k", dry_run=True).already_done


def test_a_job_that_stopped_is_finished_by_running_it_again(crm: CRM, crash: Crash) -> None:
    bob = agent(crm, "bob")
    cases = caseload(crm, bob, 7)
    ana = agent(crm, "ana", "pw-water")
    crm.bulk.batch_size = 2
    crash.after = 3  # dies while telling the observers of the second batch
    with pytest.raises(RuntimeError, match="died"):
        crm.bulk.reassign("bob", to_agent="ana", key="k", progress=False)
    job = crm.bulk.job("k")
    assert job is not None
    assert (job.status, job.selected, job.changed) == ("running", 7, 4)
    assert [crm.cases.get(c.id).assignee for c in cases].count(ana.id) == 4
    result = crm.bulk.reassign("bob", to_agent="ana", key="k", progress=False)
    assert (result.selected, result.changed, result.skipped) == (7, 7, 0)
    assert not result.already_done
    assert result.sample == tuple(c.reference for c in cases[4:])
    for case in cases:
        assert crm.cases.get(case.id).assignee == ana.id
        assert len(bulk_events(crm, case, "k")) == 1  # nothing done twice
    assert crm.bulk.job("k").status == "done"  # type: ignore[union-attr]


def test_a_resumed_job_skips_what_it_did(crm: CRM) -> None:
    cases = [pothole(crm, f"SR-{i}") for i in range(4)]
    ids = [c.id for c in cases[:3]]
    crm.bulk.close(case_ids=ids, key="k", progress=False)
    # As if the process died after the cases but before the job was marked done.
    job = crm.bulk.job("k")
    assert job is not None
    crm._write(attrs.evolve(job, status="running", finished_at=None))  # type: ignore[type-var]
    before = event_count(crm)
    result = crm.bulk.close(case_ids=ids, key="k", progress=False)
    assert (result.selected, result.changed, result.skipped) == (3, 3, 0)
    assert event_count(crm) == before
    assert crm.bulk.job("k").status == "done"  # type: ignore[union-attr]
    # A case closed before the job started is skipped, not counted as done by it.
    crm.cases.transition(cases[3].id, CaseStatus.CANCELLED)
    other = crm.bulk.close(case_ids=[cases[3].id], key="k2", progress=False)
    assert (other.changed, other.skipped, other.reasons) == (0, 1, {"already final": 1})


def test_roles(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roles.db'}"
    with civiccrm.open(url, profile=PROFILE, clock=FixedClock(T0)) as crm:
        bob = agent(crm, "bob")
        caseload(crm, bob, 2)
        agent(crm, "ana")

    def session(role: str) -> CRM:
        actor = civiccrm.Actor(name=f"a {role}", role=role)
        return civiccrm.open(url, profile=PROFILE, clock=FixedClock(T0), actor=actor, purpose="t")

    with session("analyst") as crm, pytest.raises(AccessDeniedError):
        crm.bulk.reassign("bob", to_agent="ana", key="k", dry_run=True)
    # The portal may open cases, but not change many at once.
    with session("public_portal") as crm:
        with pytest.raises(AccessDeniedError, match="import"):
            crm.bulk.move_case_type("001", to_queue="pw-water", key="k")
        assert crm.bulk.job("k") is None
    with session("caseworker") as crm:
        result = crm.bulk.reassign("bob", to_agent="ana", key="k", progress=False)
        assert result.changed == 2
        job = crm.bulk.job("k")
        assert job is not None
        assert job.actor_name == "a caseworker"


# --------------------------------------------------------------------------------------
# The command


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("CIVICCRM_DB", "CIVICCRM_PROFILE", "CIVICCRM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with civiccrm.open(url, profile=PROFILE) as crm:
        for i in range(3):
            graffiti(crm, f"SR-g{i}")  # before anyone works pw-streets: new
        bob = agent(crm, "bob")
        caseload(crm, bob, 3)
        agent(crm, "ana", "pw-water")
    return url


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_cli_reassign(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, text = run(
        "cases",
        "bulk",
        "reassign",
        "--from",
        "bob",
        "--to",
        "ana",
        "--key",
        "k",
        "--dry-run",
        "--db",
        db,
    )
    assert status == 0
    assert "dry run: 3 selected, 3 would be changed" in text
    assert "nothing was written" in text
    status, text = run(
        "--db",
        db,
        "--json",
        "cases",
        "bulk",
        "reassign",
        "--from",
        "bob",
        "--to",
        "ana",
        "--key",
        "k",
    )
    assert status == 0
    (line,) = text.splitlines()
    data = json.loads(line)
    assert data["operation"] == "reassign"
    assert data["key"] == "k"
    assert (data["selected"], data["changed"], data["skipped"], data["waiting"]) == (3, 3, 0, 0)
    assert data["sample"] == ["SR-000", "SR-001", "SR-002"]
    assert data["already_done"] is False
    assert "bulk reassign" in capsys.readouterr().err  # the progress summary
    status, text = run(
        "cases", "bulk", "reassign", "--from", "bob", "--to", "ana", "--key", "k", "--db", db
    )
    assert status == 0
    assert "done already" in text
    status, _ = run("cases", "bulk", "reassign", "--from", "nobody", "--key", "k2", "--db", db)
    assert status == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("civiccrm: error:")
    assert "no agent 'nobody'" in err


def test_cli_close_merge_and_move(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, text = run(
        "cases",
        "bulk",
        "close",
        "--case",
        "SR-000",
        "SR-001",
        "--note",
        "done",
        "--key",
        "c",
        "--db",
        db,
    )
    assert status == 0
    assert "2 selected, 2 changed, 0 skipped" in text
    status, text = run(
        "cases",
        "bulk",
        "close",
        "--status",
        "new",
        "--case-type",
        "005",
        "--opened-before",
        "2999-01-01T00:00:00Z",
        "--key",
        "c2",
        "--db",
        db,
        "--json",
    )
    assert status == 0
    assert json.loads(text)["changed"] == 3
    status, text = run(
        "cases",
        "bulk",
        "merge",
        "--into",
        "SR-000",
        "SR-001",
        "SR-002",
        "SR-g0",
        "--key",
        "m",
        "--db",
        db,
    )
    assert status == 0
    assert "3 selected, 2 changed, 1 skipped" in text
    assert "of case type '001', not '005'" in text
    status, text = run(
        "cases",
        "bulk",
        "move-type",
        "--case-type",
        "001",
        "--to-queue",
        "pw-water",
        "--key",
        "v",
        "--db",
        db,
        "--json",
    )
    assert status == 0
    assert json.loads(text)["selected"] == 0
    capsys.readouterr()
    status, text = run("cases", "bulk", "close", "--key", "x", "--db", db)
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "select the cases" in err[0]
    status, _ = run(
        "cases", "bulk", "close", "--opened-before", "2026-01-01", "--key", "x", "--db", db
    )
    assert status == 2
    assert "time zone" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        run("cases", "bulk", "close", "--case-type", "001", "--db", db)  # no --key
    assert info.value.code == 2
    with civiccrm.open(db, profile=PROFILE) as crm:
        merged = crm.cases.find_by_reference("SR-002")
        assert merged is not None
        assert merged.status is CaseStatus.CLOSED
        assert crm.bulk.job("m") is not None
