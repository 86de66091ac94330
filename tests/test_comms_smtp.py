"""
Email through a real SMTP server (aiosmtpd on 127.0.0.1): every message arrives exactly
once, also when the process that queued it is killed (SIGKILL) between the commit and
the send; what the receiver sees when it is killed between the send and the mark; the
server's refusals; STARTTLS with a certificate made here, and a login over it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import civiccrm
from civiccrm._clock import FixedClock
from civiccrm.crm import CRM
from civiccrm.models import CaseStatus, Citizen, ContactPoint, MessageStatus
from civiccrm.profile import load_profile, springfield_path

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")

SPRINGFIELD = load_profile(springfield_path())
T0 = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


class Mailbox:
    """An aiosmtpd handler keeping what it accepts; it can refuse as told."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        #: Recipients refused with 550.
        self.unknown: set[str] = set()
        #: How many DATA commands to answer 451 (try later) before accepting.
        self.busy = 0
        #: Recipients whose DATA is answered 421 (the server closes the connection).
        self.closing: set[str] = set()
        #: How many MAIL FROM commands to answer 452 (try later) before accepting.
        self.sender_busy = 0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        if self.sender_busy:
            self.sender_busy -= 1
            return "452 4.3.1 Insufficient system storage"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.closing & set(envelope.rcpt_tos):
            return "421 4.7.0 Temporary server error, try again later"
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Accepted"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.received]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, str]]:
    """A plain SMTP server on 127.0.0.1, and the spec of a channel to it."""
    handler = Mailbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}?starttls=false&timeout=10"
    finally:
        controller.stop()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def _open(db: Path, clock: FixedClock | None = None) -> CRM:
    return civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD, clock=clock)


def _citizen(crm: CRM, name: str, address: str) -> Citizen:
    return crm.citizens.create(
        Citizen(given_name=name, contact_points=[ContactPoint.email(address)])
    )


def _open_case(crm: CRM, who: Citizen, reference: str) -> Any:
    return crm.cases.open("001", requester=who, attributes={"size": "large"}, reference=reference)


def _outbox(db: Path) -> list[Any]:
    with _open(db) as crm:
        return [crm.messages.get(m.id) for m in crm.messages.list(limit=1000).items]


# --- exactly once ----------------------------------------------------------------------


def test_every_message_arrives_once(
    mailbox: tuple[Mailbox, str], tmp_path: Path, clock: FixedClock
) -> None:
    server, spec = mailbox
    db = tmp_path / "once.db"
    with _open(db, clock) as crm:
        ana = _citizen(crm, "Ana", "ana@example.org")
        luis = _citizen(crm, "Luis", "luis@example.org")
        first = _open_case(crm, ana, "SR-2026-000001")
        _open_case(crm, luis, "SR-2026-000002")
        crm.messages.public_note(first.id, "Crew booked for Tuesday.")
        crm.cases.transition(first.id, CaseStatus.RESOLVED, note="Filled.")
        report = crm.messages.dispatch(spec)
        assert report.sent == 4
        clock.advance(hours=1)
        assert crm.messages.dispatch(spec).sent == 0
    stored = _outbox(db)
    assert sorted(server.message_ids()) == sorted(m.message_id for m in stored)
    assert len(set(server.message_ids())) == 4
    by_id = {str(m["Message-ID"]): m for m in server.received}
    tokens = []
    for message in stored:
        got = by_id[message.message_id]
        assert got["Subject"] == message.subject
        assert got["To"] == message.recipient
        assert got["From"] == "City of Springfield 311 <311@springfield.example.gov>"
        assert got["Subject"].startswith(f"[{message.reference}] ")
        text = got.get_content().replace("\r\n", "\n")
        if message.survey_id is not None:
            # Stored with a placeholder; the emailed text carries the survey token.
            found = re.search(r"survey\?t=([\w-]{32})\n", text)
            assert found is not None
            tokens.append(found.group(1))
            assert text == message.body.replace("[survey token]", found.group(1))
        else:
            assert text == message.body
        # The case id, for threading replies; no personal data.
        assert message.message_id.startswith(f"<c.{message.case_id.hex}.")
    assert {e[0] for e in server.envelopes} == {"311@springfield.example.gov"}
    assert sorted(e[1][0] for e in server.envelopes) == [
        "ana@example.org",
        "ana@example.org",
        "ana@example.org",
        "luis@example.org",
    ]
    (token,) = tokens
    with _open(db, clock) as crm:
        assert crm.surveys.check(token).case_id == first.id


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import timedelta

    import civiccrm
    from civiccrm.comms import SmtpChannel
    from civiccrm.models import Citizen, ContactPoint
    from civiccrm.profile import springfield_path

    db, spec, when = sys.argv[1], sys.argv[2], sys.argv[3]


    class Die:
        '''SIGKILL itself: before handing the message over, or just after.'''

        name = "die"
        media = frozenset({"email"})
        idempotent = False

        def __init__(self):
            self.smtp = SmtpChannel.from_spec(spec)

        def send(self, message):
            if when == "after-send":
                self.smtp.send(message)
            os.kill(os.getpid(), signal.SIGKILL)

        def close(self):
            self.smtp.close()


    with civiccrm.open("sqlite:///" + db, profile=springfield_path()) as crm:
        if when != "after-commit":
            crm.messages.use(Die(), dispatch_after_commit=True, lease=timedelta(minutes=5))
        ana = crm.citizens.create(
            Citizen(given_name="Ana", contact_points=[ContactPoint.email("ana@example.org")])
        )
        crm.cases.open("001", requester=ana, attributes={"size": "large"},
                       reference="SR-2026-000009")
        # Committed. Killed now, or (when sending after the commit) in Die.send.
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _killed_child(db: Path, spec: str, when: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), spec, when],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_crash_between_commit_and_send_loses_nothing_and_doubles_nothing(
    mailbox: tuple[Mailbox, str], tmp_path: Path
) -> None:
    server, spec = mailbox
    db = tmp_path / "crash.db"
    _killed_child(db, spec, "after-commit")
    assert server.received == []
    (queued,) = _outbox(db)
    assert queued.status is MessageStatus.PENDING
    # The next dispatch, in a fresh process, sends it; the one after sends nothing.
    argv = ["messages", "dispatch", "--channel", spec, "--db", str(db)]
    done = subprocess.run(
        [sys.executable, "-m", "civiccrm.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 sent, ")
    with _open(db) as crm:
        assert crm.messages.dispatch(spec).sent == 0
    assert server.message_ids() == [queued.message_id]


def test_a_crash_after_the_claim_before_the_send_sends_once_after_the_lease(
    mailbox: tuple[Mailbox, str], tmp_path: Path
) -> None:
    server, spec = mailbox
    db = tmp_path / "claimed.db"
    _killed_child(db, spec, "before-send")
    (claimed,) = _outbox(db)
    assert (claimed.status, claimed.attempts) == (MessageStatus.SENDING, 1)
    assert claimed.next_attempt_at is not None
    with _open(db) as crm:
        # Under its lease it is left alone; after it, taken again.
        before = claimed.next_attempt_at - dt.timedelta(seconds=1)
        assert crm.messages.dispatch(spec, now=before).sent == 0
        report = crm.messages.dispatch(spec, now=claimed.next_attempt_at)
        assert (report.recovered, report.sent) == (1, 1)
    assert server.message_ids() == [claimed.message_id]


def test_a_crash_after_the_send_before_the_mark_repeats_the_same_message(
    mailbox: tuple[Mailbox, str], tmp_path: Path
) -> None:
    """
    The one window in which a message can reach its recipient twice: the server took it,
    and the dispatcher died before it recorded that. After the lease the message is
    sent again, byte for byte the same (the same Message-ID and Date): the receiver
    sees two copies of one message, which a mail store or client that deduplicates by
    Message-ID shows once.
    """
    server, spec = mailbox
    db = tmp_path / "sent.db"
    _killed_child(db, spec, "after-send")
    (message,) = _outbox(db)
    assert message.status is MessageStatus.SENDING
    assert server.message_ids() == [message.message_id]
    assert message.next_attempt_at is not None
    with _open(db) as crm:
        report = crm.messages.dispatch(spec, now=message.next_attempt_at)
        assert (report.recovered, report.sent) == (1, 1)
        assert crm.messages.dispatch(spec, now=message.next_attempt_at).sent == 0
    first, second = server.received
    assert first["Message-ID"] == second["Message-ID"] == message.message_id
    assert first.as_bytes() == second.as_bytes()
    assert len(set(server.message_ids())) == 1


def test_an_internationalised_domain_goes_in_its_ascii_form(
    mailbox: tuple[Mailbox, str], tmp_path: Path, clock: FixedClock
) -> None:
    server, spec = mailbox  # a server without SMTPUTF8
    with _open(tmp_path / "idn.db", clock) as crm:
        _open_case(crm, _citizen(crm, "Luz", "luz@bücher.example"), "SR-1")
        assert crm.messages.dispatch(spec).sent == 1
    assert server.envelopes[0][1] == ["luz@xn--bcher-kva.example"]
    assert server.received[0]["To"] == "luz@xn--bcher-kva.example"


# --- the server's answers ----------------------------------------------------------------


def test_refusals_fail_or_retry(
    mailbox: tuple[Mailbox, str], tmp_path: Path, clock: FixedClock
) -> None:
    server, spec = mailbox
    server.unknown.add("gone@example.org")
    server.busy = 1
    with _open(tmp_path / "refused.db", clock) as crm:
        _open_case(crm, _citizen(crm, "Ana", "ana@example.org"), "SR-1")
        _open_case(crm, _citizen(crm, "Gus", "gone@example.org"), "SR-2")
        report = crm.messages.dispatch(spec)
        assert (report.sent, report.retrying, report.failed) == (0, 1, 1)
        states = {m.reference: (m.status, m.error) for m in crm.messages.list().items}
        assert states == {
            "SR-1": (MessageStatus.PENDING, "smtp_451"),
            "SR-2": (MessageStatus.FAILED, "smtp_550"),
        }
        clock.advance(minutes=1)
        assert crm.messages.dispatch(spec).sent == 1
    assert [m["To"] for m in server.received] == ["ana@example.org"]


def test_a_421_to_one_message_delays_that_message_alone(
    mailbox: tuple[Mailbox, str], tmp_path: Path, clock: FixedClock
) -> None:
    """
    A server that answers one message's DATA with 421 refuses that message, not the
    channel: the others go in the same run, and the refused one is tried again after
    its backoff, each try counted, until it fails after the last attempt.
    """
    server, spec = mailbox
    server.closing.add("bad@example.org")
    with _open(tmp_path / "421.db", clock) as crm:
        # First in line, so that a run stopped by it would send nothing.
        _open_case(crm, _citizen(crm, "Bo", "bad@example.org"), "SR-1")
        _open_case(crm, _citizen(crm, "Ana", "ana@example.org"), "SR-2")
        _open_case(crm, _citizen(crm, "Luis", "luis@example.org"), "SR-3")
        report = crm.messages.dispatch(spec)
        assert (report.sent, report.retrying, report.stopped) == (2, 1, None)
        for attempt in range(2, 9):
            (bad,) = crm.messages.list(status="pending").items
            assert (bad.reference, bad.attempts, bad.error) == ("SR-1", attempt - 1, "smtp_421")
            assert bad.next_attempt_at is not None
            assert bad.next_attempt_at > clock.now()  # after a backoff
            clock.set(bad.next_attempt_at)
            report = crm.messages.dispatch(spec)
            assert report.stopped is None
        assert (report.failed, report.retrying) == (1, 0)
        states = {m.reference: (m.status, m.attempts, m.error) for m in crm.messages.list().items}
        assert states == {
            "SR-1": (MessageStatus.FAILED, 8, "smtp_421"),
            "SR-2": (MessageStatus.SENT, 1, None),
            "SR-3": (MessageStatus.SENT, 1, None),
        }
    assert sorted(m["To"] for m in server.received) == ["ana@example.org", "luis@example.org"]


def test_a_sender_refused_for_a_while_delays_that_message_alone(
    mailbox: tuple[Mailbox, str], tmp_path: Path, clock: FixedClock
) -> None:
    """A 4xx to MAIL FROM is a temporary failure of that message (counted), not a
    channel down that would stop the run at it."""
    server, spec = mailbox
    server.sender_busy = 1
    with _open(tmp_path / "452.db", clock) as crm:
        _open_case(crm, _citizen(crm, "Bo", "bo@example.org"), "SR-1")
        _open_case(crm, _citizen(crm, "Ana", "ana@example.org"), "SR-2")
        report = crm.messages.dispatch(spec)
        assert (report.sent, report.retrying, report.stopped) == (1, 1, None)
        (busy,) = crm.messages.list(status="pending").items
        assert (busy.reference, busy.attempts, busy.error) == ("SR-1", 1, "smtp_452")
        clock.advance(minutes=1)
        assert crm.messages.dispatch(spec).sent == 1
    assert [m["To"] for m in server.received] == ["ana@example.org", "bo@example.org"]


def test_a_server_that_is_not_there_is_a_channel_down(tmp_path: Path, clock: FixedClock) -> None:
    with _open(tmp_path / "down.db", clock) as crm:
        _open_case(crm, _citizen(crm, "Ana", "ana@example.org"), "SR-1")
        report = crm.messages.dispatch(f"smtp://127.0.0.1:{_free_port()}?starttls=false&timeout=5")
        assert report.stopped == "connection_refused"
        (message,) = crm.messages.list().items
        assert (message.status, message.attempts) == (MessageStatus.PENDING, 0)


# --- STARTTLS ---------------------------------------------------------------------------


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made now."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civiccrm test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)


def test_starttls_with_a_login(tmp_path: Path, clock: FixedClock, caplog: Any) -> None:
    cert, key = _certificate(tmp_path, "server")
    other, _ = _certificate(tmp_path, "other")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Mailbox()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_login,
        auth_required=True,
    )
    controller.start()
    base = f"127.0.0.1:{port}"
    caplog.set_level(logging.DEBUG)
    try:
        with _open(tmp_path / "tls.db", clock) as crm:
            _open_case(crm, _citizen(crm, "Ana", "ana@example.org"), "SR-1")
            attempts = {
                # In clear: the server wants STARTTLS first (530), and gets no password.
                f"smtp://{base}?starttls=false&timeout=10": "smtp_530",
                # A certificate we do not trust.
                f"smtp://mailer:s3cret@{base}?cafile={other}&timeout=10": "tls_error",
                # The right certificate, the wrong password.
                f"smtp://mailer:wrong@{base}?cafile={cert}&timeout=10": "smtp_auth_535",
            }
            for spec, code in attempts.items():
                report = crm.messages.dispatch(spec)
                assert (report.stopped, report.sent) == (code, 0), spec
            good = f"smtp://mailer:s3cret@{base}?starttls=true&cafile={cert}&timeout=10"
            assert crm.messages.dispatch(good).sent == 1
            (message,) = crm.messages.list().items
            assert (message.status, message.attempts) == (MessageStatus.SENT, 1)
    finally:
        controller.stop()
    assert [m["To"] for m in handler.received] == ["ana@example.org"]
    assert "s3cret" not in caplog.text
    assert "wrong" not in caplog.text
