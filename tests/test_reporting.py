"""
KPI reports (civiccrm.reporting): every figure equals an independent calculation from
the case and survey models on a seeded workload, whether the database's aggregate
queries or Python over streamed columns computes it, on memory, SQLite and (with
CIVICCRM_TEST_POSTGRESQL_URL) PostgreSQL.
"""

from __future__ import annotations

import math
import os
import random
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import CRM, FixedClock, TransitionError, ValidationError
from civiccrm._keys import LocalKeyProvider
from civiccrm._workload import WorkloadGenerator
from civiccrm.adapters._memory import MemoryStorage
from civiccrm.comms._surveys import SurveyError
from civiccrm.models import Agent, Case, CaseStatus, Survey, allowed_transitions
from civiccrm.profile import load_profile, springfield_path
from civiccrm.reporting import AGING_BUCKETS, Dimension, KpiReport
from tests.profiles import without_automation

PROFILE = without_automation(load_profile(springfield_path()))
ZONE = PROFILE.agency.zone
#: The workload starts two weeks before the spring daylight-saving change (Chicago).
T0 = datetime(2026, 2, 20, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PG_URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL")


# --------------------------------------------------------------------------------------
# A seeded workload, driven through the facade with a controllable clock


@attrs.define
class Workload:
    crm: CRM
    clock: FixedClock
    #: Surveys issued and not answered yet: (token, case id).
    tokens: list[tuple[str, uuid.UUID]] = attrs.Factory(list)


def _act(w: Workload, rng: random.Random, case_id: uuid.UUID, agents: Sequence[Agent]) -> None:
    """One random legal step of a case's lifecycle (and of its surveys)."""
    crm = w.crm
    case = crm.cases.get(case_id)
    moves = sorted(allowed_transitions(case.status), key=lambda s: s.value)
    try:
        if w.tokens and rng.random() < 0.15:
            token, _ = w.tokens.pop(rng.randrange(len(w.tokens)))
            crm.surveys.answer(token, rng.choice((1, 2, 3, 4, 4, 5, 5)))
            return
        if case.status is CaseStatus.NEW and rng.random() < 0.7:
            crm.cases.assign(case, rng.choice(agents).id)
            return
        if not moves:
            return
        to = rng.choice(moves)
        if to is CaseStatus.ASSIGNED:
            crm.cases.assign(case, rng.choice(agents).id)
            return
        if to is CaseStatus.NEW:
            crm.cases.assign(case, None)
            return
        moved = crm.cases.transition(
            case, to, resolution_code="completed" if to is CaseStatus.RESOLVED else None
        )
        if moved.status is CaseStatus.RESOLVED and rng.random() < 0.6:
            issued = crm.surveys.issue(moved)
            w.tokens.append((issued.token, moved.id))
    except (TransitionError, ValidationError, SurveyError):
        pass  # a move the case's state does not allow now: skip it


def build_workload(crm: CRM, clock: FixedClock, *, seed: int, cases: int = 36) -> Workload:
    """
    Agents, a few cases imported in bulk (no business times: "not counted"), and
    ``cases`` cases opened over about four weeks and moved at random along their
    lifecycle (reopens, pending, cancellations, surveys issued and answered).
    """
    rng = random.Random(seed)
    w = Workload(crm, clock)
    queues = [q.code for q in PROFILE.queues][:6]
    agents = [
        crm.agents.create(
            Agent(username=f"agent-{i}", display_name=f"Agent {i}", queues=(queues[i],))
        )
        for i in range(len(queues))
    ]
    gen = WorkloadGenerator(PROFILE, seed=seed, now=clock.now(), days=10)
    imported = []
    for i in range(5):
        c = gen.case()
        opened = T0 + timedelta(hours=rng.uniform(-200, 300))
        status = rng.choice((CaseStatus.RESOLVED, CaseStatus.CLOSED, CaseStatus.IN_PROGRESS))
        done = opened + timedelta(hours=rng.uniform(1, 100))
        imported.append(
            attrs.evolve(
                c,
                opened_at=opened,
                reported_at=opened,
                updated_at=done,
                status=status,
                first_response_at=opened + timedelta(hours=1),
                resolved_at=None if status is CaseStatus.IN_PROGRESS else done,
                closed_at=done if status is CaseStatus.CLOSED else None,
                assignee=agents[i % len(agents)].id,
                satisfaction=rng.choice((None, 2, 5)),
                external_ids={"legacy": f"L{i}"},
            )
        )
    crm.cases.bulk_import(imported)
    opened_ids: list[uuid.UUID] = []
    for _ in range(cases):
        clock.advance(minutes=rng.randint(0, 1100))
        template = gen.case()
        case = crm.cases.open(
            template.case_type,
            title=template.title,
            channel=template.channel,
            location=template.location,
            attributes=dict(template.attributes),
        )
        opened_ids.append(case.id)
        for _ in range(rng.randint(0, 4)):
            clock.advance(minutes=rng.randint(1, 1800))
            _act(w, rng, rng.choice(opened_ids), agents)
    for _ in range(cases):
        clock.advance(minutes=rng.randint(1, 600))
        _act(w, rng, rng.choice(opened_ids), agents)
    return w


# --------------------------------------------------------------------------------------
# The independent calculation: from the models, the plain way


def _in(at: datetime | None, since: datetime, until: datetime) -> bool:
    return at is not None and since <= at < until


def _nearest(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    return sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]


def _monday(at: datetime) -> date:
    day = at.astimezone(ZONE).date()
    return day - timedelta(days=day.weekday())


def _open_at(c: Case, until: datetime) -> bool:
    if c.opened_at is None or c.opened_at >= until:
        return False
    if c.status.is_open:
        return True
    if c.resolved_at is not None:
        return c.resolved_at >= until
    return c.closed_at is not None and c.closed_at >= until


def _time(cases: list[Case], seconds: str, met: str) -> dict[str, Any]:
    values = [getattr(c, seconds) for c in cases if getattr(c, seconds) is not None]
    judged = [getattr(c, met) for c in cases if getattr(c, met) is not None]
    on_time = sum(judged)
    return {
        "cases": len(cases),
        "measured": len(values),
        "not_measured": len(cases) - len(values),
        "median_seconds": _nearest(values, 0.5),
        "p90_seconds": _nearest(values, 0.9),
        "judged": len(judged),
        "on_time": on_time,
        "compliance": on_time / len(judged) if judged else None,
    }


def _kpis(
    cases: list[Case], surveys: list[Survey], since: datetime, until: datetime
) -> dict[str, Any]:
    opened = [c for c in cases if _in(c.opened_at, since, until)]
    resolved = [c for c in cases if _in(c.resolved_at, since, until)]
    responded = [c for c in cases if _in(c.first_response_at, since, until)]
    backlog = [c for c in cases if _open_at(c, until)]
    mix: dict[str, int] = {}
    for c in opened:
        mix[c.channel.value] = mix.get(c.channel.value, 0) + 1
    aging = []
    for label, low, high in AGING_BUCKETS:
        n = 0
        for c in backlog:
            assert c.opened_at is not None
            days = (until - c.opened_at) // DAY
            n += low <= days and (high is None or days <= high)
        aging.append({"bucket": label, "count": n})
    scores = [c.satisfaction for c in resolved if c.satisfaction is not None]
    issued = [s for s in surveys if since <= s.issued_at < until]
    answered = sum(s.responded_at is not None for s in issued)
    reopened = sum(c.reopen_count > 0 for c in resolved)
    return {
        "opened": len(opened),
        "channels": [
            {"channel": ch, "count": n, "share": n / len(opened)}
            for ch, n in sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "resolved": len(resolved),
        "reopened": reopened,
        "reopen_rate": reopened / len(resolved) if resolved else None,
        "first_response": _time(responded, "response_seconds", "response_met"),
        "resolution": _time(resolved, "resolution_seconds", "resolution_met"),
        "backlog": len(backlog),
        "aging": aging,
        "satisfaction": {
            "scores": len(scores),
            "mean": sum(scores) / len(scores) if scores else None,
            "satisfied": sum(s >= 4 for s in scores),
            "csat": sum(s >= 4 for s in scores) / len(scores) if scores else None,
            "surveys_issued": len(issued),
            "surveys_responded": answered,
            "response_rate": answered / len(issued) if issued else None,
        },
    }


@attrs.frozen
class Truth:
    """Everything a report reads, as models (decrypted through the facade)."""

    cases: list[Case]
    surveys: dict[uuid.UUID, list[Survey]]
    usernames: dict[uuid.UUID, str]


def _truth(crm: CRM) -> Truth:
    cases: list[Case] = []
    page = crm.cases.find(limit=500)
    cases.extend(page.items)
    while page.next is not None:
        page = crm.cases.find(limit=500, after=page.next)
        cases.extend(page.items)
    surveys = {c.id: crm.surveys.for_case(c) for c in cases}
    usernames = {a.id: a.username for a in crm.agents.list(limit=1000).items}
    return Truth(cases, surveys, usernames)


def _key(c: Case, by: Dimension, truth: Truth) -> str | None:
    if by is Dimension.DEPARTMENT:
        return PROFILE.case_type(c.case_type).department
    if by is Dimension.QUEUE:
        return c.queue
    if by is Dimension.CASE_TYPE:
        return c.case_type
    if by is Dimension.CHANNEL:
        return c.channel.value
    if by is Dimension.AGENT:
        return None if c.assignee is None else truth.usernames[c.assignee]
    return c.district


def _name(by: Dimension, key: str | None) -> str | None:
    names: dict[Dimension, dict[str, str]] = {
        Dimension.DEPARTMENT: {d.code: d.name for d in PROFILE.departments},
        Dimension.QUEUE: {q.code: q.name for q in PROFILE.queues},
        Dimension.CASE_TYPE: {c.code: c.name for c in PROFILE.case_types},
        Dimension.DISTRICT: {d.code: d.name for d in PROFILE.routing.districts.districts},
    }
    return None if key is None else names.get(by, {}).get(key)


def _in_slice(c: Case, piece: dict[str, list[str]], truth: Truth) -> bool:
    checks = {
        "departments": PROFILE.case_type(c.case_type).department,
        "queues": c.queue,
        "case_types": c.case_type,
        "channels": c.channel.value,
        "agents": None if c.assignee is None else truth.usernames[c.assignee],
        "districts": c.district,
    }
    return all(checks[k] in v for k, v in piece.items())


def expected(
    truth: Truth,
    since: datetime,
    until: datetime,
    piece: dict[str, list[str]],
    by: Dimension | None,
) -> dict[str, Any]:
    """The report's figures (``KpiReport.to_dict()`` without ``computed``), by hand."""
    cases = [c for c in truth.cases if _in_slice(c, piece, truth)]
    surveys = [s for c in cases for s in truth.surveys[c.id]]
    groups = []
    if by is not None:
        keys = {_key(c, by, truth) for c in cases}
        for key in sorted(keys, key=lambda k: (k is None, k or "")):
            members = [c for c in cases if _key(c, by, truth) == key]
            kpis = _kpis(members, [s for c in members for s in truth.surveys[c.id]], since, until)
            if (
                kpis["opened"]
                or kpis["resolved"]
                or kpis["first_response"]["cases"]
                or kpis["backlog"]
                or kpis["satisfaction"]["surveys_issued"]
            ):
                groups.append({"key": key, "name": _name(by, key), **kpis})
    weeks = []
    monday = _monday(since)
    last = (until - timedelta(microseconds=1)).astimezone(ZONE).date()
    while monday <= last:
        start = datetime.combine(monday, time(0), tzinfo=ZONE)
        end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=ZONE)
        weeks.append(
            {
                "week": monday.isoformat(),
                "opened": sum(
                    _in(c.opened_at, since, until) and _monday(c.opened_at) == monday  # type: ignore[arg-type]
                    for c in cases
                ),
                "resolved": sum(
                    _in(c.resolved_at, since, until) and _monday(c.resolved_at) == monday  # type: ignore[arg-type]
                    for c in cases
                ),
                "partial": since > start or until < end,
            }
        )
        monday += timedelta(days=7)
    per_agent: dict[str | None, int] = {}
    for c in cases:
        if _in(c.resolved_at, since, until):
            name = None if c.assignee is None else truth.usernames[c.assignee]
            per_agent[name] = per_agent.get(name, 0) + 1
    agents = [
        {"agent": a, "resolved": n}
        for a, n in sorted(per_agent.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    ]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "time_zone": PROFILE.agency.time_zone,
        "slice": piece,
        "by": None if by is None else by.value,
        "total": _kpis(cases, surveys, since, until),
        "groups": groups,
        "weeks": weeks,
        "agents": agents,
    }


def figures(report: KpiReport) -> dict[str, Any]:
    data = report.to_dict()
    data.pop("computed")
    return data


# --------------------------------------------------------------------------------------
# Fixtures: one workload per backend, built once


def _backends() -> list[Any]:
    params: list[Any] = ["memory", "sqlite"]
    params.append(
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(PG_URL is None, reason="CIVICCRM_TEST_POSTGRESQL_URL not set"),
        )
    )
    return params


@pytest.fixture(scope="module", params=_backends())
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workload, Truth]]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'crm.db'}"
    else:
        assert PG_URL is not None
        schema = f"civiccrm_r_{uuid.uuid4().hex[:12]}"
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    clock = FixedClock(T0)
    key = LocalKeyProvider.generate()
    crm = civiccrm.open(url, profile=PROFILE, clock=clock, key=key, load_entry_points=False)
    try:
        w = build_workload(crm, clock, seed=20260220)
        yield w, _truth(crm)
    finally:
        crm.close()
        if request.param == "postgresql":
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_DEPARTMENTS = [d.code for d in PROFILE.departments]
_QUEUES = [q.code for q in PROFILE.queues][:8]
_CHANNELS = ["phone", "web", "email", "mobile_app", "walk_in"]
_DISTRICTS = list(PROFILE.routing.districts.codes())


@st.composite
def _slices(draw: st.DrawFn) -> dict[str, list[str]]:
    choices = {
        "departments": _DEPARTMENTS,
        "queues": _QUEUES,
        "channels": _CHANNELS,
        "agents": [f"agent-{i}" for i in range(6)],
        "districts": _DISTRICTS,
    }
    piece: dict[str, list[str]] = {}
    for name in draw(st.lists(st.sampled_from(sorted(choices)), max_size=2, unique=True)):
        piece[name] = draw(
            st.lists(st.sampled_from(choices[name]), min_size=1, max_size=3, unique=True)
        )
    return piece


_periods = st.tuples(
    st.integers(min_value=-6 * 24 * 60, max_value=30 * 24 * 60),  # start, minutes from T0
    st.integers(min_value=60, max_value=40 * 24 * 60),  # length in minutes
)


def _check(
    w: Workload,
    truth: Truth,
    since: datetime,
    until: datetime,
    piece: dict[str, list[str]],
    by: Dimension | None,
) -> None:
    want = expected(truth, since, until, piece, by)
    for compute in ("database", "stream"):
        report = w.crm.reports.kpis(
            since=since,
            until=until,
            by=by,
            compute=compute,
            **piece,  # type: ignore[arg-type]
        )
        assert report.computed == compute
        got = figures(report)
        assert got["total"] == want["total"], compute
        assert got == want, compute


# --------------------------------------------------------------------------------------
# Tests


@settings(max_examples=25)
@given(period=_periods, piece=_slices(), by=st.none() | st.sampled_from(Dimension))
def test_figures_equal_an_independent_calculation(
    seeded: tuple[Workload, Truth],
    period: tuple[int, int],
    piece: dict[str, list[str]],
    by: Dimension | None,
) -> None:
    """Any period, slice and grouping: the report is the plain calculation, both ways."""
    w, truth = seeded
    since = T0 + timedelta(minutes=period[0])
    until = since + timedelta(minutes=period[1])
    _check(w, truth, since, until, piece, by)


@pytest.mark.parametrize("by", [None, *Dimension])
def test_the_whole_workload_by_each_dimension(
    seeded: tuple[Workload, Truth], by: Dimension | None
) -> None:
    """Every case of the workload in the period: something in every KPI."""
    w, truth = seeded
    since = datetime.combine(date(2026, 2, 9), time(0), tzinfo=ZONE)
    until = w.clock.now() + DAY
    _check(w, truth, since, until, {}, by)
    report = w.crm.reports.kpis(since=since, until=until, by=by)
    total = report.total
    assert total.opened >= 36
    assert total.resolved > 0
    assert total.backlog > 0
    assert total.resolution.measured > 0
    assert total.resolution.not_measured > 0  # the cases imported in bulk
    assert total.satisfaction.surveys_issued > 0
    assert total.satisfaction.scores > 0
    assert len(report.weeks) >= 5
    assert any(w.partial for w in report.weeks)


def test_dates_are_agency_midnights(seeded: tuple[Workload, Truth]) -> None:
    """A date means its midnight in the agency's time zone; weeks start on Mondays."""
    w, truth = seeded
    report = w.crm.reports.kpis(since=date(2026, 2, 23), until=date(2026, 3, 16))
    start = datetime(2026, 2, 23, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    assert report.since == start
    assert report.since.utcoffset() == timedelta(hours=-6)
    assert report.until.utcoffset() == timedelta(hours=-5)  # after the spring change
    assert [x.week for x in report.weeks] == [date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9)]
    assert not any(x.partial for x in report.weeks)
    _check(w, truth, report.since, report.until, {}, None)


def test_bad_input_names_the_field(seeded: tuple[Workload, Truth]) -> None:
    crm = seeded[0].crm
    cases = [
        ({"queues": ["pw-streets", "nope"]}, "queues[1]"),
        ({"departments": ["nope"]}, "departments[0]"),
        ({"case_types": ["999999"]}, "case_types[0]"),
        ({"channels": ["pigeon"]}, "channels[0]"),
        ({"agents": ["nobody"]}, "agents[0]"),
        ({"districts": ["atlantis"]}, "districts[0]"),
        ({"by": "weather"}, "by"),
        ({"compute": "abacus"}, "compute"),
        ({"since": datetime(2026, 3, 1)}, "since"),
        ({"until": date(2026, 2, 1)}, "until"),
    ]
    for given_args, path in cases:
        args: dict[str, Any] = {"since": date(2026, 2, 20), "until": date(2026, 3, 1)}
        args.update(given_args)
        with pytest.raises(ValidationError) as info:
            crm.reports.kpis(**args)
        assert path in [p.path for p in info.value.problems], (given_args, info.value)


# --------------------------------------------------------------------------------------
# No personal data: columns only, nothing decrypted, nothing audited


def test_reports_read_no_personal_data(tmp_path: Path) -> None:
    """
    With every data key destroyed (nothing can be decrypted any more), a new session
    gives the same report; and running reports writes nothing to the audit trail.
    """
    clock = FixedClock(T0)
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    since, until = date(2026, 2, 16), date(2026, 3, 16)
    with civiccrm.open(url, profile=PROFILE, clock=clock, load_entry_points=False) as crm:
        build_workload(crm, clock, seed=7, cases=12)
        before = figures(crm.reports.kpis(since=since, until=until, by="queue"))
        key_ids = crm.storage.list_keys(limit=100_000)
        assert key_ids
        for key_id in key_ids:
            crm.storage.delete_key(key_id)
    with civiccrm.open(url, profile=PROFILE, clock=clock, load_entry_points=False) as crm:
        crm.auditor.flush()
        audit = len(crm.storage.read_audit(limit=100_000))
        for compute in ("database", "stream"):
            after = crm.reports.kpis(since=since, until=until, by="queue", compute=compute)
            assert figures(after) == before
        crm.auditor.flush()
        assert len(crm.storage.read_audit(limit=100_000)) == audit


class _NoAggregates(MemoryStorage):
    """The reference backend, saying it cannot aggregate (as a simple vendor backend)."""

    def __init__(self) -> None:
        super().__init__("memory://no-aggregates")
        self.capabilities = attrs.evolve(self.capabilities, aggregates=False)


class _Plugin:
    @civiccrm.hookimpl
    def civiccrm_storage_backend(self, url: str) -> _NoAggregates | None:
        return _NoAggregates() if url == "noagg://" else None


def test_a_backend_without_aggregates_is_streamed() -> None:
    clock = FixedClock(T0)
    with civiccrm.open(
        "noagg://", profile=PROFILE, clock=clock, plugins=[_Plugin()], load_entry_points=False
    ) as crm:
        build_workload(crm, clock, seed=3, cases=10)
        truth = _truth(crm)
        since, until = T0 - DAY, clock.now() + DAY
        report = crm.reports.kpis(since=since, until=until)
        assert report.computed == "stream"
        assert figures(report) == expected(truth, since, until, {}, None)
        with pytest.raises(ValidationError, match="aggregate"):
            crm.reports.kpis(since=since, until=until, compute="database")


# --------------------------------------------------------------------------------------
# CSV, JSON, the text table


def test_csv_json_and_table(seeded: tuple[Workload, Truth]) -> None:
    import csv
    import io
    import json

    crm = seeded[0].crm
    report = crm.reports.kpis(since=date(2026, 2, 16), until=date(2026, 3, 23), by="department")
    data = json.loads(report.to_json())
    assert data == json.loads(json.dumps(report.to_dict()))
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert rows[0].keys() == {"since", "until", "group", "metric", "key", "value"}
    by_metric = {(r["group"], r["metric"], r["key"]): r["value"] for r in rows}
    assert by_metric[("total", "opened", "")] == str(report.total.opened)
    assert by_metric[("total", "resolution.p90_seconds", "")] == str(
        report.total.resolution.p90_seconds or ""
    )
    for g in report.groups:
        assert by_metric[(f"department={g.key}", "backlog", "")] == str(g.kpis.backlog)
    for week in report.weeks:
        assert by_metric[("total", "weekly.opened", week.week.isoformat())] == str(week.opened)
    text = report.table()
    assert "first response, median" in text
    assert "department" in text
    for g in report.groups:
        assert str(g.key) in text


# --------------------------------------------------------------------------------------
# Bad periods and slices: one ValidationError naming the argument


@pytest.fixture(scope="module")
def memory_crm() -> Iterator[CRM]:
    """An empty in-memory session: enough to check arguments."""
    with civiccrm.open(
        "memory://", profile=PROFILE, clock=FixedClock(T0), load_entry_points=False
    ) as crm:
        yield crm


@pytest.mark.parametrize(
    ("since", "until", "paths"),
    [
        (date(9999, 12, 1), date(9999, 12, 31), ["since", "until"]),
        (date(1, 1, 1), date(2026, 3, 1), ["since"]),
        (date(1969, 12, 31), date(1970, 1, 2), ["since"]),
        (date(2099, 12, 1), date(2100, 1, 2), ["until"]),
        (date(2026, 3, 1), datetime.max.replace(tzinfo=UTC), ["until"]),
        (datetime.min.replace(tzinfo=UTC), date(2026, 3, 1), ["since"]),
    ],
)
def test_a_period_outside_1970_to_2099_is_refused(
    memory_crm: CRM, since: date, until: date, paths: list[str]
) -> None:
    """Periods are within the years the time-zone table covers, else a ValidationError."""
    with pytest.raises(ValidationError) as info:
        memory_crm.reports.kpis(since=since, until=until)
    assert paths == [p.path for p in info.value.problems]
    assert "1970" in str(info.value)


def test_the_first_and_last_days_allowed(memory_crm: CRM) -> None:
    """From 1970-01-01 to the end of 2099 (in the agency's time zone) is allowed."""
    first = memory_crm.reports.kpis(since=date(1970, 1, 1), until=date(1970, 1, 8))
    last = memory_crm.reports.kpis(since=date(2099, 12, 25), until=date(2100, 1, 1))
    assert (date(1969, 12, 29), date(2099, 12, 21)) == (first.weeks[0].week, last.weeks[0].week)
    assert date(2099, 12, 28) == last.weeks[-1].week


def test_a_period_longer_than_ten_years_is_refused(memory_crm: CRM) -> None:
    """At most 10 calendar years: 522 weekly buckets, not 105,000."""
    ten = memory_crm.reports.kpis(since=date(2016, 2, 29), until=date(2026, 3, 1))
    assert len(ten.weeks) == 522
    for since, until in (
        (date(2016, 3, 1), date(2026, 3, 2)),
        (date(2016, 2, 29), date(2026, 3, 2)),
        (datetime(2016, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)),
        (date(1970, 1, 1), date(2100, 1, 1)),
    ):
        with pytest.raises(ValidationError) as info:
            memory_crm.reports.kpis(since=since, until=until)
        assert [p.path for p in info.value.problems] == ["until"]
        assert "10 years" in str(info.value)


@pytest.mark.parametrize(
    "name", ["departments", "queues", "case_types", "channels", "agents", "districts"]
)
def test_a_string_is_not_a_slice(memory_crm: CRM, name: str) -> None:
    """``departments="public-works"`` is refused, not read as eleven one-letter codes."""
    args: dict[str, Any] = {"since": date(2026, 2, 20), "until": date(2026, 3, 1)}
    with pytest.raises(ValidationError) as info:
        memory_crm.reports.kpis(**args, **{name: "public-works"})
    assert [name] == [p.path for p in info.value.problems]
    assert "not a string" in str(info.value)
    with pytest.raises(ValidationError) as info:
        memory_crm.reports.kpis(**args, **{name: 7})
    assert [name] == [p.path for p in info.value.problems]
    with pytest.raises(ValidationError) as info:
        memory_crm.reports.kpis(**args, **{name: [["public-works"]]})
    assert [f"{name}[0]"] == [p.path for p in info.value.problems]


# --------------------------------------------------------------------------------------
# Chart titles


@pytest.mark.parametrize(
    ("since", "until", "shown"),
    [
        (date(2026, 3, 1), date(2026, 4, 1), "2026-03-01 to 2026-03-31"),
        (date(2026, 3, 2), date(2026, 3, 3), "2026-03-02 to 2026-03-02"),
        (
            datetime(2026, 3, 2, 15, tzinfo=UTC),
            datetime(2026, 3, 10, 14, 30, tzinfo=UTC),
            "2026-03-02 09:00 to 2026-03-10 09:30",
        ),
    ],
)
def test_chart_titles_show_the_days_included(
    memory_crm: CRM, since: date, until: date, shown: str
) -> None:
    """The exclusive end of a period of whole days is shown as its last day."""
    from civiccrm.reporting._plot import _title

    report = memory_crm.reports.kpis(since=since, until=until)
    assert f"Volume, {shown}" == _title(report, "Volume")
