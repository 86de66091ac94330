"""
Data-subject requests (``crm.subjects``): access exports hold everything of the person
and nothing of anyone else (checked against the models' declarations of personal data),
rectification is audited, erasure is refused on its legal grounds or carried out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs
import pytest

import civiccrm
from civiccrm import CRM, FixedClock, ValidationError
from civiccrm._dsr import Ground
from civiccrm._records import KINDS
from civiccrm.adapters import Filter, Query
from civiccrm.crm import Actor
from civiccrm.errors import AccessDeniedError, NotFoundError
from civiccrm.models import (
    Case,
    CaseStatus,
    Channel,
    Citizen,
    ContactKind,
    ContactPoint,
    Direction,
    Interaction,
    Location,
    MailReceipt,
    OutboxMessage,
    PostalAddress,
    Survey,
    personal_data_fields,
)
from civiccrm.privacy.audit import parse_entry
from civiccrm.privacy.retention import RetentionSchedule
from civiccrm.profile import load_profile, springfield_path

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PROFILE = load_profile(springfield_path())
NO_SCHEDULES = attrs.evolve(PROFILE, retention=())


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def crm(url: str, clock: FixedClock) -> Iterator[CRM]:
    with civiccrm.open(url, profile=NO_SCHEDULES, clock=clock) as session:
        yield session


def _person(crm: CRM, tag: str, n: int) -> Citizen:
    return crm.citizens.create(
        Citizen(
            given_name=f"Given{tag}",
            family_name=f"Family{tag}",
            preferred_name=f"Pref{tag}",
            date_of_birth=date(1970 + n, 1 + n, 1 + n),
            accessibility_needs=(f"needs-{tag}",),
            vulnerable=True,
            contact_points=(
                ContactPoint(kind=ContactKind.EMAIL, value=f"{tag.lower()}@example.org"),
                ContactPoint(kind=ContactKind.PHONE, value=f"+1217555{n:04d}"),
                ContactPoint(
                    kind=ContactKind.POSTAL,
                    address=PostalAddress(
                        lines=(f"{100 + n} {tag} Street",),
                        city=f"City{tag}",
                        postal_code=f"6270{n}",
                    ),
                ),
            ),
            external_ids={"benefits": f"BEN-{tag}"},
        )
    )


def _cases(crm: CRM, who: Citizen, tag: str, count: int) -> list[Case]:
    out = []
    for k in range(count):
        case = crm.cases.open(
            "001",
            requester=who,
            attributes={"size": "small"},
            title=f"Title-{tag}-{k}",
            description=f"Description-{tag}-{k}",
            location=Location(
                latitude=39.0 + (ord(tag[0]) - 64) / 10 + k / 1000,
                longitude=-89.6 - ord(tag[0]) / 1000 - k / 100000,
                address=f"Spot-{tag}-{k}",
            ),
        )
        crm.cases.note(case, f"Note-{tag}-{k}")
        crm.interactions.log(
            Interaction(
                channel=Channel.PHONE,
                direction=Direction.INBOUND,
                occurred_at=T0,
                party=who.ref,
                case_id=case.id,
                body=f"Call-{tag}-{k}",
            )
        )
        out.append(case)
    return out


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _leaves(v)
    elif value is not None:
        yield str(value)


def _personal_values(crm: CRM, obj: Any) -> set[str]:
    """Every value ``obj`` holds in a field its model declares personal data."""
    out: set[str] = set()
    for field in personal_data_fields(type(obj)):
        value = getattr(obj, field.name)
        if field.declared:
            raw = crm.converter.unstructure(value)
            if raw not in (None, False, (), [], {}):
                out.update(_leaves(raw))
        else:
            items = value if isinstance(value, tuple | list) else [value]
            for item in items:
                if item is not None and attrs.has(type(item)):
                    out.update(_personal_values(crm, item))
    return out


def test_access_holds_everything_of_theirs_and_nothing_of_anyone_else(
    crm: CRM, tmp_path: Path
) -> None:
    ana = _person(crm, "Ana", 1)
    bob = _person(crm, "Bob", 2)
    ana_cases = _cases(crm, ana, "Ana", 50)
    bob_cases = _cases(crm, bob, "Bob", 3)
    # Bob calls about one of Ana's cases: his call is his, not hers.
    crm.interactions.log(
        Interaction(
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=T0,
            party=bob.ref,
            case_id=ana_cases[0].id,
            body="Bob-on-Ana's-case",
        )
    )
    # Resolved cases issue surveys with their messages; Ana replies by email to one
    # (threaded by our Message-ID), with an attachment whose name is hers.
    for case in ana_cases[:3] + bob_cases[:1]:
        crm.cases.transition(case.id, CaseStatus.RESOLVED)
    sent = [
        crm._from_record(KINDS[OutboxMessage], r)
        for r in crm.storage.stream(
            Query("outbox", (Filter("case_id", "eq", str(ana_cases[0].id)),))
        )
    ]
    reply = EmailMessage()
    reply["From"] = "ana@example.org"
    reply["Subject"] = "Re: your request"
    reply["In-Reply-To"] = next(m.message_id for m in sent if m.message_id)
    reply.set_content("Reply-Ana-by-email")
    reply.add_attachment(b"x", maintype="image", subtype="jpeg", filename="Photo-Ana.jpg")
    assert crm.mail.take(reply.as_bytes(), mailbox="zoning").case_id == ana_cases[0].id
    export = crm.subjects.access(ana, tmp_path / "sar", request="DSR-2026-0042")
    data = json.loads(export.json_path.read_text(encoding="utf-8"))
    held = set(_leaves(data))
    expected: set[str] = _personal_values(crm, crm.citizens.get(ana.id))
    ana_ids = {str(c.id) for c in ana_cases}
    bob_ids = {str(c.id) for c in bob_cases}
    found: dict[str, int] = {}
    bobs: set[str] = set()
    for cls in (OutboxMessage, Survey, MailReceipt):
        for r in crm.storage.stream(Query(KINDS[cls].name)):
            obj = crm._from_record(KINDS[cls], r)
            if r.columns.get("case_id") in ana_ids or r.columns.get("party_id") == str(ana.id):
                expected |= _personal_values(crm, obj)
                found[KINDS[cls].name] = found.get(KINDS[cls].name, 0) + 1
            elif r.columns.get("case_id") in bob_ids:
                bobs |= _personal_values(crm, obj)
    assert set(found) == {"outbox", "survey", "mail_receipt"}
    assert export.counts["messages"] == found["outbox"]
    assert export.counts["surveys"] == found["survey"] == 3
    assert "Photo-Ana.jpg" in held
    for case in ana_cases:
        expected |= _personal_values(crm, crm.cases.get(case.id))
        for event in crm.cases.events(case.id):
            expected |= _personal_values(crm, event)
        for item in crm.interactions.for_case(case.id):
            if item.party is not None and item.party.id == ana.id:
                expected |= _personal_values(crm, item)
    assert len(expected) > 300
    assert expected <= held, sorted(expected - held)[:10]
    others: set[str] = _personal_values(crm, crm.citizens.get(bob.id))
    for case in bob_cases:
        others |= _personal_values(crm, crm.cases.get(case.id))
        for event in crm.cases.events(case.id):
            others |= _personal_values(crm, event)
    others.add("Bob-on-Ana's-case")
    others |= bobs
    distinctive = {v for v in others if len(v) >= 6 and v not in ("True", "False")}
    text = export.json_path.read_text(encoding="utf-8") + export.html_path.read_text("utf-8")
    assert [v for v in distinctive if v in text] == []
    assert export.counts["cases"] == 50
    # Each call, each message sent to her (acknowledgements, resolutions) and her email.
    logged = sum(
        1
        for r in crm.storage.stream(Query("outbox"))
        if r.columns.get("party_id") == str(ana.id)
        and crm._from_record(KINDS[OutboxMessage], r).interaction_id is not None
    )
    assert logged >= 3
    assert export.counts["interactions"] == 50 + logged + 1
    assert data["request"] == "DSR-2026-0042"
    assert {p["action"] for p in data["processing"]} >= {"create", "update"}
    html = export.html_path.read_text(encoding="utf-8")
    assert "Title-Ana-49" in html
    assert "<h2>Your requests (50)</h2>" in html


def test_the_html_summary_escapes_what_it_shows(crm: CRM, tmp_path: Path) -> None:
    ana = _person(crm, "Ana", 1)
    crm.cases.open(
        "001", requester=ana, attributes={"size": "small"}, title="<script>alert(1)</script>"
    )
    export = crm.subjects.access(ana.id, tmp_path, request="R-1")
    html = export.html_path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_access_is_audited_and_needs_a_reference(crm: CRM, tmp_path: Path) -> None:
    ana = _person(crm, "Ana", 1)
    with pytest.raises(ValidationError, match="request"):
        crm.subjects.access(ana, tmp_path, request=" ")
    with pytest.raises(NotFoundError):
        crm.subjects.access(uuid.uuid4(), tmp_path, request="R-1")
    crm.subjects.access(ana, tmp_path, request="R-1")
    entries = [parse_entry(text)[1] for _, text in crm.storage.read_audit()]
    sar = [e for e in entries if e.action == "subject_access"]
    assert [(e.record_ids, dict(e.detail)) for e in sar] == [((str(ana.id),), {"request": "R-1"})]


def test_rectification_changes_the_record_and_audits_the_field_names(crm: CRM) -> None:
    ana = _person(crm, "Ana", 1)
    fixed = crm.subjects.rectify(ana, {"family_name": "Lima"}, request="R-7")
    assert isinstance(fixed, Citizen)
    assert crm.citizens.get(ana.id).family_name == "Lima"
    entries = [parse_entry(text)[1] for _, text in crm.storage.read_audit()]
    rect = [e for e in entries if e.action == "rectify"]
    assert [dict(e.detail) for e in rect] == [{"request": "R-7", "fields": "family_name"}]
    assert "Lima" not in json.dumps([t for _, t in crm.storage.read_audit()])
    with pytest.raises(ValidationError, match="colour"):
        crm.subjects.rectify(ana, {"colour": "red"}, request="R-8")
    with pytest.raises(ValidationError, match="id"):
        crm.subjects.rectify(ana, {"id": uuid.uuid4()}, request="R-8")
    with pytest.raises(ValidationError):
        crm.subjects.rectify(ana, {"given_name": " "}, request="R-8")


def test_erasure_is_refused_on_each_ground_then_carried_out(url: str, clock: FixedClock) -> None:
    schedule = RetentionSchedule(
        code="potholes",
        record_class="case",
        trigger="closed",
        period="2 years",
        disposition="destroy",
        authority="RS-311 item 4",
    )
    profile = attrs.evolve(PROFILE, retention=(schedule,))
    with civiccrm.open(url, profile=profile, clock=clock) as crm:
        ana = _person(crm, "Ana", 1)
        case = crm.cases.open("001", requester=ana, attributes={"size": "small"})
        hold = crm.retention.place_hold(reason="claim", authority="City Attorney", cases=[case.id])
        decision = crm.subjects.erase(ana, request="E-1")
        assert not decision.erased
        assert {r.ground for r in decision.refusals} == {Ground.LEGAL_CLAIMS, Ground.PUBLIC_TASK}
        crm.retention.release_hold(hold, reason="settled")
        crm.cases.transition(case.id, CaseStatus.RESOLVED)
        crm.cases.transition(case.id, CaseStatus.CLOSED)
        decision = crm.subjects.erase(ana, request="E-2")
        assert [r.ground for r in decision.refusals] == [Ground.LEGAL_OBLIGATION]
        # Two years on in Chicago's calendar: 10:00 CDT then, 10:00 CST (16:00 UTC) then.
        until = datetime(2028, 3, 9, 16, 0, tzinfo=UTC)
        assert decision.refusals[0].until == until
        assert "RS-311 item 4" in decision.refusals[0].detail
        assert crm.citizens.get(ana.id).given_name == "GivenAna"
        clock.set(until)
        decision = crm.subjects.erase(ana, request="E-3")
        assert (decision.erased, decision.refusals) == (True, ())
        with pytest.raises(NotFoundError):
            crm.citizens.get(ana.id)
        entries = [parse_entry(text)[1] for _, text in crm.storage.read_audit()]
        refused = [dict(e.detail) for e in entries if e.action == "erasure_refused"]
        assert refused == [
            {"request": "E-1", "grounds": "legal_claims,public_task"},
            {"request": "E-2", "grounds": "legal_obligation"},
        ]


def test_a_party_hold_refuses_erasure_of_someone_with_no_cases(crm: CRM) -> None:
    ana = _person(crm, "Ana", 1)
    crm.retention.place_hold(reason="claim", authority="Court", parties=[ana.id])
    decision = crm.subjects.erase(ana, request="E-1")
    assert [r.ground for r in decision.refusals] == [Ground.LEGAL_CLAIMS]


def test_only_roles_allowed_may_answer_requests(
    url: str, clock: FixedClock, tmp_path: Path
) -> None:
    with civiccrm.open(url, profile=NO_SCHEDULES, clock=clock) as crm:
        ana = _person(crm, "Ana", 1)
    caseworker = Actor(name="cw", role="caseworker")
    with civiccrm.open(
        url, profile=NO_SCHEDULES, clock=clock, actor=caseworker, purpose="dsr"
    ) as crm:
        with pytest.raises(AccessDeniedError, match="'export'"):
            crm.subjects.access(ana.id, tmp_path, request="R")
        with pytest.raises(AccessDeniedError, match="'erase'"):
            crm.subjects.erase(ana.id, request="R")


# --------------------------------------------------------------------------------------
# From the review


def test_subject_access_needs_a_role_that_sees_everything_in_clear(
    clock: FixedClock, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"  # (sessions share it)
    with civiccrm.open(url, profile=NO_SCHEDULES, clock=clock) as crm:
        ana = _person(crm, "Ana", 1)
    for role in ("analyst", "public_portal", "auditor"):
        actor = Actor(name=role, role=role)
        with civiccrm.open(
            url, profile=NO_SCHEDULES, clock=clock, actor=actor, purpose="dsr"
        ) as crm:
            with pytest.raises(AccessDeniedError):
                crm.subjects.collect(ana.id)
            with pytest.raises(AccessDeniedError):
                crm.subjects.access(ana.id, tmp_path, request="R")
    supervisor = Actor(name="sup", role="supervisor")
    with civiccrm.open(
        url, profile=NO_SCHEDULES, clock=clock, actor=supervisor, purpose="dsr"
    ) as crm:
        data = crm.subjects.collect(ana.id)
        assert data["subject"]["given_name"] == "GivenAna"


def test_erasure_waits_for_a_resolved_case_to_close(url: str, clock: FixedClock) -> None:
    schedule = RetentionSchedule(
        code="potholes",
        record_class="case",
        trigger="closed",
        period="2 years",
        disposition="destroy",
        authority="RS-311 item 4",
    )
    with civiccrm.open(
        url, profile=attrs.evolve(PROFILE, retention=(schedule,)), clock=clock
    ) as crm:
        ana = _person(crm, "Ana", 1)
        case = crm.cases.open("001", requester=ana, attributes={"size": "small"})
        crm.cases.transition(case.id, CaseStatus.RESOLVED)
        decision = crm.subjects.erase(ana, request="E-1")
        assert [(r.ground, r.until) for r in decision.refusals] == [(Ground.LEGAL_OBLIGATION, None)]


def test_erasure_respects_holds_on_cases_they_only_spoke_on(crm: CRM) -> None:
    ana = _person(crm, "Ana", 1)
    bob = _person(crm, "Bob", 2)
    case = crm.cases.open("001", requester=ana, attributes={"size": "small"})
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
    crm.retention.place_hold(reason="claim", authority="Court", cases=[case.id])
    decision = crm.subjects.erase(bob, request="E-1")
    assert not decision.erased
    assert Ground.LEGAL_CLAIMS in {r.ground for r in decision.refusals}
    assert crm.citizens.get(bob.id).given_name == "GivenBob"
