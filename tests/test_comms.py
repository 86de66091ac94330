"""Outbound messages: templates, consent, the outbox, dispatch, retries and recovery."""

from __future__ import annotations

import doctest
import email
import email.policy
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import civiccrm
from civiccrm import hookimpl
from civiccrm._clock import FixedClock
from civiccrm._keys import party_key_id
from civiccrm.cli import main
from civiccrm.comms import (
    CapturingChannel,
    ChannelError,
    FileChannel,
    OutgoingMessage,
    SmtpChannel,
    open_channel,
)
from civiccrm.crm import CRM, Actor
from civiccrm.errors import AccessDeniedError, NotFoundError, PluginError, ValidationError
from civiccrm.models import (
    Case,
    CaseStatus,
    Channel,
    Citizen,
    Consent,
    ConsentStatus,
    ContactPoint,
    ContactUse,
    DeliveryStatus,
    EventKind,
    MessageStatus,
    OutboxMessage,
)
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
# Tuesday 10 March 2026, 10:00 in Springfield.
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'm.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as session:
        yield session


def _consent(purpose: str, status: ConsentStatus, channel: Channel | None = None) -> Consent:
    return Consent(
        purpose=purpose, status=status, recorded_at=T0 - timedelta(days=1), channel=channel
    )


def _citizen(
    crm: CRM,
    name: str = "Ana",
    *,
    email_address: str | None = "ana@example.org",
    phone: str | None = None,
    **kw: Any,
) -> Citizen:
    points = []
    if email_address:
        points.append(ContactPoint.email(email_address))
    if phone:
        points.append(ContactPoint.phone(phone, use=ContactUse.MOBILE))
    return crm.citizens.create(Citizen(given_name=name, contact_points=points, **kw))


def _pothole(crm: CRM, who: Citizen | None, ref: str = "SR-2026-000123", **kw: Any) -> Case:
    return crm.cases.open("001", requester=who, attributes={"size": "large"}, reference=ref, **kw)


def _outbox(crm: CRM, case: Case | None = None) -> list[OutboxMessage]:
    return [crm.messages.get(m.id) for m in crm.messages.list(case=case, limit=1000).items]


# --- planning: templates, languages, media, consent -------------------------------------


def test_opening_a_case_queues_its_acknowledgement_unsent(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm))
    (message,) = _outbox(crm, case)
    assert message.status is MessageStatus.PENDING
    assert message.attempts == 0
    assert message.event == "opened"
    assert message.language == "en"
    assert message.recipient == "ana@example.org"
    assert message.subject == "[SR-2026-000123] We received your request"
    assert message.body.startswith("Dear Ana,\n\nThank you for contacting the City of Springfield.")
    assert "(Pothole) on 2026-03-10" in message.body
    assert message.message_id is not None
    assert re.fullmatch(
        rf"<c\.{case.id.hex}\.[0-9a-f]{{16}}@springfield\.example\.gov>", message.message_id
    )
    (logged,) = crm.interactions.for_case(case)
    assert logged.id == message.interaction_id
    assert (logged.channel, logged.delivery_status) == (Channel.EMAIL, DeliveryStatus.QUEUED)
    assert logged.external_id == message.message_id
    assert logged.subject == message.subject
    (ack,) = [e for e in crm.cases.events(case) if e.kind is EventKind.ACKNOWLEDGED]
    assert ack.data["message"] == str(message.id)
    # Not a first response.
    assert crm.cases.get(case.id).first_response_at is None


def test_inbound_email_threads_a_reply_by_our_message_id(crm: CRM) -> None:
    """The contract with inbound email: it reads the case id out of our Message-IDs."""
    mailparse = pytest.importorskip("civiccrm.comms._mailparse")
    case = _pothole(crm, _citizen(crm))
    (message,) = _outbox(crm, case)
    assert mailparse.outbound_case_id(message.message_id) == case.id.hex
    other = crm.messages.queue(crm.citizens.get(case.requester.id), subject="Hi", body="Hello")
    other_id = crm.messages.get(other.id).message_id
    assert other_id is not None
    assert mailparse.outbound_case_id(other_id) is None
    assert mailparse.is_outbound_id(other_id)


def test_a_change_that_rolls_back_queues_nothing(crm: CRM) -> None:
    ana = _citizen(crm)
    queued: list[int] = []

    def work() -> None:
        with crm.transaction():
            _pothole(crm, ana)
            queued.append(len(crm.messages.list().items))
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        work()
    assert queued == [1]
    assert crm.messages.list().items == ()
    channel = CapturingChannel()
    assert crm.messages.dispatch(channel).sent == 0
    assert channel.sent == []


def test_dispatch_sends_each_message_once(crm: CRM, clock: FixedClock) -> None:
    case = _pothole(crm, _citizen(crm))
    channel = CapturingChannel()
    report = crm.messages.dispatch(channel)
    assert (report.sent, report.skipped) == (1, 0)
    clock.advance(hours=1)
    assert crm.messages.dispatch(channel).sent == 0
    (sent,) = channel.sent
    (message,) = _outbox(crm, case)
    assert sent.message_id == message.message_id
    assert sent.date == T0
    assert sent.sender == "City of Springfield 311 <311@springfield.example.gov>"
    assert (message.status, message.sent_at, message.next_attempt_at) == (
        MessageStatus.SENT,
        T0,
        None,
    )
    assert crm.interactions.for_case(case)[0].delivery_status is DeliveryStatus.SENT
    assert channel.closed == 2
    assert crm.messages.counts() == {"sent": 1}


@pytest.mark.parametrize(
    ("language", "subject"),
    [
        ("es-MX", "[SR-2026-000123] Recibimos su solicitud"),
        ("es", "[SR-2026-000123] Recibimos su solicitud"),
        ("de", "[SR-2026-000123] We received your request"),
        (None, "[SR-2026-000123] We received your request"),
    ],
)
def test_the_requesters_language_then_the_agencys(
    crm: CRM, language: str | None, subject: str
) -> None:
    case = _pothole(crm, _citizen(crm, preferred_language=language))
    (message,) = _outbox(crm, case)
    assert message.subject == subject


def test_sms_only_to_those_who_opted_in(crm: CRM) -> None:
    phone_only = _citizen(crm, email_address=None, phone="+12175550134")
    case = _pothole(crm, phone_only)
    (message,) = _outbox(crm, case)
    assert (message.status, message.error) == (MessageStatus.CANCELLED, "no_consent")
    assert crm.interactions.for_case(case)[0].delivery_status is DeliveryStatus.FAILED
    opted_in = _citizen(
        crm,
        "Bo",
        email_address=None,
        phone="+12175550135",
        consents=[_consent("case_updates", ConsentStatus.GRANTED, Channel.SMS)],
    )
    case = _pothole(crm, opted_in, "SR-2026-000124")
    (message,) = _outbox(crm, case)
    assert (message.status, message.channel, message.recipient) == (
        MessageStatus.PENDING,
        "sms",
        "+12175550135",
    )
    assert message.subject is None
    assert message.body == (
        "City of Springfield: we received your request SR-2026-000124 (Pothole). "
        "Reply STOP to opt out.\n"
    )
    assert crm.interactions.for_case(case)[0].channel is Channel.SMS


def test_the_preferred_channel_first_if_allowed(crm: CRM) -> None:
    both = {"email_address": "cy@example.org", "phone": "+12175550136"}
    prefers_sms = _citizen(
        crm,
        "Cy",
        preferred_channel=Channel.SMS,
        consents=[_consent("case_updates", ConsentStatus.GRANTED)],
        **both,
    )
    assert _outbox(crm, _pothole(crm, prefers_sms, "SR-1"))[0].channel == "sms"
    # Preferring SMS without having opted in: email, which needs no opt-in.
    no_opt_in = _citizen(crm, "Di", preferred_channel=Channel.SMS, **both)
    assert _outbox(crm, _pothole(crm, no_opt_in, "SR-2"))[0].channel == "email"
    # Opted out of SMS alone: email.
    not_sms = _citizen(
        crm,
        "Ed",
        preferred_channel=Channel.SMS,
        consents=[_consent("case_updates", ConsentStatus.REVOKED, Channel.SMS)],
        **both,
    )
    (message,) = _outbox(crm, _pothole(crm, not_sms, "SR-3"))
    assert (message.channel, message.status) == ("email", MessageStatus.PENDING)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"consents": [_consent("case_updates", ConsentStatus.REVOKED)]}, "opted_out"),
        ({"email_address": None}, "no_contact"),
    ],
)
def test_a_message_not_allowed_is_recorded_as_cancelled(
    crm: CRM, kw: dict[str, Any], reason: str
) -> None:
    case = _pothole(crm, _citizen(crm, **kw))
    (message,) = _outbox(crm, case)
    assert (message.status, message.error, message.next_attempt_at) == (
        MessageStatus.CANCELLED,
        reason,
        None,
    )
    channel = CapturingChannel()
    assert crm.messages.dispatch(channel) == civiccrm.comms.DispatchReport()
    assert channel.sent == []


def test_an_opt_out_after_queueing_is_honoured_at_dispatch(crm: CRM, clock: FixedClock) -> None:
    ana = _citizen(crm)
    case = _pothole(crm, ana)
    clock.advance(minutes=1)
    crm.citizens.update(
        attrs_evolve(
            crm.citizens.get(ana.id),
            consents=(
                Consent(
                    purpose="case_updates", status=ConsentStatus.REVOKED, recorded_at=clock.now()
                ),
            ),
        )
    )
    channel = CapturingChannel()
    assert crm.messages.dispatch(channel).cancelled == 1
    assert channel.sent == []
    (message,) = _outbox(crm, case)
    assert (message.status, message.error) == (MessageStatus.CANCELLED, "opted_out")


def attrs_evolve(obj: Any, **kw: Any) -> Any:
    import attrs

    return attrs.evolve(obj, **kw)


def test_no_requester_no_message_and_phone_intake_no_acknowledgement(crm: CRM) -> None:
    _pothole(crm, None)
    _pothole(crm, _citizen(crm), "SR-2", channel=Channel.PHONE)
    assert crm.messages.list().items == ()


def test_public_notes_and_status_changes_are_data_driven(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm, preferred_language="es"))
    crm.cases.note(case.id, "internal: the crew lead is off sick")
    crm.messages.public_note(case.id, "Una cuadrilla irá el martes.")
    crm.cases.transition(case.id, CaseStatus.IN_PROGRESS)  # no template: no message
    crm.cases.transition(case.id, CaseStatus.RESOLVED, note="Bache reparado.")
    events = [m.event for m in _outbox(crm, case)]
    assert events == ["opened", "update", "resolved"]
    update, resolved = _outbox(crm, case)[1:]
    assert update.subject == "[SR-2026-000123] Novedades sobre su solicitud"
    assert "Una cuadrilla irá el martes." in update.body
    assert "sick" not in update.body
    assert "fue resuelta el 2026-03-10.\nBache reparado." in resolved.body
    assert resolved.survey_id is not None
    # Stored with a placeholder; the token is put in only when it is handed over.
    assert resolved.body.endswith("https://springfield.example.gov/311/survey?t=[survey token]\n")
    channel = CapturingChannel()
    crm.messages.dispatch(channel)
    (sent,) = [m for m in channel.sent if m.id == resolved.id]
    assert re.search(r"https://springfield\.example\.gov/311/survey\?t=[\w-]{32}\n$", sent.body)
    (note,) = [e for e in crm.cases.events(case) if e.data.get("public")]
    assert note.kind is EventKind.NOTE_ADDED


def test_every_requester_of_a_duplicate_hears_of_the_fix(crm: CRM) -> None:
    first = _pothole(crm, _citizen(crm), "SR-1")
    second = _pothole(crm, _citizen(crm, "Bo", email_address="bo@example.org"), "SR-2")
    crm.cases.accept_duplicate(second.id, first.id)
    crm.cases.transition(first.id, CaseStatus.RESOLVED)
    resolved = [m for m in _outbox(crm) if m.event == "resolved"]
    assert sorted(m.recipient for m in resolved) == ["ana@example.org", "bo@example.org"]
    assert all(m.subject and m.subject.startswith(f"[{m.reference}]") for m in resolved)


def test_messages_are_suppressed_for_bulk_corrections(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm))
    with crm.messages.suppressed():
        crm.cases.transition(case.id, CaseStatus.RESOLVED)
    assert [m.event for m in _outbox(crm, case)] == ["opened"]


# --- dispatch: failures, retries, recovery ---------------------------------------------


def test_temporary_failures_back_off_exponentially_then_fail(crm: CRM, clock: FixedClock) -> None:
    case = _pothole(crm, _citizen(crm))
    channel = CapturingChannel(fail=lambda m: ChannelError("smtp_451"))
    waits = []
    for attempt in range(1, 9):
        report = crm.messages.dispatch(channel)
        (message,) = _outbox(crm, case)
        assert message.attempts == attempt
        assert message.error == "smtp_451"
        if attempt < 8:
            assert (report.retrying, message.status) == (1, MessageStatus.PENDING)
            assert message.next_attempt_at is not None
            wait = message.next_attempt_at - clock.now()
            waits.append(wait.total_seconds())
            # Not due before its time.
            clock.set(message.next_attempt_at - timedelta(seconds=1))
            assert crm.messages.dispatch(channel) == civiccrm.comms.DispatchReport()
            clock.set(message.next_attempt_at)
        else:
            assert (report.failed, message.status) == (1, MessageStatus.FAILED)
    assert waits == [60, 120, 240, 480, 960, 1920, 3840]
    assert crm.interactions.for_case(case)[0].delivery_status is DeliveryStatus.FAILED
    # Queued again by hand, it goes.
    assert crm.messages.retry() == 1
    assert crm.interactions.for_case(case)[0].delivery_status is DeliveryStatus.QUEUED
    assert crm.messages.dispatch(CapturingChannel()).sent == 1


def test_a_permanent_refusal_fails_at_once(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm))
    report = crm.messages.dispatch(
        CapturingChannel(fail=lambda m: ChannelError("smtp_550", permanent=True))
    )
    assert report.failed == 1
    (message,) = _outbox(crm, case)
    assert (message.status, message.attempts, message.error) == (
        MessageStatus.FAILED,
        1,
        "smtp_550",
    )


def test_an_unexpected_error_is_kept_by_its_type_only(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm))

    def boom(message: OutgoingMessage) -> ChannelError | None:
        raise RuntimeError(f"could not reach {message.recipient}")

    assert crm.messages.dispatch(CapturingChannel(fail=boom)).retrying == 1
    assert _outbox(crm, case)[0].error == "RuntimeError"


def test_a_channel_that_is_down_stops_the_run_and_costs_no_attempt(crm: CRM) -> None:
    ana = _citizen(crm)
    _pothole(crm, ana, "SR-1")
    _pothole(crm, ana, "SR-2")
    down = CapturingChannel(fail=lambda m: ChannelError("connection_refused", channel_down=True))
    report = crm.messages.dispatch(down)
    assert report.stopped == "connection_refused"
    assert report.sent == 0
    first, second = _outbox(crm)
    assert (first.status, first.attempts, first.error) == (
        MessageStatus.PENDING,
        0,
        "connection_refused",
    )
    assert (second.attempts, second.error) == (0, None)
    assert crm.messages.dispatch(CapturingChannel()).sent == 2


def test_a_dispatcher_that_dies_mid_send_is_recovered_after_its_lease(
    crm: CRM, clock: FixedClock
) -> None:
    case = _pothole(crm, _citizen(crm))

    def die(message: OutgoingMessage) -> ChannelError | None:
        raise SystemExit("killed")  # not an Exception: nothing catches it

    with pytest.raises(SystemExit):
        crm.messages.dispatch(CapturingChannel(fail=die), lease=timedelta(minutes=5))
    (message,) = _outbox(crm, case)
    assert (message.status, message.attempts) == (MessageStatus.SENDING, 1)
    assert message.next_attempt_at == T0 + timedelta(minutes=5)
    # Under its lease, nobody takes it.
    clock.advance(minutes=4)
    channel = CapturingChannel()
    assert crm.messages.dispatch(channel) == civiccrm.comms.DispatchReport()
    clock.advance(minutes=1)
    report = crm.messages.dispatch(channel)
    assert (report.recovered, report.sent) == (1, 1)
    (sent,) = channel.sent
    assert (sent.message_id, sent.date, sent.attempt) == (message.message_id, T0, 2)
    assert _outbox(crm, case)[0].status is MessageStatus.SENT


def test_a_send_that_outlasts_its_lease_is_taken_over_and_not_marked_twice(
    crm: CRM, clock: FixedClock
) -> None:
    case = _pothole(crm, _citizen(crm))
    second = CapturingChannel()
    inner: list[Any] = []

    def slow(message: OutgoingMessage) -> ChannelError | None:
        # While this send hangs, its lease ends and another dispatcher takes the message.
        inner.append(crm.messages.dispatch(second, now=T0 + timedelta(minutes=6)))
        return None

    first = CapturingChannel(fail=slow)
    report = crm.messages.dispatch(first, lease=timedelta(minutes=5))
    assert (report.sent, report.lost) == (0, 1)
    assert (inner[0].recovered, inner[0].sent) == (1, 1)
    assert first.sent[0].message_id == second.sent[0].message_id
    (message,) = _outbox(crm, case)
    assert (message.status, message.attempts) == (MessageStatus.SENT, 2)


def test_each_claim_is_leased_from_its_own_time_not_the_runs_start(
    crm: CRM, clock: FixedClock
) -> None:
    """
    A long run: each send takes 90 s, far inside the 5-minute lease, but eight of them
    take 12 minutes. A message claimed late in the run still has its whole lease, so a
    second dispatcher that starts meanwhile leaves it alone: every message goes once.
    """
    ana = _citizen(crm)
    for n in range(8):
        _pothole(crm, ana, f"SR-{n}")
    second = CapturingChannel()
    meanwhile: list[Any] = []

    def slow(message: OutgoingMessage) -> ChannelError | None:
        clock.advance(seconds=90)
        if message.case_reference == "SR-4":  # claimed 6 minutes into the run
            meanwhile.append(crm.messages.dispatch(second))
        return None

    first = CapturingChannel(fail=slow)
    report = crm.messages.dispatch(first, lease=timedelta(minutes=5))
    delivered = [m.message_id for m in [*first.sent, *second.sent]]
    assert len(delivered) == len(set(delivered)) == 8
    assert meanwhile == [civiccrm.comms.DispatchReport(sent=3)]
    assert report == civiccrm.comms.DispatchReport(sent=5, skipped=3)
    # Claims and marks carry the time they happened, not the run's start.
    by_ref = {m.reference: m for m in _outbox(crm)}
    assert [(by_ref[f"SR-{n}"].attempted_at, by_ref[f"SR-{n}"].sent_at) for n in range(5)] == [
        (T0 + timedelta(seconds=90 * n), T0 + timedelta(seconds=90 * (n + 1))) for n in range(5)
    ]


def test_the_backoff_runs_from_the_failure_not_the_runs_start(crm: CRM, clock: FixedClock) -> None:
    """A failure late in a run is tried again a full backoff after it failed."""
    ana = _citizen(crm)
    _pothole(crm, ana, "SR-1")
    _pothole(crm, ana, "SR-2")

    def slow_then_busy(message: OutgoingMessage) -> ChannelError | None:
        clock.advance(minutes=2)
        return ChannelError("smtp_451") if message.case_reference == "SR-2" else None

    assert crm.messages.dispatch(CapturingChannel(fail=slow_then_busy)).retrying == 1
    (late,) = [m for m in _outbox(crm) if m.reference == "SR-2"]
    assert (late.attempted_at, late.next_attempt_at) == (
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=4, seconds=60),
    )


def test_each_channel_takes_the_media_it_carries(crm: CRM) -> None:
    _pothole(crm, _citizen(crm), "SR-1")
    texter = _citizen(
        crm,
        "Bo",
        email_address=None,
        phone="+12175550135",
        consents=[_consent("case_updates", ConsentStatus.GRANTED)],
    )
    _pothole(crm, texter, "SR-2")
    email_only = CapturingChannel(media={"email"})
    report = crm.messages.dispatch(email_only)
    assert (report.sent, report.unhandled) == (1, 1)
    sms = CapturingChannel(media={"sms"})
    assert crm.messages.dispatch([email_only, sms]).sent == 1
    assert [m.recipient for m in sms.sent] == ["+12175550135"]


def test_a_limit_bounds_the_run(crm: CRM) -> None:
    ana = _citizen(crm)
    for n in range(3):
        _pothole(crm, ana, f"SR-{n}")
    assert crm.messages.dispatch(CapturingChannel(), limit=2).sent == 2
    assert crm.messages.dispatch(CapturingChannel()).sent == 1


def test_an_erased_requesters_messages_are_cancelled_without_a_key(crm: CRM) -> None:
    ana = _citizen(crm)
    case = _pothole(crm, ana)
    crm.citizens.erase(ana.id, reason="GDPR art. 17 request R-1")
    shredded = crm.storage.get_key(party_key_id(ana.id))
    channel = CapturingChannel()
    assert crm.messages.dispatch(channel).cancelled == 1
    assert channel.sent == []
    (summary,) = crm.messages.list(case=case).items
    assert (summary.status, summary.error) == (MessageStatus.CANCELLED, "erased")
    # No key was made again for them (their key stays destroyed).
    assert crm.storage.get_key(party_key_id(ana.id)) == shredded


def test_messages_are_encrypted_at_rest(tmp_path: Path, clock: FixedClock) -> None:
    db = tmp_path / "secret.db"
    with civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD, clock=clock) as crm:
        ana = _citizen(crm, "Anastasia", email_address="anastasia.k@example.org")
        case = _pothole(crm, ana)
        crm.messages.public_note(case.id, "The Kowalczyk crew fills it on Tuesday.")
        crm.messages.dispatch(CapturingChannel())
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (b"anastasia.k@example.org", b"Anastasia", b"Kowalczyk", b"We received"):
        assert secret not in raw


# --- reading, retrying, queueing by hand -------------------------------------------------


def test_listing_shows_state_not_content(crm: CRM) -> None:
    ana = _citizen(crm)
    first = _pothole(crm, ana, "SR-1")
    _pothole(crm, _citizen(crm, "Bo", email_address=None), "SR-2")
    page = crm.messages.list()
    assert [(m.reference, m.status) for m in page.items] == [
        ("SR-1", MessageStatus.PENDING),
        ("SR-2", MessageStatus.CANCELLED),
    ]
    assert not hasattr(page.items[0], "recipient")
    assert [m.reference for m in crm.messages.list(status="cancelled").items] == ["SR-2"]
    assert [m.reference for m in crm.messages.list(case=first).items] == ["SR-1"]
    assert [m.reference for m in crm.messages.list(party=ana).items] == ["SR-1"]
    assert crm.messages.counts() == {"cancelled": 1, "pending": 1}
    with pytest.raises(ValidationError, match="'lost' is not one of pending, sending"):
        crm.messages.list(status="lost")
    with pytest.raises(NotFoundError):
        crm.messages.get(uuid.uuid4())


def test_only_failed_messages_are_retried(crm: CRM) -> None:
    case = _pothole(crm, _citizen(crm))
    (message,) = crm.messages.list(case=case).items
    with pytest.raises(ValidationError, match=r"messages\[0\]: message .* is pending: only failed"):
        crm.messages.retry([message.id])
    with pytest.raises(NotFoundError):
        crm.messages.retry([uuid.uuid4()])
    with pytest.raises(ValidationError, match="is not a message id"):
        crm.messages.retry(["SR-1"])
    assert crm.messages.retry() == 0


def test_notify_and_queue_by_hand(crm: CRM) -> None:
    ana = _citizen(crm)
    case = _pothole(crm, ana, channel=Channel.PHONE)
    again = crm.messages.notify(case.id, "opened", key="resend-1")
    assert again is not None
    assert again.event == "opened"
    assert crm.messages.notify(case.id, "opened", key="resend-1") == crm.messages._meta(
        crm.storage.get("outbox", str(again.id))  # type: ignore[arg-type]
    )
    with pytest.raises(ValidationError, match="no template for 'closed'"):
        crm.messages.notify(case.id, "closed")
    reply = crm.messages.queue(ana, subject="Your question", body="It is on the list.", case=case)
    assert crm.messages.get(reply.id).subject == "[SR-2026-000123] Your question"
    assert (
        crm.messages.queue(ana, subject="x", body="y", key="k1").id
        == crm.messages.queue(ana, subject="x", body="y", key="k1").id
    )
    texted = crm.messages.queue(ana, body="Hi", channel="sms")
    assert (texted.status, texted.error) == (MessageStatus.CANCELLED, "no_contact")
    with pytest.raises(ValidationError, match="subject: an email needs a subject"):
        crm.messages.queue(ana, body="no subject")
    with pytest.raises(ValidationError, match="body"):
        crm.messages.queue(ana, body=" ")
    with pytest.raises(ValidationError, match="'fax' is not email or sms"):
        crm.messages.queue(ana, body="x", channel="fax")


class _Logged:
    """Keeps the interactions the ``civiccrm_interaction_logged`` hook is told of."""

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []

    @hookimpl
    def civiccrm_interaction_logged(self, crm: CRM, interaction: Any) -> None:
        self.seen.append(interaction.id)


def test_a_reply_queued_on_a_case_is_logged_as_its_first_response(
    crm: CRM, clock: FixedClock
) -> None:
    """An agent's reply through the outbox does what logging it would: the case's first
    response (its SLA clock met), an ``interaction_logged`` event, the observers told."""
    logged = _Logged()
    crm.plugins.register(logged)
    ana = _citizen(crm)
    case = _pothole(crm, ana)
    clock.advance(minutes=30)
    reply = crm.messages.queue(ana, subject="About your pothole", body="Thursday.", case=case.id)
    answered = crm.cases.get(case.id)
    assert answered.first_response_at == T0 + timedelta(minutes=30)
    sla = crm.sla.clock(answered)
    assert sla is not None
    first = sla.target("first_response")
    assert first is not None
    assert first.met_at == T0 + timedelta(minutes=30)
    (event,) = [e for e in crm.cases.events(case) if e.kind is EventKind.INTERACTION_LOGGED]
    assert event.data == {
        "interaction_id": str(reply.interaction_id),
        "channel": "email",
        "direction": "outbound",
    }
    assert logged.seen == [reply.interaction_id]
    # A later reply is no first response; one about no case touches no case.
    clock.advance(minutes=30)
    crm.messages.queue(ana, subject="Again", body="Friday, in fact.", case=case.id)
    crm.messages.queue(ana, subject="Hello", body="Nothing about a case.")
    assert crm.cases.get(case.id).first_response_at == T0 + timedelta(minutes=30)
    assert len(logged.seen) == 3
    # The acknowledgement, sent by itself, was none (as in the test above).
    other = _pothole(crm, ana, "SR-2")
    assert crm.cases.get(other.id).first_response_at is None


def test_a_public_note_is_logged_as_a_response_in_one_write_of_the_case(
    crm: CRM, clock: FixedClock
) -> None:
    """The update a public note sends is a response too: the note, its message's
    ``interaction_logged`` event and the first response go in one version of the case,
    which ``public_note`` returns (a later change made with it is no conflict)."""
    logged = _Logged()
    crm.plugins.register(logged)
    case = _pothole(crm, _citizen(crm))
    clock.advance(minutes=10)
    noted = crm.messages.public_note(case, "A crew is booked for Tuesday.")
    assert noted == crm.cases.get(case.id)
    assert noted.first_response_at == T0 + timedelta(minutes=10)
    (update,) = [m for m in _outbox(crm, case) if m.event == "update"]
    kinds = [(e.kind, e.data.get("interaction_id")) for e in crm.cases.events(case)][-2:]
    assert kinds == [
        (EventKind.NOTE_ADDED, None),
        (EventKind.INTERACTION_LOGGED, str(update.interaction_id)),
    ]
    assert logged.seen == [update.interaction_id]
    moved = crm.cases.transition(noted, CaseStatus.IN_PROGRESS)
    assert moved.first_response_at == T0 + timedelta(minutes=10)


def test_roles(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=clock) as crm:
        case = _pothole(crm, _citizen(crm))

    def session(role: str) -> CRM:
        actor = Actor(role=role)
        return civiccrm.open(url, profile=SPRINGFIELD, clock=clock, actor=actor, purpose="test")

    # A caseworker's public note tells the requester, in full.
    with session("caseworker") as crm:
        crm.messages.public_note(case.id, "Ana Lopez's crew comes on Tuesday.")
        (update,) = [m for m in crm.messages.list(case=case).items if m.event == "update"]
        assert "Ana Lopez's crew" in crm.messages.get(update.id).body
        assert crm.messages.dispatch(CapturingChannel()).sent == 2
    # An analyst may neither send nor read messages' text; it may list their state.
    with session("analyst") as crm:
        assert len(crm.messages.list().items) == 2
        with pytest.raises(AccessDeniedError, match=r"Interaction\.body"):
            crm.messages.get(update.id)
        with pytest.raises(AccessDeniedError):
            crm.messages.dispatch(CapturingChannel())


# --- sending right after the commit, and the worker topic -------------------------------


def test_sending_right_after_the_commit(crm: CRM) -> None:
    channel = CapturingChannel()
    crm.messages.use(channel, dispatch_after_commit=True)
    ana = _citizen(crm)
    with crm.transaction():
        case = _pothole(crm, ana)
        assert channel.sent == []  # not before the commit
    assert [m.subject for m in channel.sent] == ["[SR-2026-000123] We received your request"]
    assert _outbox(crm, case)[0].status is MessageStatus.SENT
    # A channel error then leaves the message for the next dispatch; the change stands.
    crm.messages.use(
        CapturingChannel(fail=lambda m: ChannelError("timeout")), dispatch_after_commit=True
    )
    moved = crm.cases.transition(case.id, CaseStatus.RESOLVED)
    assert moved.status is CaseStatus.RESOLVED
    assert _outbox(crm, case)[-1].status is MessageStatus.PENDING


def test_the_messages_worker_topic(crm: CRM) -> None:
    _pothole(crm, _citizen(crm))
    with pytest.raises(ValidationError, match="no message channel"):
        crm.messages.dispatch()
    channel = CapturingChannel()
    crm.messages.use(channel)
    assert crm.workers.enqueue_due("messages") == 1
    report = crm.workers.run(topics=["messages"])
    assert report.processed == 1
    assert len(channel.sent) == 1
    assert crm.workers.enqueue_due("messages") == 0


def test_the_channel_spec_from_the_environment(
    crm: CRM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pothole(crm, _citizen(crm))
    monkeypatch.setenv("CIVICCRM_MESSAGE_CHANNEL", f"files:{tmp_path / 'out'}")
    assert crm.messages.dispatch().sent == 1
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1


# --- channels ---------------------------------------------------------------------------


def test_the_files_channel_writes_one_file_per_message_atomically(crm: CRM, tmp_path: Path) -> None:
    case = _pothole(crm, _citizen(crm, preferred_language="es"))
    folder = tmp_path / "outbox"
    assert crm.messages.dispatch(f"files:{folder}").sent == 1
    (message,) = _outbox(crm, case)
    (path,) = folder.iterdir()
    assert path.name == f"{message.id}.eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Subject"] == "[SR-2026-000123] Recibimos su solicitud"
    assert parsed["To"] == "ana@example.org"
    assert parsed["Content-Language"] == "es"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert "Gracias por comunicarse" in parsed.get_content()
    # Sending it again writes the same file: through this channel a repeat is no repeat.
    before = path.read_bytes()
    channel = FileChannel(folder)
    outgoing = OutgoingMessage(
        id=message.id,
        medium="email",
        recipient=message.recipient,
        subject=message.subject,
        body=message.body,
        message_id=message.message_id or "",
        date=message.created_at,
        sender=SPRINGFIELD.communications.from_address,
        reply_to=SPRINGFIELD.communications.reply_to,
        language="es",
    )
    channel.send(outgoing)
    assert [p.name for p in folder.iterdir()] == [path.name]
    assert path.read_bytes() == before


def test_a_files_channel_that_cannot_write_is_down(crm: CRM, tmp_path: Path) -> None:
    _pothole(crm, _citizen(crm))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    report = crm.messages.dispatch(f"files:{blocker / 'outbox'}")
    assert report.stopped is not None
    assert report.sent == 0
    assert crm.messages.counts() == {"pending": 1}


def test_channel_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp = open_channel("smtp://mailer:s%40cret@mail.example.gov")
    assert isinstance(smtp, SmtpChannel)
    assert (smtp.host, smtp.port, smtp.tls) == ("mail.example.gov", 587, "starttls")
    assert "cret" not in repr(smtp)
    relay = open_channel("smtp://127.0.0.1:2525?starttls=false&timeout=5&from=bounce@x.gov")
    assert isinstance(relay, SmtpChannel)
    assert (relay.port, relay.tls, relay.timeout, relay.sender) == (
        2525,
        "none",
        5.0,
        "bounce@x.gov",
    )
    tls = open_channel("smtps://mail.example.gov")
    assert isinstance(tls, SmtpChannel)
    assert (tls.port, tls.tls) == (465, "implicit")
    monkeypatch.setenv("CIVICCRM_SMTP_USERNAME", "env-user")
    monkeypatch.setenv("CIVICCRM_SMTP_PASSWORD", "env-pass")
    from_env = open_channel("smtp://mail.example.gov")
    assert isinstance(from_env, SmtpChannel)
    assert from_env._username == "env-user"
    files = open_channel(f"files://{tmp_path}")
    assert isinstance(files, FileChannel)
    assert files.folder == tmp_path
    bad = {
        "smtp://user:pw@mail.example.gov?starttls=false": "never sent without TLS",
        "smtp://mail.example.gov?colour=red": "unknown SMTP spec option 'colour'",
        "smtp://mail.example.gov:99999": "host or port is not valid",
        "smtp://mail.example.gov?timeout=soon": "timeout=",
        "smtps://mail.example.gov?starttls=true": "TLS already",
        "files:": "give the outbox folder",
        "  ": "give a channel spec",
    }
    for spec, message in bad.items():
        with pytest.raises(ValidationError, match=re.escape(message)) as info:
            open_channel(spec)
        assert "pw" not in str(info.value)
    with pytest.raises(PluginError, match="no message channel for 'fax' specs") as unknown:
        open_channel("fax://secret@number")
    assert "secret" not in str(unknown.value)


class AcmeSms:
    """An SMS vendor's channel, as a plugin would provide it."""

    name = "acme-sms"
    media = frozenset({"sms"})
    idempotent = True

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str | None:
        self.sent.append(message)
        return f"acme-{message.id}"

    def close(self) -> None:
        pass


class AcmePlugin:
    def __init__(self) -> None:
        self.channel = AcmeSms()

    @hookimpl
    def civiccrm_message_channel(self, spec: str) -> AcmeSms | None:
        return self.channel if spec.startswith("acme-sms:") else None


def test_an_sms_vendor_plugs_in_through_the_hook(tmp_path: Path, clock: FixedClock) -> None:
    plugin = AcmePlugin()
    with civiccrm.open("memory://", profile=SPRINGFIELD, clock=clock, plugins=[plugin]) as crm:
        _pothole(crm, _citizen(crm), "SR-1")
        texter = _citizen(
            crm,
            "Bo",
            email_address=None,
            phone="+12175550135",
            consents=[_consent("case_updates", ConsentStatus.GRANTED)],
        )
        _pothole(crm, texter, "SR-2")
        report = crm.messages.dispatch(["acme-sms:account=1", f"files:{tmp_path}"])
        assert report.sent == 2
    assert [m.recipient for m in plugin.channel.sent] == ["+12175550135"]
    assert len(list(tmp_path.glob("*.eml"))) == 1


# --- the command line -------------------------------------------------------------------


def _cli(*argv: str) -> tuple[int, str]:
    import io

    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_dispatch_list_retry(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD) as crm:
        case = _pothole(crm, _citizen(crm))
        _pothole(crm, _citizen(crm, "Bo", email_address=None), "SR-2")
    code, out = _cli("messages", "list", "--db", str(db))
    assert code == 0
    assert out.splitlines()[0] == "outbox: 1 cancelled, 1 pending"
    assert "ana@example.org" not in out
    assert "no_contact" in out
    folder = tmp_path / "out"
    code, out = _cli("messages", "dispatch", "--channel", f"files:{folder}", "--db", str(db))
    assert (code, out) == (
        0,
        "1 sent, 0 to retry, 0 failed, 0 cancelled (0 pending in the outbox)\n",
    )
    code, out = _cli(
        "messages",
        "list",
        "--status",
        "sent",
        "--case",
        "SR-2026-000123",
        "--db",
        str(db),
        "--json",
    )
    data = json.loads(out)
    assert [m["reference"] for m in data["messages"]] == ["SR-2026-000123"]
    assert data["messages"][0]["id"] == str(_first_id(db, case))
    code, out = _cli("messages", "retry", "--all-failed", "--db", str(db))
    assert (code, out) == (0, "0 message(s) queued again\n")
    code, _ = _cli("messages", "retry", "--db", str(db))
    assert code == 2
    code, _ = _cli("messages", "dispatch", "--channel", "fax:1", "--db", str(db))
    assert code == 2


def _first_id(db: Path, case: Case) -> uuid.UUID:
    with civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD) as crm:
        return crm.messages.list(case=case).items[0].id


def test_module_doctests() -> None:
    from civiccrm.comms import _outbound, _templates, channels

    for module in (_outbound, _templates, channels):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    assert os.environ.get("CIVICCRM_MESSAGE_CHANNEL") is None


# --- many dispatchers at once -----------------------------------------------------------

PG_URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database several sessions (as if in several processes) open at once."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    if not PG_URL:
        pytest.skip(
            'no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"` and set '
            "CIVICCRM_TEST_POSTGRESQL_URL"
        )
    import psycopg

    schema = f"civiccrm_m_{uuid.uuid4().hex[:16]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_concurrent_dispatchers_send_each_message_once(shared_url: str, clock: FixedClock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from civiccrm._keys import LocalKeyProvider

    key = LocalKeyProvider.generate() if shared_url.startswith("postgresql") else None
    with civiccrm.open(shared_url, profile=SPRINGFIELD, clock=clock, key=key) as crm:
        ana = _citizen(crm)
        for n in range(12):
            _pothole(crm, ana, f"SR-{n}")
    sessions = [
        civiccrm.open(shared_url, profile=SPRINGFIELD, clock=clock, key=key) for _ in range(3)
    ]
    channel = CapturingChannel()
    try:
        with ThreadPoolExecutor(3) as pool:
            reports = list(pool.map(lambda s: s.messages.dispatch(channel), sessions))
    finally:
        for s in sessions:
            s.close()
    assert sum(r.sent for r in reports) == 12
    assert len({m.message_id for m in channel.sent}) == len(channel.sent) == 12
    with civiccrm.open(shared_url, profile=SPRINGFIELD, clock=clock, key=key) as crm:
        assert crm.messages.counts() == {"sent": 12}
