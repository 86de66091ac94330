"""Satisfaction surveys: issued with the resolution, answered once, redacted, expiring."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import civiccrm
from civiccrm._clock import FixedClock
from civiccrm.cli import main
from civiccrm.comms import CapturingChannel, OutgoingMessage, SurveyError
from civiccrm.crm import CRM
from civiccrm.errors import ValidationError
from civiccrm.models import (
    Case,
    CaseStatus,
    Citizen,
    Consent,
    ConsentStatus,
    ContactPoint,
    EventKind,
)
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 's.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as session:
        yield session


def _ana(crm: CRM, **kw: Any) -> Citizen:
    return crm.citizens.create(
        Citizen(
            given_name="Ana",
            family_name="Kowalczyk",
            contact_points=[ContactPoint.email("ana@example.org")],
            **kw,
        )
    )


def _resolved(crm: CRM, who: Citizen, case_type: str = "001", **attributes: Any) -> Case:
    case = crm.cases.open(
        case_type,
        requester=who,
        attributes=attributes or {"size": "large"},
        reference="SR-2026-000777",
    )
    return crm.cases.transition(case.id, CaseStatus.RESOLVED)


def _token(crm: CRM, case: Case) -> str:
    """The survey token in the latest resolution message of ``case``, as it is sent
    (the stored message holds a placeholder)."""
    (last,) = [m for m in crm.messages.list(case=case).items if m.event == "resolved"][-1:]
    channel = CapturingChannel()
    crm.messages.dispatch(channel)
    (sent,) = [m for m in channel.sent if m.id == last.id]
    found = re.search(r"survey\?t=([\w-]+)", sent.body)
    assert found is not None
    return found.group(1)


def test_a_resolved_case_gets_one_survey_whose_token_is_stored_hashed(crm: CRM) -> None:
    case = _resolved(crm, _ana(crm))
    token = _token(crm, case)
    assert len(token) == 32
    (survey,) = crm.surveys.for_case(case)
    assert survey.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert survey.party == case.requester
    assert (survey.issued_at, survey.expires_at) == (T0, T0 + timedelta(days=30))
    assert crm.surveys.check(token) == survey
    message = next(m for m in crm.messages.list(case=case).items if m.event == "resolved")
    assert message.survey_id == survey.id
    assert "by 2026-04-09:" in crm.messages.get(message.id).body


def test_answering_sets_the_satisfaction_and_redacts_the_comment(crm: CRM) -> None:
    case = _resolved(crm, _ana(crm))
    token = _token(crm, case)
    survey = crm.surveys.answer(
        token,
        4,
        "Ana Kowalczyk here: fixed fast, but call me on 217-555-0134 or ana@example.org",
    )
    assert survey.score == 4
    assert survey.responded_at == T0
    assert survey.comment is not None
    for secret in ("Kowalczyk", "217-555-0134", "ana@example.org"):
        assert secret not in survey.comment
    assert "fixed fast" in survey.comment
    assert crm.surveys.get(survey.id).comment == survey.comment
    assert crm.cases.get(case.id).satisfaction == 4
    updated = [e for e in crm.cases.events(case) if e.kind is EventKind.UPDATED][-1]
    assert updated.data == {"fields": "satisfaction", "survey": str(survey.id), "score": 4}


def test_a_token_answers_once(crm: CRM) -> None:
    token = _token(crm, case := _resolved(crm, _ana(crm)))
    crm.surveys.answer(token, 5)
    with pytest.raises(SurveyError, match="answered already, on 2026-03-10") as info:
        crm.surveys.answer(token, 1)
    assert info.value.reason == "answered"
    assert info.value.problems[0].path == "token"
    assert crm.cases.get(case.id).satisfaction == 5


@pytest.mark.parametrize("token", ["", "nope", "x" * 1000, "   "])
def test_a_wrong_token_is_a_clear_error(crm: CRM, token: str) -> None:
    _resolved(crm, _ana(crm))
    with pytest.raises(SurveyError, match="no survey has this token: check the link") as info:
        crm.surveys.answer(token, 3)
    assert info.value.reason == "unknown"


def test_a_token_expires(crm: CRM, clock: FixedClock) -> None:
    token = _token(crm, _resolved(crm, _ana(crm)))
    clock.advance(days=29, hours=23)
    assert crm.surveys.check(token).score is None
    clock.advance(hours=1)
    with pytest.raises(SurveyError, match="this survey expired on 2026-04-09") as info:
        crm.surveys.answer(token, 3)
    assert info.value.reason == "expired"


def test_resolving_again_withdraws_the_earlier_survey(crm: CRM) -> None:
    case = _resolved(crm, _ana(crm))
    first = _token(crm, case)
    crm.cases.reopen(case.id)
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    second = _token(crm, case)
    assert second != first
    with pytest.raises(SurveyError, match="a newer survey") as info:
        crm.surveys.answer(first, 2)
    assert info.value.reason == "withdrawn"
    assert crm.surveys.answer(second, 2).score == 2
    assert [s.withdrawn_at is not None for s in crm.surveys.for_case(case)] == [True, False]


@pytest.mark.parametrize("score", [0, 6, True, "5", 4.5, None])
def test_the_score_is_a_whole_number_from_1_to_5(crm: CRM, score: Any) -> None:
    token = _token(crm, _resolved(crm, _ana(crm)))
    with pytest.raises(ValidationError, match="is not a whole number from 1 to 5") as info:
        crm.surveys.answer(token, score)
    assert info.value.problems[0].path == "score"
    with pytest.raises(ValidationError, match="comment: is over 4000 characters"):
        crm.surveys.answer(token, 3, "x" * 4001)
    assert crm.surveys.answer(token, 3, "  ").comment is None


def test_only_the_profiles_case_types_are_surveyed(crm: CRM) -> None:
    ana = _ana(crm)
    benefits = _resolved(crm, ana, "019", household_size=2, monthly_income=900)
    assert crm.surveys.for_case(benefits) == []
    (message,) = [m for m in crm.messages.list(case=benefits).items if m.event == "resolved"]
    assert "survey" not in crm.messages.get(message.id).body


def test_no_survey_for_those_who_declined_surveys(crm: CRM) -> None:
    declined = _ana(
        crm,
        consents=[
            Consent(
                purpose="survey", status=ConsentStatus.REVOKED, recorded_at=T0 - timedelta(days=1)
            )
        ],
    )
    case = _resolved(crm, declined)
    assert crm.surveys.for_case(case) == []
    (message,) = [m for m in crm.messages.list(case=case).items if m.event == "resolved"]
    body = crm.messages.get(message.id).body
    assert "was resolved on 2026-03-10" in body
    assert "survey" not in body


def test_a_survey_issued_by_hand(crm: CRM) -> None:
    ana = _ana(crm)
    case = crm.cases.open("001", requester=ana, attributes={"size": "large"})
    with pytest.raises(ValidationError, match="only a resolved case is surveyed"):
        crm.surveys.issue(case.id)
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    issued = crm.surveys.issue(case.id)
    assert issued.token not in repr(issued)
    assert crm.surveys.answer(issued.token, 1).case_id == case.id


def test_tokens_and_comments_are_not_on_disk(tmp_path: Path, clock: FixedClock) -> None:
    with civiccrm.open(f"sqlite:///{tmp_path / 'd.db'}", profile=SPRINGFIELD, clock=clock) as crm:
        case = _resolved(crm, _ana(crm))
        token = _token(crm, case)
        crm.surveys.answer(token, 5, "The crew was wonderfully quick")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert token.encode() not in raw
    assert b"wonderfully" not in raw


def test_no_stored_record_holds_the_token(tmp_path: Path, clock: FixedClock) -> None:
    """
    The token is only in what is handed to the channel: not in any record of any kind
    (unsealed), not in the audit trail, not in the Interaction a caseworker reads, not
    on disk. The emailed token answers the survey.
    """
    from civiccrm._records import KINDS
    from civiccrm.adapters._base import Query
    from civiccrm.crm import Actor

    url = f"sqlite:///{tmp_path / 'scan.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        case = _resolved(crm, _ana(crm))
        channel = CapturingChannel()
        assert crm.messages.dispatch(channel).sent == 2
        (sent,) = [m for m in channel.sent if "survey?t=" in m.body]
        found = re.search(r"survey\?t=([\w-]{32})\n", sent.body)
        assert found is not None
        token = found.group(1)
        assert "[survey token]" not in sent.body
        for kind in KINDS.values():
            for record in crm.storage.stream(Query(kind.name)):
                assert token not in record.doc, kind.name
                opened = crm._from_record(kind, record)
                assert token not in repr(crm.converter.unstructure(opened)), kind.name
        assert not [e for _, e in crm.storage.read_audit(limit=100_000) if token in e]
    staff = Actor("bob", role="caseworker")
    with civiccrm.open(
        url, profile=SPRINGFIELD, clock=clock, actor=staff, purpose="casework"
    ) as crm:
        bodies = [i.body or "" for i in crm.interactions.for_case(case.id)]
        assert any("survey?t=[survey token]" in b for b in bodies)
        assert not any(token in b for b in bodies)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert token.encode() not in raw
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        assert crm.surveys.answer(token, 4).case_id == case.id


def test_a_resent_resolution_carries_the_same_token(crm: CRM, clock: FixedClock) -> None:
    """A dispatcher that stops after the channel took the message and before the mark:
    after the lease the message goes again, byte for byte the same, token included."""
    case = _resolved(crm, _ana(crm))

    class Dies(CapturingChannel):
        def send(self, message: OutgoingMessage) -> str | None:
            super().send(message)
            if "survey?t=" in message.body:
                raise SystemExit("killed after the send, before the mark")
            return message.message_id

    first = Dies()
    with pytest.raises(SystemExit):
        crm.messages.dispatch(first)
    clock.advance(minutes=5)
    second = CapturingChannel()
    report = crm.messages.dispatch(second)
    assert (report.recovered, report.sent) == (1, 1)
    (again,) = second.sent
    assert again.as_email().as_bytes() == first.sent[-1].as_email().as_bytes()
    found = re.search(r"survey\?t=([\w-]{32})\n", again.body)
    assert found is not None
    assert crm.surveys.answer(found.group(1), 5).case_id == case.id


def test_cli_answer_reads_the_token_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cli.db"
    with civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD) as crm:
        case = _resolved(crm, _ana(crm))
        token = _token(crm, case)
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    out = io.StringIO()
    code = main(["surveys", "answer", "-", "--score", "5", "--db", str(db)], out=out)
    assert (code, out.getvalue()) == (0, f"survey answered: 5 of 5 for case {case.id}\n")
    out = io.StringIO()
    assert main(["surveys", "answer", token, "--score", "5", "--db", str(db)], out=out) == 2


def test_a_public_portal_answers_and_an_analyst_reads_no_comments(
    tmp_path: Path, clock: FixedClock
) -> None:
    from civiccrm.crm import Actor
    from civiccrm.errors import AccessDeniedError

    url = f"sqlite:///{tmp_path / 'roles.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        case = _resolved(crm, _ana(crm))
        token = _token(crm, case)
    portal = Actor(role="public_portal")
    with civiccrm.open(
        url, profile=SPRINGFIELD, clock=clock, actor=portal, purpose="survey"
    ) as crm:
        assert crm.surveys.answer(token, 5, "Great").score == 5
    analyst = Actor(role="analyst")
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock, actor=analyst, purpose="kpi") as crm:
        with pytest.raises(AccessDeniedError):
            crm.surveys.for_case(case.id)
        assert crm.cases.get(case.id).satisfaction == 5


def test_a_reply_quoting_the_survey_link_does_not_store_the_token(crm: CRM) -> None:
    """A citizen's reply to the resolution email quotes its survey link: the inbound
    interaction keeps the placeholder, never the live token."""
    ana = _ana(crm)
    case = _resolved(crm, ana)
    token = _token(crm, case)
    reply = (
        "From: ana@example.org\r\nSubject: Re: [SR-2026-000777] resolved\r\n\r\n"
        "Thanks!\r\n\r\n> Tell us how we did:\r\n"
        f"> https://springfield.example.gov/survey?t={token}\r\n"
        "> Ref ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 is not a token.\r\n"
    )
    taken = crm.mail.take(reply.encode(), mailbox="zoning")
    assert taken.case_id == case.id
    (inbound,) = [i for i in crm.interactions.for_case(case.id) if i.id == taken.interaction_id]
    assert inbound.body is not None
    assert token not in inbound.body
    assert "survey?t=[survey token]" in inbound.body
    assert "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" in inbound.body
    assert crm.surveys.check(token).case_id == case.id  # still answerable by its owner
