"""
``crm.mail`` on a SQLite database and a real maildir: a test mailbox of real-world
shapes threads every reply to the right case, opens cases for the rest, and
quarantines only what cannot be read, never losing it. Then: taking nothing twice,
senders and parties, the quarantine (spool files, retry, dismiss), roles, profiles.
"""

from __future__ import annotations

import base64
import mailbox
import os
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm.crm import CRM, Actor
from civiccrm.errors import AccessDeniedError, IntegrityError, PolicyError, ValidationError
from civiccrm.models import CaseStatus, Citizen, ContactPoint, Organization
from civiccrm.models._mail import MailOutcome
from civiccrm.profile import Profile, springfield_path
from civiccrm.profile._profile import parse_profile
from tests.test_mail_shapes import (
    alternative,
    encoded,
    headers,
    html_only,
    near_emails,
    no_body,
    no_headers,
    outbound_id,
    plain,
    raw_charset,
    truncated,
    with_attachment,
)

ANA = "ana.nunez@example.org"
MB = 1024 * 1024


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[CRM]:
    with civiccrm.open(f"sqlite:///{tmp_path / 'crm.db'}", profile=springfield_path()) as c:
        yield c


def zoning_case(crm: CRM, n: int, **kw: Any) -> Any:
    return crm.cases.open(
        "018", reference=f"SR-2026-{n:06d}", attributes={"question": f"question {n}"}, **kw
    )


def inbound(crm: CRM, case: Any) -> list[Any]:
    """A case's inbound interactions (not the acknowledgements civiccrm sends)."""
    return [i for i in crm.interactions.for_case(case) if i.direction.value == "inbound"]


def maildir(tmp_path: Path, messages: list[bytes]) -> tuple[Path, list[str]]:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(str(path), create=True)
    keys = [box.add(m) for m in messages]
    box.close()
    return path, keys


def profile_with_mail(mail: dict[str, Any]) -> Profile:
    data = tomllib.loads(springfield_path().read_text(encoding="utf-8"))
    data["mail"] = mail
    return parse_profile(data, source=str(springfield_path()))


# --------------------------------------------------------------------------------------
# The must-show: a mailbox of real-world shapes


def test_a_mailbox_of_real_world_shapes(crm: CRM, tmp_path: Path) -> None:
    c1, c2, c3 = (zoning_case(crm, n) for n in (101, 102, 103))
    ana = crm.citizens.create(
        Citizen(given_name="Ana", contact_points=[ContactPoint.email("Ana.Nunez@example.org")])
    )
    big = os.urandom(22 * MB)  # base64 in the message: about 30 MB
    shapes: dict[str, tuple[bytes, str, Any]] = {
        # name: (message, outcome, the case it must be on: a case, "new", or None)
        "plain, new": (
            plain(sender="Bo <bo@example.net>", subject="Setback rules?"),
            "opened",
            "new",
        ),
        "alternative, ref in subject": (
            alternative("Thanks, see below.", "<p>Thanks</p>", subject="Re: SR-2026-000101"),
            "threaded",
            c1,
        ),
        "html only, in-reply-to": (
            html_only(
                "<p>The <b>fence</b> is 2&nbsp;m.</p>",
                subject="Re: your request",
                extra={"In-Reply-To": outbound_id(c2.id)},
            ),
            "threaded",
            c2,
        ),
        "quoted-printable latin-1, lower-case ref": (
            encoded(
                "Réponse à votre question",
                "iso-8859-1",
                "quoted-printable",
                subject="re: sr-2026-000103",
            ),
            "threaded",
            c3,
        ),
        "base64 utf-8, new": (
            encoded("Können Sie helfen?", "utf-8", "base64", subject="Frage"),
            "opened",
            "new",
        ),
        "windows-1252, references only": (
            encoded(
                "“Yes” \u2013 it\u2019s €20",
                "windows-1252",
                "quoted-printable",
                subject="Re: fee",
                extra={"References": f"<x@example.org> {outbound_id(c1.id)}"},
            ),
            "threaded",
            c1,
        ),
        "shift_jis, new": (
            encoded("道路に穴があります", "shift_jis", "base64", subject="道路"),
            "opened",
            "new",
        ),
        "a charset that does not exist": (
            raw_charset("naïve question".encode(), "x-klingon", subject="Question"),
            "opened",
            "new",
        ),
        "no body, ref in subject": (no_body(subject="Re: SR-2026-000102"), "threaded", c2),
        "30 MB with a large attachment": (
            with_attachment(
                "Plans attached.",
                big,
                filename="plans.pdf",
                ctype="application/pdf",
                extra={"In-Reply-To": outbound_id(c3.id)},
            ),
            "threaded",
            c3,
        ),
        "our id for no case": (
            plain(subject="Re: hello", extra={"In-Reply-To": outbound_id(uuid.uuid4())}),
            "opened",
            "new",
        ),
        "a known citizen": (plain(sender=f"Ana <{ANA}>", subject="New question"), "opened", "new"),
        "an auto-reply": (
            plain(subject="Out of office", extra={"Auto-Submitted": "auto-replied"}),
            "skipped",
            None,
        ),
        "truncated": (truncated(), "quarantined", None),
        "no headers at all": (no_headers(), "quarantined", None),
    }
    assert len(shapes["30 MB with a large attachment"][0]) > 29 * MB
    path, keys = maildir(tmp_path, [m for m, _, _ in shapes.values()])
    results: list[Any] = []
    report = crm.mail.poll(f"maildir:{path}", mailbox="zoning", progress=results.append)

    assert report.seen == len(shapes)
    assert (report.opened, report.threaded, report.quarantined, report.skipped) == (6, 6, 2, 1)
    assert report.duplicates == report.left == 0
    # The poller gives results in its own (file name) order: match them by Message-ID.
    by_key = dict(zip(sorted(keys), results, strict=True))
    by_name = {name: by_key[key] for name, key in zip(shapes, keys, strict=True)}
    for name, (message, outcome, where) in shapes.items():
        result = by_name[name]
        assert result.outcome.value == outcome, name
        if where == "new":
            case = crm.cases.get(result.case_id)
            assert case.channel.value == "email", name
            assert case.case_type == "018"
            assert result.case_id not in (c1.id, c2.id, c3.id), name
        elif where is not None:
            assert result.case_id == where.id, name
        if outcome == "quarantined":
            assert crm.mail.raw(result.quarantine_id) == message, name  # never lost

    # Every message is out of new/, flagged seen; polling again takes nothing.
    assert not os.listdir(path / "new")
    assert all(name.endswith(":2,S") for name in os.listdir(path / "cur"))
    again = crm.mail.poll(f"maildir:{path}", mailbox="zoning")
    assert again.seen == 0

    # The texts, decoded, on the right cases (in the order the maildir gave them).
    def texts(case: Any) -> set[str | None]:
        return {i.body for i in inbound(crm, case)}

    assert texts(c1) == {"Thanks, see below.", "“Yes” \u2013 it\u2019s €20"}
    assert texts(c2) == {"The fence is 2 m.", None}
    assert texts(c3) == {"Réponse à votre question", "Plans attached."}
    big_one = next(i for i in inbound(crm, c3) if i.body == "Plans attached.")
    (pdf,) = crm.mail.attachments(big_one)
    assert (pdf.filename, pdf.content_type, pdf.size) == ("plans.pdf", "application/pdf", len(big))

    # New cases: the text is the zoning question; senders became citizens or were found.
    known = by_name["a known citizen"]
    assert known.party_id == ana.id
    assert not known.created_party
    case = crm.cases.get(known.case_id)
    assert case.requester == ana.ref
    assert case.attributes["question"] == "There is a deep pothole outside number 12."
    first = by_name["plain, new"]
    assert first.created_party
    assert crm.citizens.get(first.party_id).contact_points[0].value == "bo@example.net"
    klingon = by_name["a charset that does not exist"]
    assert klingon.notes == (
        "text part 1: unknown charset 'x-klingon': decoded as UTF-8 with replacement",
    )
    assert inbound(crm, klingon.case_id)[0].body == "naïve question"
    nowhere = by_name["our id for no case"]
    assert "an outbound Message-ID it answers names no case: not threaded by it" in nowhere.notes

    # Only what cannot be read is quarantined, with reasons quoting nothing of it.
    reasons = sorted(q.reason for q in crm.mail.quarantine())
    assert reasons == [
        "no header fields: not an email message",
        "truncated: a multipart part's closing boundary is missing",
    ]


def test_the_text_is_encrypted_at_rest(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with civiccrm.open(f"sqlite:///{db}", profile=springfield_path()) as crm:
        crm.mail.take(
            plain("Secret-ish words about Elm", subject="Zebra crossing"), mailbox="zoning"
        )
        crm.mail.take(no_headers(), mailbox="zoning")
    raw = db.read_bytes()
    for leaked in (b"Secret-ish", b"Zebra", b"streetlight on Oak", b"ana.nunez"):
        assert leaked not in raw


# --------------------------------------------------------------------------------------
# Taking nothing twice


def test_the_same_message_twice_is_taken_once(crm: CRM) -> None:
    message = plain(message_id="<same@example.org>")
    first = crm.mail.take(message, mailbox="zoning")
    second = crm.mail.take(message, mailbox="zoning")
    assert first.outcome is MailOutcome.OPENED
    assert second.outcome is MailOutcome.DUPLICATE
    assert second.case_id == first.case_id
    assert len(inbound(crm, first.case_id)) == 1
    # A redelivery through another server (one more Received line) too.
    relayed = b"Received: from mx2.example.org\r\n" + message
    assert crm.mail.take(relayed, mailbox="water").outcome is MailOutcome.DUPLICATE


def test_without_a_message_id_the_bytes_are_its_identity(crm: CRM) -> None:
    message = b"From: bo@example.net\r\nSubject: hi\r\n\r\nno id here\r\n"
    assert crm.mail.take(message, mailbox="zoning").outcome is MailOutcome.OPENED
    assert crm.mail.take(message, mailbox="zoning").outcome is MailOutcome.DUPLICATE
    other = message.replace(b"no id", b"still no id")
    assert crm.mail.take(other, mailbox="zoning").outcome is MailOutcome.OPENED


def test_a_reused_message_id_with_other_content_is_quarantined(crm: CRM) -> None:
    crm.mail.take(plain("first", message_id="<dup@example.org>"), mailbox="zoning")
    forged = crm.mail.take(plain("second", message_id="<dup@example.org>"), mailbox="zoning")
    assert forged.outcome is MailOutcome.QUARANTINED
    assert forged.reason == "reuses the Message-ID of a message taken before, with other content"
    again = crm.mail.take(plain("second", message_id="<dup@example.org>"), mailbox="zoning")
    assert again.outcome is MailOutcome.DUPLICATE


# --------------------------------------------------------------------------------------
# Threading


def test_a_reply_to_a_closed_case_opens_a_new_linked_case(crm: CRM) -> None:
    old = zoning_case(crm, 7)
    for status in (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED):
        old = crm.cases.transition(old, status)
    result = crm.mail.take(plain(subject="Re: SR-2026-000007 one more thing"), mailbox="zoning")
    assert result.outcome is MailOutcome.OPENED
    assert crm.cases.get(result.case_id).parent_id == old.id
    assert "it answers a closed case: a new case follows it" in result.notes


def test_a_reply_to_a_closed_case_can_be_threaded(tmp_path: Path) -> None:
    profile = profile_with_mail(
        {
            "closed_cases": "thread",
            "mailboxes": {"zoning": {"case_type": "018", "body_attribute": "question"}},
        }
    )
    with civiccrm.open("memory://", profile=profile) as crm:
        old = zoning_case(crm, 8)
        crm.cases.transition(old, CaseStatus.CANCELLED)
        result = crm.mail.take(plain(extra={"In-Reply-To": outbound_id(old.id)}), mailbox="zoning")
        assert (result.outcome, result.case_id, result.threaded_by) == (
            MailOutcome.THREADED, old.id, "in-reply-to",
        )  # fmt: skip


def test_headers_win_over_the_subject(crm: CRM) -> None:
    a, b = zoning_case(crm, 1), zoning_case(crm, 2)
    result = crm.mail.take(
        plain(subject="Re: SR-2026-000001", extra={"In-Reply-To": outbound_id(b.id)}),
        mailbox="zoning",
    )
    assert result.case_id == b.id != a.id


# --------------------------------------------------------------------------------------
# Senders


def test_a_sender_of_several_parties_is_matched_to_none(crm: CRM) -> None:
    for name in ("Ana", "Anna"):
        crm.citizens.create(Citizen(given_name=name, contact_points=[ContactPoint.email(ANA)]))
    result = crm.mail.take(plain(sender=ANA), mailbox="zoning")
    assert result.party_id is None
    assert not result.created_party
    assert "the sender's address belongs to 2 parties: none was chosen" in result.notes
    assert crm.cases.get(result.case_id).requester is None


def test_an_organization_sender(crm: CRM) -> None:
    org = crm.organizations.create(
        Organization(
            name="Acme Builders", contact_points=[ContactPoint.email("permits@acme.example")]
        )
    )
    result = crm.mail.take(plain(sender="permits@acme.example"), mailbox="zoning")
    assert result.party_id == org.id


def test_an_unknown_sender_becomes_a_citizen_with_only_that_address(crm: CRM) -> None:
    result = crm.mail.take(plain(sender="Mallory Forged <new@example.net>"), mailbox="zoning")
    assert result.created_party
    citizen = crm.citizens.get(result.party_id)
    assert [cp.value for cp in citizen.contact_points] == ["new@example.net"]
    assert citizen.given_name is None  # the display name is not trusted
    # The next message from them finds that citizen.
    again = crm.mail.take(plain(sender="new@example.net", subject="again"), mailbox="zoning")
    assert again.party_id == result.party_id
    assert not again.created_party


def test_anonymous_mailboxes_make_no_citizens() -> None:
    profile = profile_with_mail(
        {"mailboxes": {"tips": {"case_type": "010", "unknown_senders": "anonymous"}}}
    )
    with civiccrm.open("memory://", profile=profile) as crm:
        result = crm.mail.take(plain(sender="whistle@example.net"), mailbox="tips")
        assert result.outcome is MailOutcome.OPENED
        assert result.party_id is None
        assert crm.cases.get(result.case_id).requester is None
        assert inbound(crm, result.case_id)[0].body is not None


def test_mail_loops_are_skipped(crm: CRM) -> None:
    ours = crm.mail.take(plain(sender="311@springfield.example.gov"), mailbox="zoning")
    assert ours.outcome is MailOutcome.SKIPPED
    assert ours.reason == "sent from one of the agency's own addresses"
    box = crm.mail.take(plain(sender="zoning@springfield.example.gov"), mailbox="zoning")
    assert box.outcome is MailOutcome.SKIPPED
    echo = crm.mail.take(plain(message_id=outbound_id(uuid.uuid4())), mailbox="zoning")
    assert echo.reason == "the agency's own outbound message"
    notice = crm.mail.take(plain(message_id="<m.5eed5eed5eed5eed@city.example>"), mailbox="zoning")
    assert notice.outcome is MailOutcome.SKIPPED
    bounce = crm.mail.take(plain(extra={"Return-Path": "<>"}), mailbox="zoning")
    assert bounce.outcome is MailOutcome.SKIPPED
    assert crm.mail.quarantine() == []


# --------------------------------------------------------------------------------------
# The quarantine


def test_an_oversized_message_waits_encrypted_beside_the_database(crm: CRM, tmp_path: Path) -> None:
    case = crm.cases.open("010", reference="SR-2026-000500")
    marker = b"PLAINTEXT-MARKER-" * 1000
    big = with_attachment(
        "Photos of the break.", marker + os.urandom(20 * MB), subject="Re: SR-2026-000500"
    )
    assert len(big) > 26 * MB  # over the water mailbox's 25 MiB
    result = crm.mail.take(big, mailbox="water")
    assert result.outcome is MailOutcome.QUARANTINED
    assert result.reason is not None
    assert result.reason.startswith("larger than the mailbox's size limit")
    (entry,) = crm.mail.quarantine()
    assert entry.spool_file is not None
    assert entry.size == len(big)
    spooled = tmp_path / "crm.db.mail" / entry.spool_file
    assert spooled.stat().st_size > len(big)
    with spooled.open("rb") as f:
        assert b"PLAINTEXT" not in f.read()
    assert crm.mail.raw(entry.id) == big
    assert crm.mail.take(big, mailbox="water").outcome is MailOutcome.DUPLICATE

    still = crm.mail.retry(entry.id)
    assert still.outcome is MailOutcome.QUARANTINED
    assert crm.mail.get(entry.id).retries == 1
    taken = crm.mail.retry(entry.id, force=True)
    assert (taken.outcome, taken.case_id) == (MailOutcome.THREADED, case.id)
    assert not spooled.exists()
    assert crm.mail.quarantine() == []
    (done,) = crm.mail.quarantine(resolved=True)
    assert done.resolution == "taken"
    with pytest.raises(IntegrityError, match="taken"):
        crm.mail.raw(entry.id)
    assert crm.keys.is_erased(f"mail:{entry.id}")
    # Polling the same message again (its receipt now says taken) takes nothing.
    assert crm.mail.take(big, mailbox="water").outcome is MailOutcome.DUPLICATE


def test_a_spool_file_is_tied_to_its_entry(crm: CRM, tmp_path: Path) -> None:
    """
    A spool file copied over another entry's is refused (its key id names another
    entry), not served or retried as that entry's message; a file under the right key
    but holding other bytes fails the entry's SHA-256; so do the bytes of a record.
    """
    from civiccrm.comms._inbound import mail_key_id
    from civiccrm.comms._mailspool import write_spooled

    x = crm.mail.take(b"X" * (MB + MB // 2) + b"\n", mailbox="zoning")
    y = crm.mail.take(b"Y" * (MB + MB // 2) + b"\n", mailbox="zoning")
    assert x.quarantine_id is not None
    assert y.quarantine_id is not None
    spool = tmp_path / "crm.db.mail"
    x_file = spool / f"{x.quarantine_id}.eml.enc"
    y_file = spool / f"{y.quarantine_id}.eml.enc"
    x_file.write_bytes(y_file.read_bytes())
    with pytest.raises(IntegrityError, match="belongs to another quarantine entry"):
        crm.mail.raw(x.quarantine_id)
    with pytest.raises(IntegrityError, match="belongs to another quarantine entry"):
        crm.mail.retry(x.quarantine_id, force=True)
    assert crm.mail.raw(y.quarantine_id) == b"Y" * (MB + MB // 2) + b"\n"

    # Someone holding the entry's key wrote other bytes under it.
    with open(os.devnull, "rb") as nothing:
        write_spooled(x_file, nothing, crm.keys.current(mail_key_id(x.quarantine_id)))
    with pytest.raises(IntegrityError, match="SHA-256 differs"):
        crm.mail.raw(x.quarantine_id)
    assert crm.mail.get(x.quarantine_id).resolved_at is None

    small = crm.mail.take(no_headers(), mailbox="zoning")
    entry = crm.mail.get(small.quarantine_id)
    crm._write(
        attrs.evolve(entry, sha256="0" * 64),
        key=crm.keys.current(mail_key_id(entry.id)),
    )
    with pytest.raises(IntegrityError, match="SHA-256 differs"):
        crm.mail.raw(entry.id)


def test_a_small_quarantined_message_is_sealed_in_its_record() -> None:
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        result = crm.mail.take(no_headers(), mailbox="zoning")
        record = crm.storage.get("mail_quarantine", str(result.quarantine_id))
        assert record is not None
        assert base64.b64encode(no_headers()).decode() not in record.doc
        assert '"raw":"c1.' in record.doc
        assert crm.mail.raw(result.quarantine_id) == no_headers()


def test_retry_after_fixing_the_profile(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    strict = profile_with_mail(
        {
            "mailboxes": {
                "zoning": {"case_type": "018", "body_attribute": "question", "max_body_chars": 5}
            }
        }
    )
    with civiccrm.open(url, profile=strict) as crm:
        result = crm.mail.take(plain("a long question"), mailbox="zoning")
        assert result.reason == "the text is longer than 5 characters"
        qid = result.quarantine_id
    with civiccrm.open(url, profile=springfield_path()) as crm:
        taken = crm.mail.retry(qid)
        assert taken.outcome is MailOutcome.OPENED
        assert inbound(crm, taken.case_id)[0].body == "a long question"
        with pytest.raises(ValidationError, match="dealt with already"):
            crm.mail.retry(qid)


def test_dismiss_destroys_the_bytes(crm: CRM) -> None:
    result = crm.mail.take(truncated(), mailbox="zoning")
    with pytest.raises(ValidationError, match="reason"):
        crm.mail.dismiss(result.quarantine_id, reason=" ")
    done = crm.mail.dismiss(result.quarantine_id, reason="spam")
    assert done.resolution == "dismissed: spam"
    assert crm.mail.quarantine() == []
    with pytest.raises(IntegrityError):
        crm.mail.raw(result.quarantine_id)
    assert crm.mail.take(truncated(), mailbox="zoning").outcome in (
        MailOutcome.QUARANTINED,  # truncated() is random: another message
        MailOutcome.DUPLICATE,
    )


def test_what_a_mailbox_gives_the_cases_it_opens() -> None:
    profile = profile_with_mail(
        {
            "mailboxes": {
                "streets": {"case_type": "001", "attributes": {"size": "large"}},
                "vehicles": {"case_type": "006", "body_attribute": "vehicle_description"},
            }
        }
    )
    with civiccrm.open("memory://", profile=profile) as crm:
        result = crm.mail.take(plain(), mailbox="streets")
        assert result.outcome is MailOutcome.OPENED
        assert crm.cases.get(result.case_id).attributes["size"] == "large"
        # A one-line (string) attribute gets the text on one line.
        car = crm.mail.take(plain("Blue van,\nno plates,\n3 weeks"), mailbox="vehicles")
        case = crm.cases.get(car.case_id)
        assert case.attributes["vehicle_description"] == "Blue van, no plates, 3 weeks"
        assert case.description == "Blue van,\nno plates,\n3 weeks"
        assert case.title == "Pothole on Elm Street"


# --------------------------------------------------------------------------------------
# Settings, roles, errors


def test_a_mailbox_that_cannot_open_its_case_type_is_refused_up_front() -> None:
    profile = profile_with_mail({"mailboxes": {"streets": {"case_type": "001"}}})
    with civiccrm.open("memory://", profile=profile) as crm:
        with pytest.raises(PolicyError) as info:
            crm.mail.take(plain(), mailbox="streets")
        assert [p.path for p in info.value.problems] == ["mail.mailboxes.streets.attributes.size"]
        assert "give it in the mailbox's attributes, or name it body_attribute" in str(info.value)
        assert crm.mail.quarantine() == []


def test_an_unknown_mailbox(crm: CRM) -> None:
    with pytest.raises(ValidationError, match=r"no mailbox 'nope'.*zoning"):
        crm.mail.take(plain(), mailbox="nope")


def test_only_the_system_role_takes_mail(tmp_path: Path) -> None:
    with civiccrm.open(
        "memory://",
        profile=springfield_path(),
        actor=Actor("kim", role="caseworker"),
        purpose="casework",
    ) as crm:
        with pytest.raises(AccessDeniedError, match="system"):
            crm.mail.take(plain(), mailbox="zoning")
        with pytest.raises(AccessDeniedError):
            crm.mail.quarantine()


# --------------------------------------------------------------------------------------
# Hypothesis: whatever arrives is taken or quarantined, never lost, never a crash


def test_arbitrary_messages_are_taken_or_quarantined() -> None:
    with civiccrm.open("memory://", profile=springfield_path()) as crm:
        crm.cases.open("018", reference="SR-2026-000001", attributes={"question": "q"})

        @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
        @given(st.one_of(st.binary(max_size=1500), near_emails()))
        def check(data: bytes) -> None:
            result = crm.mail.take(data, mailbox="zoning")
            assert result.outcome in MailOutcome
            if result.outcome is MailOutcome.QUARANTINED:
                assert crm.mail.raw(result.quarantine_id) == data
            if result.outcome in (MailOutcome.OPENED, MailOutcome.THREADED):
                assert result.interaction_id is not None

        check()


def test_headers_build_a_message_the_parser_reads() -> None:
    msg = headers(subject="x")
    msg.set_content("y")
    assert b"Subject: x" in msg.as_bytes()


def test_a_spool_file_a_crash_left_behind_is_removed(crm: CRM, tmp_path: Path) -> None:
    spool = tmp_path / "crm.db.mail"
    spool.mkdir()
    orphan = spool / f"{uuid.uuid4()}.eml.enc"
    orphan.write_bytes(b"CCMAIL1\n")
    fresh = spool / f"{uuid.uuid4()}.eml.enc"
    fresh.write_bytes(b"CCMAIL1\n")  # perhaps being written by another poller right now
    an_hour_ago = os.path.getmtime(orphan) - 3700
    os.utime(orphan, (an_hour_ago, an_hour_ago))
    path, _ = maildir(tmp_path, [])
    crm.mail.poll(f"maildir:{path}", mailbox="zoning")
    assert not orphan.exists()
    assert fresh.exists()


def test_two_pollers_racing_on_one_maildir_take_each_message_once(tmp_path: Path) -> None:
    import threading

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=springfield_path()) as setup:
        # Make the blind-index key now: two sessions making it at once each make their
        # own (see the report on civiccrm._keys.KeyRing.current).
        setup.citizens.find(email="warm@example.org")
    messages = [plain(f"message {n}", message_id=f"<race-{n}@example.org>") for n in range(12)]
    path, _ = maildir(tmp_path, messages)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            with civiccrm.open(url, profile=springfield_path()) as crm:
                reports.append(crm.mail.poll(f"maildir:{path}", mailbox="zoning"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.taken for r in reports) == len(messages)
    with civiccrm.open(url, profile=springfield_path()) as crm:
        for m in messages:
            assert crm.mail.take(m, mailbox="zoning").outcome is MailOutcome.DUPLICATE


def _stopping_after_first_lookup(crm: CRM, then: Any) -> None:
    """Make ``crm.mail`` call ``then()`` after its first look-up of a sender."""
    look_up = crm.mail._sender
    calls: list[int] = []

    def sender(*args: Any, **kw: Any) -> Any:
        found = look_up(*args, **kw)
        if not calls:
            calls.append(1)
            then()
        return found

    crm.mail._sender = sender  # type: ignore[method-assign]


def test_a_new_sender_taken_by_two_sessions_at_once_gets_one_citizen(tmp_path: Path) -> None:
    """
    Session A looks a new sender up (nobody has the address), then session B takes
    another message from that sender, making their citizen, before A commits: A finds
    B's citizen instead of making a second one, and later mail is matched to it.
    """
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = plain("one", sender="New Sender <new.sender@example.org>", subject="one")
    second = plain("two", sender="new.sender@EXAMPLE.org", subject="two")
    with (
        civiccrm.open(url, profile=springfield_path()) as a,
        civiccrm.open(url, profile=springfield_path()) as b,
    ):
        a.citizens.find(email="warm@example.org")  # the blind-index key, made once
        meanwhile: list[Any] = []
        _stopping_after_first_lookup(
            a, lambda: meanwhile.append(b.mail.take(second, mailbox="zoning"))
        )
        taken = a.mail.take(first, mailbox="zoning")
        (by_b,) = meanwhile
        assert (by_b.created_party, taken.created_party) == (True, False)
        assert by_b.party_id == taken.party_id
        (citizen,) = a.citizens.find(email="new.sender@example.org")
        assert citizen.id == taken.party_id
        later = b.mail.take(plain("three", sender="new.sender@example.org"), mailbox="zoning")
        assert (citizen.id, ()) == (later.party_id, later.notes)
        assert b.storage.count("mail_receipt", []).get(None) == 3  # no claim is left


def test_many_pollers_taking_a_new_sender_at_once_make_one_citizen(tmp_path: Path) -> None:
    """
    Threads, each with its own session on one SQLite file, all look a new sender up
    before any of them commits: one citizen is made, every message is on it.
    """
    import threading

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with civiccrm.open(url, profile=springfield_path()) as setup:
        setup.citizens.find(email="warm@example.org")  # the blind-index key, made once
    n = 4
    all_looked = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            with civiccrm.open(url, profile=springfield_path()) as crm:
                _stopping_after_first_lookup(crm, lambda: all_looked.wait(timeout=120))
                message = plain(f"message {i}", sender="new.sender@example.org", subject=f"{i}")
                results.append(crm.mail.take(message, mailbox="zoning"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.created_party for r in results if r.created_party] == [True]
    with civiccrm.open(url, profile=springfield_path()) as crm:
        (citizen,) = crm.citizens.find(email="new.sender@example.org")
        assert {citizen.id} == {r.party_id for r in results}


@pytest.mark.skipif(
    not os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL"),
    reason="no PostgreSQL server configured (CIVICCRM_TEST_POSTGRESQL_URL)",
)
def test_many_pollers_taking_a_new_sender_at_once_make_one_citizen_on_postgresql() -> None:
    """
    The same on PostgreSQL, whose transactions run at once (read committed): the
    claim on the sender's address makes the later ones wait, then find the citizen.
    """
    import threading

    import psycopg

    from civiccrm import LocalKeyProvider

    base = os.environ["CIVICCRM_TEST_POSTGRESQL_URL"]
    schema = f"mail_{uuid.uuid4().hex[:12]}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    key = LocalKeyProvider.generate()
    n = 6
    all_looked = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def take(i: int) -> None:
        try:
            with civiccrm.open(url, profile=springfield_path(), key=key) as crm:
                _stopping_after_first_lookup(crm, lambda: all_looked.wait(timeout=120))
                message = plain(f"message {i}", sender="new.sender@example.org", subject=f"{i}")
                results.append(crm.mail.take(message, mailbox="zoning"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        with civiccrm.open(url, profile=springfield_path(), key=key) as setup:
            setup.citizens.find(email="warm@example.org")  # the blind-index key, made once
        threads = [threading.Thread(target=take, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [r.created_party for r in results if r.created_party] == [True]
        with civiccrm.open(url, profile=springfield_path(), key=key) as crm:
            (citizen,) = crm.citizens.find(email="new.sender@example.org")
            assert {citizen.id} == {r.party_id for r in results}
            assert {None: n} == crm.storage.count("mail_receipt", [])
    finally:
        with psycopg.connect(base.split("?")[0]) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
