"""The CRM facade, on the in-memory backend and on SQLite."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import civiccrm
from civiccrm import (
    CRM,
    ConflictError,
    FixedClock,
    NotFoundError,
    PluginError,
    TransitionError,
    ValidationError,
)
from civiccrm.models import (
    Agent,
    Case,
    CaseStatus,
    CaseSummary,
    Channel,
    Citizen,
    ContactPoint,
    Direction,
    EventKind,
    Interaction,
    Organization,
    Priority,
)
from civiccrm.privacy.retention import RetentionSchedule
from civiccrm.profile import load_profile, springfield_path
from tests.profiles import without_automation

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
_SUMMARY_FIELDS = [f.name for f in attrs.fields(CaseSummary)]
PROFILE = without_automation(load_profile(springfield_path()))


class Recorder:
    """An observer plugin that records what it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @civiccrm.hookimpl
    def civiccrm_case_opened(self, crm: CRM, case: Case) -> None:
        self.seen.append(("opened", case.id))

    @civiccrm.hookimpl
    def civiccrm_case_changed(self, crm: CRM, case: Case, event: Any) -> None:
        self.seen.append((event.kind.value, case.id))

    @civiccrm.hookimpl
    def civiccrm_interaction_logged(self, crm: CRM, interaction: Interaction) -> None:
        self.seen.append(("interaction", interaction.id))


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def crm(url: str, clock: FixedClock, recorder: Recorder) -> Iterator[CRM]:
    with civiccrm.open(url, profile=PROFILE, clock=clock, plugins=[recorder]) as session:
        yield session


def _citizen(crm: CRM, name: str = "Ana") -> Citizen:
    return crm.citizens.create(
        Citizen(given_name=name, contact_points=[ContactPoint.phone("+12175550134")])
    )


def test_open_case_applies_case_type_defaults(crm: CRM, recorder: Recorder) -> None:
    ana = _citizen(crm)
    case = crm.cases.open("001", requester=ana, attributes={"size": "large"}, channel=Channel.PHONE)
    assert case.version == 1
    assert case.status is CaseStatus.NEW
    assert case.queue == "pw-streets"
    assert case.priority is Priority.NORMAL
    assert case.title == "Pothole"
    assert case.opened_at == T0
    assert case.reported_at == T0
    assert crm.cases.get(case.id) == case
    events = crm.cases.events(case)
    assert [e.kind for e in events] == [EventKind.OPENED]
    assert ("opened", case.id) in recorder.seen


def test_open_case_reports_every_problem(crm: CRM) -> None:
    with pytest.raises(ValidationError) as info:
        crm.cases.open(
            "001",
            attributes={"size": "enormous", "colour": "red"},
            requester=Citizen(given_name="Ghost").ref,
            queue="nowhere",
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {"attributes.size", "attributes.colour", "requester", "queue"}
    with pytest.raises(ValidationError) as info:
        crm.cases.open("999")
    assert info.value.problems[0].path == "case_type"
    assert crm.cases.find().items == ()


def test_lifecycle_through_the_facade(crm: CRM, clock: FixedClock, recorder: Recorder) -> None:
    case = crm.cases.open("001", attributes={"size": "small"})
    agent = crm.agents.create(Agent(username="jdoe", display_name="J. Doe", queues=("pw-streets",)))
    clock.advance(minutes=5)
    case = crm.cases.assign(case, agent)
    assert case.status is CaseStatus.ASSIGNED
    assert case.assignee == agent.id
    clock.advance(minutes=5)
    case = crm.cases.transition(case, CaseStatus.IN_PROGRESS)
    assert case.first_response_at == T0 + timedelta(minutes=10)
    case = crm.cases.note(case, "Crew on the way.")
    case = crm.cases.transition(case, CaseStatus.RESOLVED, resolution_code="filled")
    with pytest.raises(TransitionError):
        crm.cases.transition(case, CaseStatus.ASSIGNED)
    case = crm.cases.reopen(case, note="Still there")
    assert case.reopen_count == 1
    assert case.resolved_at is None
    kinds = [e.kind for e in crm.cases.events(case)]
    assert kinds == [
        EventKind.OPENED,
        EventKind.ASSIGNED,
        EventKind.STATUS_CHANGED,
        EventKind.NOTE_ADDED,
        EventKind.STATUS_CHANGED,
        EventKind.REOPENED,
    ]
    assert crm.cases.get(case.id).version == case.version == 6
    assert [k for k, _ in recorder.seen if k != "opened"] == [k.value for k in kinds[1:]]


def test_stale_case_loses(crm: CRM) -> None:
    case = crm.cases.open("001", attributes={"size": "small"})
    first = crm.cases.get(case.id)
    second = crm.cases.get(case.id)
    crm.cases.update(attrs.evolve(first, priority=Priority.HIGH))
    with pytest.raises(ConflictError):
        crm.cases.update(attrs.evolve(second, title="Big hole"))
    with pytest.raises(ConflictError):
        crm.cases.transition(second, CaseStatus.IN_PROGRESS)
    assert crm.cases.get(case.id).title == "Pothole"


def test_update_records_fields_and_refuses_lifecycle_fields(crm: CRM) -> None:
    case = crm.cases.open("001", attributes={"size": "small"})
    updated = crm.cases.update(attrs.evolve(case, priority=Priority.URGENT, tags=("school-zone",)))
    kinds = [(e.kind, e.data) for e in crm.cases.events(case)][1:]
    assert kinds == [
        (EventKind.PRIORITY_CHANGED, {"from": "normal", "to": "urgent"}),
        (EventKind.UPDATED, {"fields": "tags"}),
    ]
    with pytest.raises(ValidationError) as info:
        crm.cases.update(attrs.evolve(updated, status=CaseStatus.CLOSED))
    assert info.value.problems[0].path == "status"
    with pytest.raises(ValidationError):
        crm.cases.update(attrs.evolve(updated, attributes={"size": "gigantic"}))


def test_links_and_duplicates(crm: CRM) -> None:
    parent = crm.cases.open("001", attributes={"size": "large"})
    dup = crm.cases.open("001", attributes={"size": "large"})
    dup = crm.cases.link(dup, duplicate_of=parent)
    assert dup.duplicate_of == parent.id
    with pytest.raises(ValidationError):
        crm.cases.link(dup, parent=uuid.uuid4())


def test_assign_checks_the_agent(crm: CRM) -> None:
    case = crm.cases.open("001", attributes={"size": "small"})
    with pytest.raises(ValidationError) as info:
        crm.cases.assign(case, uuid.uuid4())
    assert info.value.problems[0].path == "assignee"
    agent = crm.agents.create(Agent(username="x", display_name="X", active=False))
    with pytest.raises(ValidationError):
        crm.cases.assign(case, agent)
    with pytest.raises(ValidationError):
        crm.agents.create(Agent(username="x", display_name="Again"))
    assert crm.agents.find_by_username("x") == agent


def test_interactions_and_history(crm: CRM, clock: FixedClock, recorder: Recorder) -> None:
    ana = _citizen(crm)
    case = crm.cases.open("001", requester=ana, attributes={"size": "small"})
    clock.advance(hours=1)
    call = crm.interactions.log(
        Interaction(
            channel=Channel.PHONE,
            direction=Direction.OUTBOUND,
            occurred_at=clock.now(),
            party=ana.ref,
            case_id=case.id,
            body="Called back",
        )
    )
    assert crm.cases.get(case.id).first_response_at == clock.now()
    clock.advance(hours=1)
    crm.interactions.log(
        Interaction(
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            occurred_at=clock.now(),
            party=ana.ref,
        )
    )
    history = crm.history(ana)
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert history[0].event is not None
    assert history[0].event.kind is EventKind.OPENED
    assert any(h.interaction == call for h in history)
    assert len([h for h in history if h.interaction]) == 2
    assert crm.interactions.for_case(case) == [call]
    assert ("interaction", call.id) in recorder.seen


def test_transaction_is_atomic_and_observers_wait_for_commit(crm: CRM, recorder: Recorder) -> None:
    def fail_half_way() -> None:
        with crm.transaction():
            crm.cases.open("001", attributes={"size": "small"})
            assert recorder.seen == []  # not told before commit
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert crm.cases.find().items == ()
    assert recorder.seen == []
    with crm.transaction():
        a = crm.cases.open("001", attributes={"size": "small"})
        b = crm.cases.open("001", attributes={"size": "large"})
        assert recorder.seen == []
    assert recorder.seen == [("opened", a.id), ("opened", b.id)]


def test_queries(crm: CRM, clock: FixedClock) -> None:
    """The SLA policy sets due times; overdue() lists the open cases past theirs."""
    cases = []
    for i in range(6):
        c = crm.cases.open(
            "001" if i % 2 else "002", attributes={"size": "small"} if i % 2 else {"problem": "out"}
        )
        assert c.due_at is not None
        cases.append(c)
        clock.advance(hours=1)
    crm.cases.transition(cases[0], CaseStatus.CANCELLED)
    open_cases = [crm.cases.get(c.id) for c in cases[1:]]
    by_due = sorted(open_cases, key=lambda c: (c.due_at, c.id))  # type: ignore[arg-type, return-value]
    now = by_due[1].due_at + timedelta(microseconds=1)  # type: ignore[operator]
    overdue = crm.cases.overdue(now=now)
    assert [c.id for c in overdue] == [c.id for c in by_due if c.due_at < now]  # type: ignore[operator]
    assert len(overdue) >= 2
    assert crm.cases.overdue(now=cases[0].opened_at) == []
    for summary in overdue:
        assert isinstance(summary, CaseSummary)
        whole = crm.cases.get(summary.id)
        assert {f: getattr(whole, f) for f in _SUMMARY_FIELDS} == attrs.asdict(
            summary, recurse=False
        )
        assert summary.is_open
    assert crm.cases.count_open_by_queue() == {"pw-streets": 3, "pw-traffic": 2}
    page = crm.cases.find(open=True, order_by="due_at", limit=2)
    rest = crm.cases.find(open=True, order_by="due_at", limit=10, after=page.next)
    assert [c.id for c in page.items + rest.items] == [c.id for c in cases[1:]]


def test_bulk_import_is_idempotent(crm: CRM) -> None:
    def legacy() -> Iterator[Case]:
        for n in range(250):
            yield Case(
                case_type="001",
                attributes={"size": "small"},
                opened_at=T0 - timedelta(days=n),
                external_ids={"legacy": f"L-{n}"},
            )

    first = crm.cases.bulk_import(legacy(), batch_size=100)
    assert (first.inserted, first.updated, first.unchanged) == (250, 0, 0)
    again = crm.cases.bulk_import(legacy(), batch_size=100)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 250)
    found = crm.cases.find_by_external_id("legacy", "L-7")
    assert found is not None
    assert found.opened_at == T0 - timedelta(days=7)
    assert [e.kind for e in crm.cases.events(found)] == [EventKind.OPENED]
    assert crm.storage.count("case_event") == {None: 250}


def test_not_found(crm: CRM) -> None:
    with pytest.raises(NotFoundError):
        crm.cases.get(uuid.uuid4())
    with pytest.raises(NotFoundError):
        crm.citizens.get(uuid.uuid4())


def test_unknown_scheme_and_bad_plugin() -> None:
    with pytest.raises(
        PluginError, match=r"no storage backend for 'mongo'.*memory, postgresql, sqlite"
    ):
        civiccrm.open("mongo://x", profile=PROFILE)

    class Misspelled:
        @civiccrm.hookimpl
        def civiccrm_case_opend(self, crm: CRM, case: Case) -> None:
            pass

    with pytest.raises(PluginError, match="civiccrm_case_opend"):
        civiccrm.open("memory://", profile=PROFILE, plugins=[Misspelled()])


def test_no_lost_updates_from_eight_threads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    with civiccrm.open(url, profile=PROFILE) as crm:
        case_id = crm.cases.open("001", attributes={"size": "small"}).id

        def bump() -> None:
            for _ in range(500):

                def once() -> Case:
                    c = crm.cases.get(case_id)
                    return crm.cases.update(attrs.evolve(c, reopen_count=c.reopen_count + 1))

                crm.retry_on_conflict(once, attempts=10_000)

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert crm.cases.get(case_id).reopen_count == 4000


def test_without_retry_the_loser_gets_conflict(url: str) -> None:
    with civiccrm.open(url, profile=PROFILE) as crm:
        case = crm.cases.open("001", attributes={"size": "small"})
        a, b = crm.cases.get(case.id), crm.cases.get(case.id)
        crm.cases.update(attrs.evolve(a, reopen_count=1))
        with pytest.raises(ConflictError) as info:
            crm.cases.update(attrs.evolve(b, reopen_count=1))
        assert info.value.expected_version == 1
        assert info.value.actual_version == 2


def test_bulk_import_needs_external_ids_and_stores_nothing_of_a_bad_batch(crm: CRM) -> None:
    good = Case(case_type="001", attributes={"size": "small"}, external_ids={"legacy": "A"})
    bad = Case(case_type="001", attributes={"size": "small"})
    with pytest.raises(ValidationError) as info:
        crm.cases.bulk_import([good, bad])
    assert info.value.problems[0].path == "[1].external_ids"
    assert crm.storage.count("case") == {None: 0}


def test_a_schema_1_file_gets_case_references_on_open(tmp_path: Path) -> None:
    """Opening a file written before case.reference was a column fills it from the cases."""
    from civiccrm._records import KINDS, SCHEMA
    from civiccrm.adapters import SQLiteStorage
    from civiccrm.adapters._base import Record
    from civiccrm.models import make_converter

    case_kind = SCHEMA.kind("case")
    v1 = attrs.evolve(
        SCHEMA,
        version=1,
        kinds=tuple(
            attrs.evolve(k, columns=tuple(c for c in k.columns if c.name != "reference"))
            if k is case_kind
            else k
            for k in SCHEMA.kinds
        ),
    )
    url = f"sqlite:///{tmp_path / 'old.db'}"
    conv = make_converter()
    old = [
        Case(case_type="001", reference=ref, due_at=T0 - timedelta(hours=i + 1), queue="q")
        for i, ref in enumerate(["SR-1", None, "SR-3"])
    ]
    with SQLiteStorage(url) as storage:
        storage.migrate(v1)
        for c in old:
            r = KINDS[Case].to_record(c, conv)
            cols = {k: v for k, v in r.columns.items() if k != "reference"}
            storage.put(Record(r.kind, r.id, r.version, r.doc, cols), expected_version=0)
    with civiccrm.open(url, profile=load_profile(springfield_path())) as crm:
        got = {s.id: s.reference for s in crm.cases.overdue(now=T0)}
        assert got == {c.id: c.reference for c in old}
        assert [crm.cases.get(c.id).reference for c in old] == ["SR-1", None, "SR-3"]


def test_everything_the_facade_writes_is_read_back_by_the_fast_path(
    crm: CRM, clock: FixedClock
) -> None:
    """
    Reads build models from stored documents without validating them again; a document
    that path cannot take (a field missing, say) falls back to the strict converter.
    Everything the facade writes must take the fast path, and give the same model.
    """
    import json

    from civiccrm._records import KINDS
    from civiccrm.adapters import Query

    ana = _citizen(crm)
    case = crm.cases.open("001", requester=ana, attributes={"size": "small"}, title="Hole")
    crm.cases.note(case, "called back")
    crm.cases.transition(crm.cases.get(case.id), CaseStatus.RESOLVED)
    crm.agents.create(Agent(username="jdoe", display_name="J. Doe", queues=("pw-streets",)))
    # A rotation (assignment through the pipeline) and a bulk job record.
    other = crm.cases.open("001", attributes={"size": "large"})
    assert crm.routing.assign(other.id).case.assignee is not None
    crm.bulk.close(case_ids=[str(other.id)], key="fast-path", progress=False)
    crm.organizations.create(Organization(name="Acme Ltd", external_ids={"tax": "A-1"}))
    # A legal hold, a retention run and the mark of a disposition.
    crm.retention.place_hold(reason="claim", authority="City Attorney", parties=[ana.id])
    review = RetentionSchedule(
        code="review",
        record_class="case",
        trigger="created",
        period="1 day",
        disposition="review",
        authority="GS 1",
    )
    clock.set(T0 + timedelta(days=400))
    run = crm.retention.apply(key="r1", schedules=[review])
    assert run.disposed == 1  # the case of Ana's is held
    crm.interactions.log(
        Interaction(
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=T0,
            party=ana.ref,
            case_id=case.id,
            body="Any news?",
        )
    )
    crm.cases.bulk_import(
        [
            Case(case_type="002", attributes={"problem": "out"}, external_ids={"old": "1"}),
            Case(case_type="001", attributes={"size": "large"}, external_ids={"old": "2"}),
        ]
    )
    # A survey (the outbox has the acknowledgement), and inbound mail: a reply threaded
    # to the case (a receipt) and a message that cannot be read (the quarantine).
    crm.surveys.issue(case.id)
    ref = crm.cases.get(case.id).reference
    reply = f"From: ana@example.org\r\nSubject: Re: [{ref}]\r\n\r\nAny news?\r\n"
    crm.mail.take(reply.encode(), mailbox="zoning")
    crm.mail.take(b"\x00\x01 not mail", mailbox="zoning")
    for kind in KINDS.values():
        records = list(crm.storage.stream(Query(kind.name)))
        assert records, kind.name
        for record in records:
            data = json.loads(record.doc)
            if "_k" in data:
                data = kind._unseal(record, data, crm.keys.get)
            data["version"] = record.version
            fast = kind._trusted(dict(data))
            assert fast == crm.converter.structure(data, kind.cls)
            assert fast == kind.from_record(record, crm.converter, crm.keys.get)
