"""
``crm.retention``: legal holds, plans and dispositions on storage, the certificate,
resumed runs, roles, and ten simulated years of a city's workload checked against an
independent calculation.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import civiccrm
from civiccrm import CRM, FixedClock, ValidationError
from civiccrm._retention import _archive_name
from civiccrm.adapters._base import Filter, Query
from civiccrm.errors import AccessDeniedError, NotFoundError, PolicyError
from civiccrm.models import (
    Case,
    CaseStatus,
    Channel,
    Citizen,
    Direction,
    Interaction,
    Location,
)
from civiccrm.privacy.retention import RetentionSchedule, digest_ids
from civiccrm.profile import load_profile, parse_profile, springfield_path

T0 = datetime(2015, 1, 5, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())
TZ = ZoneInfo(PROFILE.agency.time_zone)
POTHOLE = {"size": "small"}


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def crm(url: str, clock: FixedClock) -> Iterator[CRM]:
    with civiccrm.open(url, profile=PROFILE, clock=clock) as session:
        yield session


def _schedule(**kw: object) -> RetentionSchedule:
    fields: dict[str, object] = {
        "code": "cases",
        "record_class": "case",
        "trigger": "closed",
        "period": "1 year",
        "disposition": "destroy",
        "authority": "GS 1-22 item 5",
    }
    fields.update(kw)
    return RetentionSchedule(**fields)  # type: ignore[arg-type]


def _closed(n: int, *, days: int = 0, requester: Citizen | None = None, **kw: object) -> Case:
    opened = T0 + timedelta(days=days)
    fields: dict[str, object] = {
        "case_type": "001",
        "attributes": POTHOLE,
        "title": f"Pothole {n}",
        "description": "Deep one, call me on 217-555-0199",
        "status": CaseStatus.CLOSED,
        "opened_at": opened,
        "resolved_at": opened + timedelta(days=1),
        "closed_at": opened + timedelta(days=2),
        "external_ids": {"legacy": f"L-{n}"},
        "requester": requester.ref if requester is not None else None,
        "location": Location(latitude=39.781234, longitude=-89.650123, address="12 Elm St"),
    }
    fields.update(kw)
    return Case(**fields)  # type: ignore[arg-type]


def _ids(crm: CRM, kind: str) -> set[str]:
    return {r.id for r in crm.storage.stream(Query(kind))}


# --------------------------------------------------------------------------------------
# The profile's schedules


def test_springfield_declares_its_schedules() -> None:
    codes = {s.code for s in PROFILE.retention}
    assert codes
    assert all(s.authority for s in PROFILE.retention)


def test_a_bad_retention_section_names_each_problem() -> None:
    text = springfield_path().read_text(encoding="utf-8")
    text += """
[[retention]]
code = "x"
record_class = "cases"
trigger = "closed"
period = "forever"
disposition = "destroy"
authority = "GS 1"
case_types = ["999"]
colour = "red"
"""
    with pytest.raises(PolicyError) as info:
        parse_profile(text, source=str(springfield_path()))
    message = str(info.value)
    n = len(PROFILE.retention)
    for part in (
        f"retention[{n}].record_class: 'cases' is not one of",
        f"retention[{n}].period:",
        f"retention[{n}].case_types[0]: no case type '999'",
        f"retention[{n}].colour: unknown setting",
    ):
        assert part in message


# --------------------------------------------------------------------------------------
# Legal holds


def test_holds_are_placed_listed_released_and_audited(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("001", attributes=POTHOLE)
    hold = crm.retention.place_hold(
        reason="Smith v. City of Springfield", authority="City Attorney", cases=[case.id]
    )
    assert crm.retention.holds(in_force=True) == [attrs.evolve(hold, version=1)]
    clock.set(T0 + timedelta(days=3))
    released = crm.retention.release_hold(hold.id, reason="settled")
    assert released.released_at == T0 + timedelta(days=3)
    assert released.release_reason == "settled"
    assert crm.retention.holds(in_force=True) == []
    assert [h.id for h in crm.retention.holds(in_force=False)] == [hold.id]
    with pytest.raises(ValidationError, match="released already"):
        crm.retention.release_hold(hold.id, reason="again")
    with pytest.raises(NotFoundError):
        crm.retention.release_hold("nope", reason="x")
    with pytest.raises(ValidationError, match="reason"):
        crm.retention.release_hold(hold.id, reason=" ")
    actions = [json.loads(e)["action"] for _, e in crm.storage.read_audit()]
    assert "hold" in actions
    assert "release_hold" in actions


def test_a_hold_needs_a_known_case_type(crm: CRM) -> None:
    with pytest.raises(ValidationError, match="'999' is not a case type"):
        crm.retention.place_hold(reason="r", authority="a", case_type="999")


def test_only_roles_allowed_may_hold_or_dispose(url: str, clock: FixedClock) -> None:
    from civiccrm.crm import Actor

    caseworker = Actor(name="cw", role="caseworker")
    with civiccrm.open(url, profile=PROFILE, clock=clock, actor=caseworker, purpose="t") as crm:
        with pytest.raises(AccessDeniedError, match="'hold'"):
            crm.retention.place_hold(reason="r", authority="a", cases=["x"])
        with pytest.raises(AccessDeniedError, match="'retention'"):
            crm.retention.apply(key="k", schedules=[_schedule()])
    supervisor = Actor(name="sup", role="supervisor")
    with civiccrm.open(url, profile=PROFILE, clock=clock, actor=supervisor, purpose="t") as crm:
        crm.retention.place_hold(reason="r", authority="a", case_type="001")
        assert crm.retention.apply(key="k", schedules=[_schedule()]).status == "done"


# --------------------------------------------------------------------------------------
# Plan and apply


def test_destroy_takes_the_case_file_and_keeps_its_mark(crm: CRM, clock: FixedClock) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    crm.cases.bulk_import([_closed(n, days=n, requester=ana) for n in range(5)])
    anonymous = crm.cases.bulk_import([_closed(9, days=0)])
    assert anonymous.inserted == 1
    case = crm.cases.find_by_external_id("legacy", "L-0")
    assert case is not None
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
    clock.set(T0 + timedelta(days=367, hours=12))
    s = [_schedule()]
    plan = crm.retention.plan(schedules=s)
    assert plan.counts == {"cases": {"due": 2, "not_due": 4}}
    run = crm.retention.apply(key="2016-01", schedules=s)
    assert (run.status, run.disposed, json.loads(run.counts)) == (
        "done",
        2,
        {"cases": {"destroy": 2}},
    )
    gone = {str(case.id), str(crm_case_id(crm, "L-9", gone=True))}
    assert not gone & _ids(crm, "case")
    assert (
        not {
            r.columns["case_id"]
            for r in crm.storage.stream(Query("case_event", columns=("case_id",)))
        }
        & gone
    )
    assert _ids(crm, "interaction") == set()
    marks = crm.retention.disposals("2016-01")
    assert {m.record_id for m in marks} == gone
    assert run.digest == digest_ids(f"case:{i}" for i in gone)
    # The person is untouched: only the case file went.
    assert crm.citizens.get(ana.id).given_name == "Ana"
    assert crm.retention.plan(schedules=s).counts == {"cases": {"not_due": 4}}


def crm_case_id(crm: CRM, legacy: str, *, gone: bool = False) -> str:
    """The id a bulk import gives a legacy case (found through its mark once gone)."""
    found = crm.cases.find_by_external_id("legacy", legacy)
    if found is not None:
        return str(found.id)
    assert gone
    marks = [m for m in crm.retention.disposals() if m.record_class == "case"]
    known = {str(c.id) for c in crm.cases.find(limit=1000).items}
    left = [m.record_id for m in marks if m.record_id not in known]
    return left[-1]


def test_anonymise_keeps_the_statistics_and_drops_the_person(crm: CRM, clock: FixedClock) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    crm.cases.bulk_import([_closed(1, requester=ana)])
    case = crm.cases.find_by_external_id("legacy", "L-1")
    assert case is not None
    crm.cases.note(case.id, "Spoke to Ana at 12 Elm St")
    clock.set(T0 + timedelta(days=800))
    s = [_schedule(disposition="anonymise")]
    crm.retention.apply(key="a", schedules=s)
    plain = crm.cases.get(case.id)
    assert (plain.title, plain.description, plain.requester, plain.attributes) == (
        None,
        None,
        None,
        {},
    )
    assert plain.external_ids == {}
    assert plain.location == Location(latitude=39.78, longitude=-89.65)
    assert (plain.case_type, plain.status, plain.closed_at) == (
        "001",
        CaseStatus.CLOSED,
        case.closed_at,
    )
    assert all(e.note is None for e in crm.cases.events(case.id))
    # Not anonymised twice: a later run finds nothing to do.
    clock.set(T0 + timedelta(days=900))
    assert crm.retention.apply(key="b", schedules=s).disposed == 0
    assert crm.retention.plan(schedules=s).counts == {}


def test_review_only_marks(crm: CRM, clock: FixedClock) -> None:
    crm.cases.bulk_import([_closed(1)])
    clock.set(T0 + timedelta(days=800))
    run = crm.retention.apply(key="r", schedules=[_schedule(disposition="review")])
    assert json.loads(run.counts) == {"cases": {"review": 1}}
    assert len(_ids(crm, "case")) == 1
    assert [m.disposition for m in crm.retention.disposals()] == ["review"]


def test_archive_writes_the_whole_case_file_before_destroying(
    crm: CRM, clock: FixedClock, tmp_path: Path
) -> None:
    crm.cases.bulk_import([_closed(n, days=n) for n in range(3)])
    clock.set(T0 + timedelta(days=800))
    s = [_schedule(disposition="archive")]
    with pytest.raises(ValidationError, match="archive_dir"):
        crm.retention.apply(key="x", schedules=s)
    run = crm.retention.apply(key="x", schedules=s, archive_dir=tmp_path / "arch", batch=2)
    files = sorted((tmp_path / "arch").iterdir())
    assert [f.name for f in files] == [_archive_name("x", 1), _archive_name("x", 2)]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(r["case"]["title"] for r in rows) == ["Pothole 0", "Pothole 1", "Pothole 2"]
    assert all(r["authority"] == "GS 1-22 item 5" and r["events"] for r in rows)
    assert run.disposed == 3
    assert _ids(crm, "case") == set()


def test_loose_interactions_follow_their_own_schedule(crm: CRM, clock: FixedClock) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    for days in (0, 100):
        crm.interactions.log(
            Interaction(
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                occurred_at=T0 + timedelta(days=days),
                party=ana.ref,
                body="Hello",
            )
        )
    clock.set(T0 + timedelta(days=400))
    s = [_schedule(code="contacts", record_class="interaction", trigger="created")]
    run = crm.retention.apply(key="i", schedules=s)
    assert run.disposed == 1
    assert len(_ids(crm, "interaction")) == 1


def test_a_held_case_is_kept_until_the_hold_is_released(crm: CRM, clock: FixedClock) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    crm.cases.bulk_import([_closed(1, requester=ana), _closed(2)])
    hold = crm.retention.place_hold(reason="claim", authority="Risk Mgmt", parties=[ana.id])
    clock.set(T0 + timedelta(days=800))
    s = [_schedule()]
    plan = crm.retention.plan(schedules=s, out=Path(crm_tmp(crm)) / "plan.csv")
    assert plan.counts == {"cases": {"due": 1, "held": 1}}
    assert plan.path is not None
    lines = plan.path.read_text().splitlines()
    assert lines[0].split(",") == [
        "record_class",
        "record_id",
        "case_type",
        "status",
        "schedule",
        "disposition",
        "due_at",
        "holds",
    ]
    assert sorted(line.split(",")[3] for line in lines[1:]) == ["due", "held"]
    assert "Ana" not in plan.path.read_text()
    assert crm.retention.apply(key="1", schedules=s).disposed == 1
    crm.retention.release_hold(hold, reason="claim dropped")
    clock.set(T0 + timedelta(days=801))
    assert crm.retention.apply(key="2", schedules=s).disposed == 1
    assert _ids(crm, "case") == set()


def crm_tmp(crm: CRM) -> str:
    import tempfile

    return tempfile.mkdtemp()


def test_a_run_is_idempotent_and_refuses_other_schedules(crm: CRM, clock: FixedClock) -> None:
    crm.cases.bulk_import([_closed(n, days=n) for n in range(5)])
    clock.set(T0 + timedelta(days=800))
    first = crm.retention.apply(key="k", schedules=[_schedule()], batch=2)
    assert (first.disposed, first.batches) == (5, 3)
    again = crm.retention.apply(key="k", schedules=[_schedule()])
    assert again == first
    with pytest.raises(ValidationError, match="other schedules"):
        crm.retention.apply(key="k", schedules=[_schedule(period="2 years")])
    with pytest.raises(ValidationError, match="key"):
        crm.retention.apply(key=" ", schedules=[_schedule()])
    with pytest.raises(ValidationError, match="every case"):
        crm.retention.apply(key="z", schedules=[_schedule(), _schedule(code="b")])
    cert = crm.retention.certificate("k")
    assert cert["disposed"] == 5
    assert cert["schedules"] == [
        {"code": "cases", "authority": "GS 1-22 item 5", "period": "P1Y", "counts": {"destroy": 5}}
    ]
    assert "Pothole" not in json.dumps(cert)


def test_a_run_stopped_between_batches_finishes_as_of_the_same_instant(
    crm: CRM, clock: FixedClock
) -> None:
    crm.cases.bulk_import([_closed(n, days=30 * n) for n in range(8)])
    # (a leap year: a year after closing is 366 days on) 6 are due: n = 0..5
    clock.set(T0 + timedelta(days=2 + 366 + 30 * 5))
    s = [_schedule()]
    seen: list[int] = []

    def stop_after_two(n: int) -> None:
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crm.retention.apply(key="k", schedules=s, batch=2, progress=stop_after_two)
    assert crm.retention.run("k").status == "running"
    assert crm.retention.run("k").disposed == 4
    # Resumed a year later: still judged as of the first start, nothing disposed twice.
    clock.set(T0 + timedelta(days=3000))
    run = crm.retention.apply(key="k", schedules=s, batch=2)
    assert (run.status, run.disposed) == ("done", 6)
    assert len(_ids(crm, "case")) == 2
    with pytest.raises(ValidationError, match="as of"):
        crm.retention.apply(key="k", schedules=s, as_of=T0)


# --------------------------------------------------------------------------------------
# Ten years of a city's workload, month by month


def _months(start: datetime, n: int) -> list[datetime]:
    local = start.astimezone(TZ)
    return [
        datetime.combine(
            local.date() + relativedelta(months=m), local.time(), tzinfo=TZ
        ).astimezone(UTC)
        for m in range(n)
    ]


def test_ten_years_month_by_month_match_an_independent_calculation(tmp_path: Path) -> None:
    rng = random.Random(2026)
    clock = FixedClock(T0)
    schedules = [
        _schedule(code="potholes", case_types=["001"], period="2 years", disposition="destroy"),
        _schedule(
            code="lights",
            case_types=["002"],
            period="3 years",
            cutoff="year_end",
            disposition="anonymise",
        ),
        _schedule(code="general", period="5 years", trigger="created", disposition="destroy"),
    ]
    types = {"001": {"size": "small"}, "002": {"pole_number": "P-1", "problem": "out"}}
    all_types = [ct.code for ct in PROFILE.case_types]
    cases: list[Case] = []
    for n in range(900):
        code = rng.choice(["001", "001", "002", *all_types[:6]])
        opened = T0 + timedelta(minutes=rng.randrange(0, 10 * 365 * 24 * 60))
        closed = (
            opened + timedelta(hours=rng.randrange(1, 24 * 90)) if rng.random() < 0.85 else None
        )
        attrs_for = types.get(code)
        if attrs_for is None:
            ct = PROFILE.case_type(code)
            if any(a.required for a in ct.attributes):
                code, attrs_for = "001", types["001"]
            else:
                attrs_for = {}
        cases.append(
            Case(
                case_type=code,
                attributes=attrs_for,
                status=CaseStatus.CLOSED if closed else CaseStatus.NEW,
                opened_at=opened,
                resolved_at=closed,
                closed_at=closed,
                external_ids={"legacy": f"L-{n}"},
            )
        )
    with civiccrm.open(f"sqlite:///{tmp_path / 'crm.db'}", profile=PROFILE, clock=clock) as crm:
        crm.cases.bulk_import(cases)
        ids = {c.external_ids["legacy"]: str(crm_case(crm, c).id) for c in cases}
        runs = _months(T0 + relativedelta(months=1), 120)
        # Holds: on 30 cases from year 3 to year 7; on lights opened in 2016 from year 4 on.
        held_cases = rng.sample(sorted(ids.values()), 30)
        hold_plan = [
            (runs[36], runs[84], {"cases": held_cases}),
            (
                runs[48],
                None,
                {
                    "case_type": "002",
                    "created_from": datetime(2016, 1, 1, tzinfo=UTC),
                    "created_until": datetime(2017, 1, 1, tzinfo=UTC),
                },
            ),
        ]
        placed: list[tuple[str, datetime | None]] = []
        disposed_at: dict[str, int] = {}
        for m, at in enumerate(runs):
            for i, (start, end, scope) in enumerate(hold_plan):
                if start == at:
                    clock.set(at - timedelta(seconds=1))
                    if "cases" in scope:  # (a court cannot hold what is gone already)
                        scope = {"cases": sorted(set(held_cases) & _ids(crm, "case"))}
                    h = crm.retention.place_hold(reason=f"case {i}", authority="Court", **scope)  # type: ignore[arg-type]
                    placed.append((h.id, end))
            for hold_id, end in placed:
                if end == at:
                    clock.set(at - timedelta(seconds=1))
                    crm.retention.release_hold(hold_id, reason="over")
            clock.set(at)
            run = crm.retention.apply(key=f"m{m:03d}", schedules=schedules, batch=50)
            for mark in crm.retention.disposals(run.id):
                assert mark.record_id not in disposed_at, "disposed of twice"
                disposed_at[mark.record_id] = m
        # The independent calculation, in this test's own terms.
        expected: dict[str, int] = {}
        for c in cases:
            cid = ids[c.external_ids["legacy"]]
            if c.case_type == "001":
                if c.closed_at is None:
                    continue
                local = c.closed_at.astimezone(TZ)
                due_local = local + relativedelta(years=2)
            elif c.case_type == "002":
                if c.closed_at is None:
                    continue
                year_end = datetime(c.closed_at.astimezone(TZ).year + 1, 1, 1, tzinfo=TZ)
                due_local = year_end + relativedelta(years=3)
            else:
                assert c.opened_at is not None
                due_local = c.opened_at.astimezone(TZ) + relativedelta(years=5)
            due = datetime.combine(due_local.date(), due_local.time(), tzinfo=TZ).astimezone(UTC)
            for m, at in enumerate(runs):
                if at < due:
                    continue
                in_force = (cid in held_cases and runs[36] <= at < runs[84]) or (
                    c.case_type == "002"
                    and at >= runs[48]
                    and c.opened_at is not None
                    and datetime(2016, 1, 1, tzinfo=UTC)
                    <= c.opened_at
                    < datetime(2017, 1, 1, tzinfo=UTC)
                )
                if not in_force:
                    expected[cid] = m
                    break
        assert disposed_at == expected
        assert len(expected) > 200  # the test means something
        held_then = [cid for cid in held_cases if cid in expected]
        assert any(expected[cid] >= 84 for cid in held_then)  # kept while held, then disposed
        remaining = _ids(crm, "case")
        for c in cases:
            cid = ids[c.external_ids["legacy"]]
            kept = cid in remaining
            assert kept == (cid not in expected or c.case_type == "002"), c


def crm_case(crm: CRM, case: Case) -> Case:
    found = crm.cases.find_by_external_id("legacy", case.external_ids["legacy"])
    assert found is not None
    return found


def test_interactions_of_a_case_are_found_by_the_facts_filter(crm: CRM) -> None:
    # Only interactions with no case are retention's own records.
    query = Query("interaction", (Filter("case_id", "is_null"),))
    assert list(crm.storage.stream(query)) == []


# --------------------------------------------------------------------------------------
# The command


def _run(*argv: str) -> tuple[int, str]:
    import io

    from civiccrm.cli import main

    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_the_retention_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CIVICCRM_DB", "CIVICCRM_PROFILE", "CIVICCRM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "cli.db")
    with civiccrm.open(f"sqlite:///{db}", profile=PROFILE, clock=FixedClock(T0)) as crm:
        crm.cases.bulk_import([_closed(n, days=n) for n in range(6)])
        held = crm.cases.find_by_external_id("legacy", "L-0")
        assert held is not None
    status, text = _run(
        "retention",
        "hold",
        "--db",
        db,
        "--reason",
        "claim",
        "--authority",
        "Court",
        "--case",
        str(held.id),
    )
    assert status == 0
    assert text.startswith("legal hold ")
    hold_id = text.split()[2]
    status, text = _run("retention", "holds", "--db", db)
    assert (status, text.splitlines()[0]) == (0, "1 legal hold")
    status, text = _run("retention", "plan", "--db", db, "--out", "plan.csv")
    assert status == 0
    assert "5 due, 1 held" in text
    assert "street-requests: 5 due, 1 held" in text
    assert (tmp_path / "plan.csv").read_text().count("\n") == 7
    status, text = _run(
        "--json",
        "retention",
        "apply",
        "--db",
        db,
        "--key",
        "k",
        "--archive-dir",
        "archive",
        "--certificate",
        "cert.json",
    )
    assert status == 0
    cert = json.loads(text)
    assert cert["disposed"] == 5
    assert json.loads((tmp_path / "cert.json").read_text()) == cert
    assert "disposing of records" in capsys.readouterr().err
    status, text = _run("retention", "certificate", "--db", db, "--key", "k")
    assert json.loads(text)["digest"] == cert["digest"]
    status, text = _run("retention", "release", "--db", db, hold_id, "--reason", "over")
    assert (status, text.strip()) == (0, f"legal hold {hold_id} released")
    status, _ = _run("retention", "apply", "--db", db, "--key", "k2", "--as-of", "yesterday")
    assert status == 2
    assert "as_of: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    status, _ = _run(
        "retention", "apply", "--db", db, "--key", "k3", "--as-of", "2999-01-01T00:00:00Z"
    )
    assert status == 2
    assert "as_of: is in the future" in capsys.readouterr().err
    status, _ = _run("retention", "plan", "--db", str(tmp_path / "none.db"))
    assert status == 2
    assert "no database at" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# On PostgreSQL (skipped without a configured server, as tests/test_postgresql_backend.py)

PG_URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL", "")


@pytest.mark.skipif(
    not PG_URL,
    reason='no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` and set '
    "CIVICCRM_TEST_POSTGRESQL_URL",
)
def test_dispositions_on_postgresql(tmp_path: Path) -> None:
    import psycopg

    from civiccrm import LocalKeyProvider

    schema = f"civiccrm_t_{uuid.uuid4().hex[:16]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    clock = FixedClock(T0)
    try:
        with civiccrm.open(
            url, profile=PROFILE, clock=clock, key=LocalKeyProvider.generate()
        ) as crm:
            ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
            crm.cases.bulk_import([_closed(n, days=n, requester=ana) for n in range(30)])
            crm.cases.bulk_import([_closed(100 + n, days=n, case_type="020") for n in range(5)])
            kept = crm.cases.find_by_external_id("legacy", "L-3")
            assert kept is not None
            crm.retention.place_hold(reason="claim", authority="Court", cases=[kept.id])
            clock.set(T0 + timedelta(days=3 * 365))
            schedules = [
                _schedule(code="potholes", case_types=["001"], disposition="archive"),
                _schedule(code="rent", case_types=["020"], disposition="anonymise"),
            ]
            seen: list[int] = []

            def stop(n: int) -> None:
                seen.append(n)
                if len(seen) == 3:
                    raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                crm.retention.apply(
                    key="k", schedules=schedules, batch=4, archive_dir=tmp_path, progress=stop
                )
            run = crm.retention.apply(key="k", schedules=schedules, batch=4, archive_dir=tmp_path)
            assert json.loads(run.counts) == {
                "potholes": {"archive": 29},
                "rent": {"anonymise": 5},
            }
            marks = crm.retention.disposals("k")
            assert run.digest == digest_ids(m.id for m in marks)
            assert _ids(crm, "case") == {str(kept.id)} | {
                m.record_id for m in marks if m.disposition == "anonymise"
            }
            archived = [
                json.loads(line)["record_id"]
                for f in sorted(tmp_path.glob("k-*.jsonl"))
                for line in f.read_text().splitlines()
            ]
            assert sorted(archived) == sorted(
                m.record_id for m in marks if m.disposition == "archive"
            )
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --------------------------------------------------------------------------------------
# A state machine: holds placed and released, time passing, runs applied, at random


class RetentionMachine(RuleBasedStateMachine):
    """Against a model kept by the test: a record is disposed of by the first run whose
    instant is past its due time while no hold covering it is in force, and never again."""

    cases_ = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T0)
        self.crm = civiccrm.open("memory://", profile=PROFILE, clock=self.clock)
        self.schedule = _schedule(period="1 year", cutoff="month_end")
        self.due: dict[str, datetime] = {}
        self.holds: dict[str, set[str]] = {}  # hold id -> case ids, while in force
        self.disposed: dict[str, str] = {}  # case id -> run key
        self.runs = 0
        self.n = 0

    def teardown(self) -> None:
        self.crm.close()

    @rule(target=cases_, days=st.integers(0, 800))
    def close_a_case(self, days: int) -> str:
        self.n += 1
        closed_at = self.clock.now() - timedelta(days=days)
        opened = closed_at - timedelta(days=2)
        self.crm.cases.bulk_import([_closed(self.n, opened_at=opened, closed_at=closed_at)])
        found = self.crm.cases.find_by_external_id("legacy", f"L-{self.n}")
        assert found is not None
        self.due[str(found.id)] = self.schedule.due_at(closed_at, TZ)
        return str(found.id)

    @rule(held=st.lists(cases_, min_size=1, max_size=3, unique=True))
    def place_a_hold(self, held: list[str]) -> None:
        held = [cid for cid in held if cid not in self.disposed]
        if not held:
            return
        hold = self.crm.retention.place_hold(reason="claim", authority="Court", cases=held)
        self.holds[hold.id] = set(held)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def release_a_hold(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        self.crm.retention.release_hold(hold_id, reason="over")
        del self.holds[hold_id]

    @rule(days=st.integers(1, 200))
    def time_passes(self, days: int) -> None:
        self.clock.set(self.clock.now() + timedelta(days=days))

    @rule()
    def apply(self) -> None:
        self.runs += 1
        key = f"run-{self.runs}"
        now = self.clock.now()
        held = set().union(*self.holds.values()) if self.holds else set()
        expected = {
            cid
            for cid, due in self.due.items()
            if cid not in self.disposed and due <= now and cid not in held
        }
        run = self.crm.retention.apply(key=key, schedules=[self.schedule], batch=3)
        got = {m.record_id for m in self.crm.retention.disposals(key)}
        assert got == expected
        assert run.disposed == len(expected)
        for cid in got:
            self.disposed[cid] = key

    @invariant()
    def disposed_cases_are_gone_and_the_rest_stay(self) -> None:
        stored = _ids(self.crm, "case")
        assert stored == set(self.due) - set(self.disposed)


TestRetentionMachine = RetentionMachine.TestCase
TestRetentionMachine.settings = settings(max_examples=40, stateful_step_count=20)


def test_party_schedules_are_refused_until_they_are_applied(crm: CRM) -> None:
    text = springfield_path().read_text(encoding="utf-8")
    text += """
[[retention]]
code = "people"
record_class = "party"
trigger = "created"
period = "10 years"
disposition = "destroy"
authority = "GS 1"
"""
    with pytest.raises(PolicyError, match="'party' schedules are not applied yet"):
        parse_profile(text, source=str(springfield_path()))
    party = _schedule(code="people", record_class="party", trigger="created")
    with pytest.raises(ValidationError, match="'party' schedules are not applied yet"):
        crm.retention.plan(schedules=[party])


# --------------------------------------------------------------------------------------
# From the review: holds are judged now, every time


def test_a_hold_placed_while_a_run_was_stopped_protects_on_resume(
    crm: CRM, clock: FixedClock
) -> None:
    crm.cases.bulk_import([_closed(n, days=n) for n in range(6)])
    clock.set(T0 + timedelta(days=800))
    s = [_schedule()]

    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crm.retention.apply(key="k", schedules=s, batch=2, progress=stop)
    left = sorted(_ids(crm, "case"))
    assert len(left) == 4
    clock.set(T0 + timedelta(days=801))
    crm.retention.place_hold(reason="claim", authority="Court", cases=[left[0]])
    assert crm.retention.apply(key="k", schedules=s, batch=2).disposed == 5
    assert _ids(crm, "case") == {left[0]}
    # Judged as of an earlier instant, a hold placed since still counts.
    crm.cases.bulk_import([_closed(50, days=1)])
    fresh = crm_case_id(crm, "L-50")
    clock.set(T0 + timedelta(days=802))
    crm.retention.place_hold(reason="claim", authority="Court", cases=[fresh])
    run = crm.retention.apply(key="k2", schedules=s, as_of=T0 + timedelta(days=801))
    assert run.disposed == 0
    assert fresh in _ids(crm, "case")


def test_a_hold_placed_during_a_run_protects_the_rest(crm: CRM, clock: FixedClock) -> None:
    crm.cases.bulk_import([_closed(n, days=n) for n in range(6)])
    clock.set(T0 + timedelta(days=800))
    placed: list[str] = []

    def hold_the_rest(n: int) -> None:
        if not placed:
            rest = sorted(_ids(crm, "case"))
            crm.retention.place_hold(reason="claim", authority="Court", cases=rest)
            placed.extend(rest)

    run = crm.retention.apply(key="k", schedules=[_schedule()], batch=2, progress=hold_the_rest)
    assert run.disposed == 2
    assert _ids(crm, "case") == set(placed)


def test_a_party_hold_keeps_the_cases_they_spoke_on(crm: CRM, clock: FixedClock) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    bob = crm.citizens.create(Citizen(given_name="Bob", family_name="Ode"))
    crm.cases.bulk_import([_closed(1, requester=ana)])
    case = crm.cases.find_by_external_id("legacy", "L-1")
    assert case is not None
    crm.interactions.log(
        Interaction(
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=T0,
            party=bob.ref,
            case_id=case.id,
            body="I saw it happen",
        )
    )
    crm.retention.place_hold(reason="claim", authority="Court", parties=[bob.id])
    clock.set(T0 + timedelta(days=800))
    assert crm.retention.plan(schedules=[_schedule()]).counts == {"cases": {"held": 1}}
    assert crm.retention.apply(key="k", schedules=[_schedule()]).disposed == 0
    assert len(_ids(crm, "interaction")) == 1


def test_holds_name_records_exactly(crm: CRM) -> None:
    case = crm.cases.open("001", attributes=POTHOLE)
    hold = crm.retention.place_hold(reason="r", authority="a", cases=[str(case.id).upper()])
    assert hold.cases == (str(case.id),)
    with pytest.raises(NotFoundError, match="cases\\[1\\]"):
        crm.retention.place_hold(reason="r", authority="a", cases=[case.id, uuid.uuid4()])
    with pytest.raises(ValidationError, match="'SR-TYPO-1' is not a record id"):
        crm.retention.place_hold(reason="r", authority="a", cases=["SR-TYPO-1"])
    with pytest.raises(NotFoundError, match="party"):
        crm.retention.place_hold(reason="r", authority="a", parties=[uuid.uuid4()])


def test_archive_files_of_two_keys_never_collide(
    crm: CRM, clock: FixedClock, tmp_path: Path
) -> None:
    assert _archive_name("2016/02", 1) != _archive_name("2016:02", 1)
    crm.cases.bulk_import([_closed(n, days=n) for n in range(2)])
    clock.set(T0 + timedelta(days=800))
    s = [_schedule(disposition="archive")]
    crm.retention.apply(key="2016/02", schedules=s, archive_dir=tmp_path, batch=1)
    crm.cases.bulk_import([_closed(9, days=3)])
    crm.retention.apply(key="2016:02", schedules=s, archive_dir=tmp_path, batch=1)
    titles = sorted(
        json.loads(line)["case"]["title"]
        for f in tmp_path.glob("*.jsonl")
        for line in f.read_text().splitlines()
    )
    assert titles == ["Pothole 0", "Pothole 1", "Pothole 9"]


def test_a_half_written_archive_file_is_removed_when_the_run_goes_on(
    crm: CRM, clock: FixedClock, tmp_path: Path
) -> None:
    crm.cases.bulk_import([_closed(n, days=n) for n in range(2)])
    clock.set(T0 + timedelta(days=800))
    folder = tmp_path / "archive"
    folder.mkdir()
    part = folder / f".{_archive_name('k', 1)}.abc123.part"
    part.write_text('{"title": "Pothole 0", "description": "call 217-555-0199"}')
    crm.retention.apply(key="k", schedules=[_schedule(disposition="archive")], archive_dir=folder)
    assert not part.exists()
    assert [f.name for f in folder.iterdir()] == [_archive_name("k", 1)]


def test_a_case_imported_again_after_it_was_destroyed_is_due_again(
    crm: CRM, clock: FixedClock
) -> None:
    ana = crm.citizens.create(Citizen(given_name="Ana", family_name="Lima"))
    crm.cases.bulk_import([_closed(1, requester=ana)])
    clock.set(T0 + timedelta(days=800))
    assert crm.retention.apply(key="a", schedules=[_schedule()]).disposed == 1
    crm.cases.bulk_import([_closed(1, requester=ana)])  # a legacy sync brings it back
    assert len(_ids(crm, "case")) == 1
    run = crm.retention.apply(key="b", schedules=[_schedule()])
    assert run.disposed == 1
    assert _ids(crm, "case") == set()
    assert [m.run for m in crm.retention.disposals()] == ["b"]


def test_anonymising_drops_tags_and_the_import_keys(crm: CRM, clock: FixedClock) -> None:
    crm.cases.bulk_import(
        [_closed(1, tags=("wheelchair-user",), external_ids={"benefits-ssn": "078-05-1120"})]
    )
    case = crm.cases.find_by_external_id("benefits-ssn", "078-05-1120")
    assert case is not None
    clock.set(T0 + timedelta(days=800))
    crm.retention.apply(key="a", schedules=[_schedule(disposition="anonymise")])
    plain = crm.cases.get(case.id)
    assert (plain.tags, plain.required_skills, plain.external_ids) == ((), (), {})
    for event in crm.cases.events(case.id):
        assert "078-05-1120" not in json.dumps(event.data)
