"""
Retention of what communications leave about a case: its messages, surveys and mail
receipts go with the case file (destroyed with it, or stripped of personal data when
it is anonymised).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import attrs
import pytest

import civiccrm
from civiccrm import CRM, FixedClock
from civiccrm._records import KINDS
from civiccrm.adapters import Filter, Query
from civiccrm.models import (
    CaseStatus,
    Citizen,
    ContactKind,
    ContactPoint,
    MailReceipt,
    OutboxMessage,
    Survey,
)
from civiccrm.privacy.retention import RetentionSchedule
from civiccrm.profile import load_profile, springfield_path

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
PROFILE = attrs.evolve(load_profile(springfield_path()), retention=())


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=PROFILE, clock=FixedClock(T0)) as session:
        yield session


def _worked_case(crm: CRM) -> str:
    """A closed case with messages, an answered survey and an emailed reply."""
    ana = crm.citizens.create(
        Citizen(
            given_name="Ana",
            family_name="Lopez",
            contact_points=(ContactPoint(kind=ContactKind.EMAIL, value="ana@example.org"),),
        )
    )
    case = crm.cases.open("001", requester=ana, attributes={"size": "small"})
    sent = [
        crm._from_record(KINDS[OutboxMessage], r)
        for r in crm.storage.stream(Query("outbox", (Filter("case_id", "eq", str(case.id)),)))
    ]
    reply = EmailMessage()
    reply["From"] = "ana@example.org"
    reply["Subject"] = "Re: your request"
    reply["In-Reply-To"] = next(m.message_id for m in sent if m.message_id)
    reply.set_content("It is by the school.")
    reply.add_attachment(b"x", maintype="image", subtype="jpeg", filename="Ana-hole.jpg")
    assert crm.mail.take(reply.as_bytes(), mailbox="zoning").case_id == case.id
    crm.cases.transition(case.id, CaseStatus.RESOLVED)
    survey = crm.surveys.issue(case.id)
    crm.surveys.answer(survey.token, score=4, comment="Fast, thanks. Ana Lopez")
    crm.cases.transition(case.id, CaseStatus.CLOSED)
    return str(case.id)


def _rows(crm: CRM, kind: str, case_id: str) -> list[object]:
    cls = {"outbox": OutboxMessage, "survey": Survey, "mail_receipt": MailReceipt}[kind]
    query = Query(kind, (Filter("case_id", "eq", case_id),))
    return [crm._from_record(KINDS[cls], r) for r in crm.storage.stream(query)]


def _schedule(disposition: str) -> RetentionSchedule:
    return RetentionSchedule(
        code="cases",
        record_class="case",
        trigger="closed",
        period="1 year",
        disposition=disposition,
        authority="GS 1-22 item 5",
    )


def test_destroying_a_case_destroys_its_messages_and_surveys(crm: CRM) -> None:
    case_id = _worked_case(crm)
    assert _rows(crm, "outbox", case_id)
    assert _rows(crm, "survey", case_id)
    crm.clock.set(T0 + timedelta(days=400))  # type: ignore[attr-defined]
    run = crm.retention.apply(key="r", schedules=[_schedule("destroy")])
    assert run.disposed == 1
    assert _rows(crm, "outbox", case_id) == []
    assert _rows(crm, "survey", case_id) == []
    # The receipt stays (the same email polled again is not taken again), bare.
    (receipt,) = _rows(crm, "mail_receipt", case_id)
    assert isinstance(receipt, MailReceipt)
    assert (receipt.attachments, receipt.party_id) == ((), None)
    record = crm.storage.get("mail_receipt", str(receipt.id))
    assert record is not None
    assert "Ana-hole" not in record.doc
    assert '"_k"' not in record.doc


def test_anonymising_a_case_strips_its_messages_surveys_and_receipts(crm: CRM) -> None:
    case_id = _worked_case(crm)
    crm.clock.set(T0 + timedelta(days=400))  # type: ignore[attr-defined]
    crm.retention.apply(key="a", schedules=[_schedule("anonymise")])
    messages = _rows(crm, "outbox", case_id)
    assert messages
    for m in messages:
        assert isinstance(m, OutboxMessage)
        assert (m.recipient, m.subject, m.body, m.message_id, m.party) == ("", None, "", None, None)
        assert m.status is not None  # the state stays, for counts
    surveys = _rows(crm, "survey", case_id)
    assert all(isinstance(v, Survey) and (v.comment, v.party) == (None, None) for v in surveys)
    assert [v.score for v in surveys if isinstance(v, Survey) and v.score] == [4]
    (receipt,) = _rows(crm, "mail_receipt", case_id)
    assert isinstance(receipt, MailReceipt)
    assert receipt.attachments == ()
    for kind in ("outbox", "survey", "mail_receipt"):
        for r in crm.storage.stream(Query(kind, (Filter("case_id", "eq", case_id),))):
            assert "Ana" not in r.doc, kind
            assert "ana@example.org" not in r.doc, kind
