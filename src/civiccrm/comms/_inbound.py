"""
``crm.mail``: inbound email, the channel most citizens still use.

Each message is taken in one transaction: threaded to the case it answers (by the
Message-ID of our outbound email in its In-Reply-To or References, else by a case
reference in its subject) or opening a new case of its mailbox's case type, its sender
matched to a party through the email blind index, its text stored as an inbound
interaction (encrypted like any other), its attachments' metadata kept on its receipt.
What cannot be read goes to the quarantine with the reason, its raw bytes encrypted,
never lost. A receipt, by a blind index of the Message-ID, makes polling again take
nothing twice; the mailbox is told to let a message go only after its commit.

Nothing here logs a subject, a text or an address.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm.comms._mailboxes import builtin_poller
from civiccrm.comms._mailparse import (
    ParsedMail,
    is_outbound_id,
    message_id_of,
    outbound_case_id,
    parse_message,
)
from civiccrm.comms._mailspool import read_spooled, write_spooled
from civiccrm.comms._surveys import TOKEN_PLACEHOLDER, token_hash
from civiccrm.comms.mailbox import MailboxPoller, RawMail
from civiccrm.errors import (
    AccessDeniedError,
    CivicCRMError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PluginError,
    PolicyError,
    Problem,
    StorageError,
    ValidationError,
)
from civiccrm.models import (
    AttributeDatatype,
    Case,
    CaseStatus,
    Channel,
    Citizen,
    ContactPoint,
    Direction,
    Interaction,
    PartyRef,
)
from civiccrm.models._mail import MailAttachment, MailOutcome, MailReceipt, QuarantinedMail
from civiccrm.privacy.crypto import normalize_email_for_index
from civiccrm.profile._mail import MailboxSettings

if TYPE_CHECKING:
    from datetime import datetime

    from civiccrm.adapters._base import Record
    from civiccrm.crm import CRM

__all__ = ["MailResult", "MailService", "PollReport", "mail_key_id"]

#: Raw messages up to this size are kept in the quarantine record itself; larger ones
#: in an encrypted file beside a SQLite database (in the record elsewhere).
INLINE_MAX: Final = 1024 * 1024
#: How much of an oversized message is read for its Message-ID.
_HEADER_MAX: Final = 256 * 1024
#: A case's description and a body attribute are cut to this (the interaction keeps all).
_SUMMARY_MAX: Final = 4000
_TITLE_MAX: Final = 200
#: Spool files this old without a record are left by a crash: removed (seconds).
_ORPHAN_AGE: Final = 3600.0
_OUTCOMES: Final = ("opened", "threaded", "quarantined", "skipped", "duplicate")


def mail_key_id(quarantine_id: object) -> str:
    """
    The data key of one quarantined message (``mail:<id>``): it belongs to no party
    and no case, and is destroyed when the message is taken on a retry or dismissed.

    .. versionadded:: 0.1.0
    """
    return f"mail:{quarantine_id}"


@attrs.frozen(kw_only=True)
class MailResult:
    """
    What became of one inbound message. Quotes nothing from it.

    .. versionadded:: 0.1.0
    """

    outcome: MailOutcome
    case_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None
    #: The party the sender was matched to (or made), if any.
    party_id: uuid.UUID | None = None
    #: True when the sender was unknown and a citizen was made for them.
    created_party: bool = False
    quarantine_id: uuid.UUID | None = None
    #: ``in-reply-to``, ``references`` or ``subject`` for a threaded message.
    threaded_by: str | None = None
    #: Why it was skipped or quarantined.
    reason: str | None = None
    notes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PollReport:
    """
    What a poll of a mailbox did.

    .. versionadded:: 0.1.0
    """

    mailbox: str
    #: The poller's name (``maildir:/srv/mail/311``).
    source: str
    #: Messages looked at.
    seen: int = 0
    opened: int = 0
    threaded: int = 0
    quarantined: int = 0
    skipped: int = 0
    duplicates: int = 0
    #: Messages that could not be read from the mailbox just now (gone meanwhile, a
    #: file error): not acknowledged, so the next poll sees them again.
    left: int = 0
    #: The quarantine entries this poll made.
    quarantine_ids: tuple[uuid.UUID, ...] = ()

    @property
    def taken(self) -> int:
        """Messages stored as interactions (opened a case or threaded to one)."""
        return self.opened + self.threaded


#: A survey token's shape (32 URL-safe base64 characters), standing alone.
_TOKEN_RE: Final = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")


def _no_key(_key_id: str, _generation: int) -> None:
    """Read a record without opening its personal fields (they come back empty)."""
    return


def _receipt_of(result: MailResult, receipt: MailReceipt) -> MailResult:
    return attrs.evolve(
        result,
        case_id=receipt.case_id,
        interaction_id=receipt.interaction_id,
        party_id=receipt.party_id,
        quarantine_id=receipt.quarantine_id,
    )


class MailService:
    """
    Inbound email: ``crm.mail``.

    >>> import civiccrm
    >>> from civiccrm.profile import springfield_path
    >>> message = (
    ...     b"From: ana@example.org\\r\\nSubject: Zoning of 12 Elm St\\r\\n"
    ...     b"Message-ID: <1@example.org>\\r\\n\\r\\nIs a bakery allowed there?\\r\\n"
    ... )
    >>> with civiccrm.open("memory://", profile=springfield_path()) as crm:
    ...     first = crm.mail.take(message, mailbox="zoning")
    ...     again = crm.mail.take(message, mailbox="zoning")  # polled twice: taken once
    ...     first.outcome.value, first.created_party, again.outcome.value
    ('opened', True, 'duplicate')

    Only the ``system`` role (a script, a worker) takes mail and handles the
    quarantine: the raw messages it holds are every kind of personal data at once.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
        self._checked: set[str] = set()

    # ----------------------------------------------------------------------------------
    # Taking mail

    def open_poller(self, spec: str) -> MailboxPoller:
        """
        The mailbox poller for ``spec`` (``maildir:/srv/mail/311``, ``mbox:/var/mail/x``,
        or what a ``civiccrm_mailbox_poller`` plugin understands).

        Raises:
            PluginError: nothing understands ``spec``.
            ValidationError: there is no such maildir or mbox.
        """
        found = self._crm.plugins.hook.civiccrm_mailbox_poller(spec=spec)
        if found is None:
            found = builtin_poller(spec)
        if found is None:
            scheme = spec.split(":", 1)[0] if ":" in spec else spec
            raise PluginError(
                f"no mailbox poller for {scheme!r} specs (built in: maildir:PATH, mbox:PATH); "
                "is its plugin installed?"
            )
        poller: MailboxPoller = found
        return poller

    def poll(
        self,
        source: str | MailboxPoller,
        *,
        mailbox: str,
        limit: int | None = None,
        progress: Callable[[MailResult], None] | None = None,
    ) -> PollReport:
        """
        Take every message waiting in ``source`` (a spec or a poller) for the profile's
        mailbox ``mailbox``, each in its own transaction, acknowledging each to the
        poller after its commit. A message that cannot be read is quarantined, never
        stops the poll, and is never lost; an automatic reply or the agency's own mail
        is skipped; a message taken before (the poll before was killed between commit
        and acknowledgement) is not taken again.

        Args:
            source: ``maildir:PATH``, ``mbox:PATH``, a plugin's spec, or a poller (not
                closed here).
            mailbox: the ``[mail.mailboxes.<name>]`` of the profile these messages
                arrived in (its case type, size limit, own addresses).
            limit: take at most this many messages (the rest wait for the next poll).
            progress: called with each message's result.

        Raises:
            ValidationError: no such mailbox in the profile, or no such maildir/mbox.
            PolicyError: the mailbox's case type cannot be opened with its settings.
            PluginError: no poller for ``source``, or the poller failed.
            StorageError: the database failed (the message being taken stays in the
                mailbox for the next poll).
        """
        self._system_only()
        box = self._mailbox(mailbox)
        owned = isinstance(source, str)
        poller = self.open_poller(source) if isinstance(source, str) else source
        counts = dict.fromkeys(_OUTCOMES, 0)
        seen = left = 0
        quarantined: list[uuid.UUID] = []
        try:
            self._tidy_spool()
            for mail in self._messages(poller):
                if limit is not None and seen >= limit:
                    break
                seen += 1
                try:
                    result = self._take(mail, box)
                except OSError:
                    left += 1  # the message went away or cannot be read now
                    continue
                self._acknowledge(poller, mail.uid)
                counts[result.outcome.value] += 1
                if result.outcome is MailOutcome.QUARANTINED and result.quarantine_id:
                    quarantined.append(result.quarantine_id)
                if progress is not None:
                    progress(result)
        finally:
            if owned:
                poller.close()
        return PollReport(
            mailbox=box.name,
            source=poller.name,
            seen=seen,
            opened=counts["opened"],
            threaded=counts["threaded"],
            quarantined=counts["quarantined"],
            skipped=counts["skipped"],
            duplicates=counts["duplicate"],
            left=left,
            quarantine_ids=tuple(quarantined),
        )

    def _without_survey_tokens(self, text: str) -> str:
        """``text`` with every live survey token in it replaced by the placeholder: a
        citizen replying to a resolution email quotes its survey link, and a stored
        token would let whoever reads the reply answer the survey in their name."""
        if not text:
            return text
        storage = self._crm.storage

        def scrub(match: re.Match[str]) -> str:
            token = match.group(0)
            if storage.get_by_key("survey", token_hash(token)) is not None:
                return TOKEN_PLACEHOLDER
            return token

        return _TOKEN_RE.sub(scrub, text)

    def take(self, message: bytes | RawMail, *, mailbox: str) -> MailResult:
        """
        Take one raw message (its bytes, as received) that arrived in the profile's
        mailbox ``mailbox``: threaded, opened, quarantined, skipped, or a duplicate of
        one taken before.

        Raises:
            ValidationError: no such mailbox in the profile.
            PolicyError: the mailbox's case type cannot be opened with its settings.
            StorageError: the database failed.
        """
        self._system_only()
        box = self._mailbox(mailbox)
        if isinstance(message, bytes | bytearray | memoryview):
            message = RawMail.from_bytes(bytes(message))
        if not isinstance(message, RawMail):
            raise ValidationError.at("message", "give the message's bytes or a RawMail")
        return self._take(message, box)

    def mailbox(self, name: str) -> MailboxSettings:
        """
        The settings of the profile's mailbox ``name``, checked against its case type
        (that a case of it can be opened from an email).

        Raises:
            ValidationError: no such mailbox in the profile.
            PolicyError: its case type does not exist, is not active, or needs
                attributes the mailbox does not give.
        """
        return self._mailbox(name)

    # ----------------------------------------------------------------------------------
    # The quarantine

    def quarantine(
        self, *, mailbox: str | None = None, resolved: bool = False
    ) -> list[QuarantinedMail]:
        """
        The messages in the quarantine, oldest first: those waiting for a person, or
        with ``resolved`` those dealt with too. Their raw bytes are not read (``raw``
        is empty): :meth:`raw` reads one.
        """
        self._system_only()
        from civiccrm._records import KINDS
        from civiccrm.adapters._base import Filter, Order, Query

        crm = self._crm
        kind = KINDS[QuarantinedMail]
        where = (Filter("mailbox", "eq", mailbox),) if mailbox is not None else ()
        query = Query(kind.name, where, Order("received_at"))
        found: list[QuarantinedMail] = []
        for record in crm.storage.stream(query):
            q: QuarantinedMail = kind.from_record(record, crm.converter, _no_key)
            if resolved or q.resolved_at is None:
                found.append(q)
        return found

    def get(self, quarantine_id: uuid.UUID | str) -> QuarantinedMail:
        """
        One quarantine entry, its ``raw`` (base64) opened if the record holds it (a
        read of personal data, in the audit trail).

        Raises:
            NotFoundError: no such entry.
        """
        self._system_only()
        return self._crm._load(QuarantinedMail, self._uuid(quarantine_id))

    def raw(self, quarantine_id: uuid.UUID | str) -> bytes:
        """
        The raw bytes of a quarantined message, for a person to look at (a read of
        personal data, in the audit trail).

        Raises:
            NotFoundError: no such entry.
            IntegrityError: it was dealt with and its bytes destroyed, or its file is
                damaged.
        """
        q = self.get(quarantine_id)
        return b"".join(self._raw_chunks(q))

    def retry(self, quarantine_id: uuid.UUID | str, *, force: bool = False) -> MailResult:
        """
        Take a quarantined message again (after the profile was fixed, the size limit
        raised ...). If it is taken, the entry is resolved and its raw bytes destroyed;
        if not, it stays with the new reason. ``force`` takes what can be read of it
        whatever its problem (a person looked at it): over the size limit, truncated,
        without headers. Automatic-reply rules are not applied to a retry.

        Raises:
            NotFoundError: no such entry.
            ValidationError: the entry was dealt with already, or its mailbox is no
                longer in the profile.
        """
        q = self.get(quarantine_id)
        if q.resolved_at is not None:
            raise ValidationError.at(
                "quarantine_id", f"{q.id} was dealt with already ({q.resolution})"
            )
        box = self._mailbox(q.mailbox)
        data = b"".join(self._raw_chunks(q))
        return self._take(RawMail.from_bytes(data, str(q.id)), box, force=force, retry=q)

    def dismiss(self, quarantine_id: uuid.UUID | str, *, reason: str) -> QuarantinedMail:
        """
        Close a quarantine entry without taking it (spam, a test, a duplicate a person
        recognised): its raw bytes are destroyed (crypto-shredding: its key is
        destroyed, its file removed). ``reason`` is kept in clear: never personal data.

        Raises:
            NotFoundError: no such entry.
            ValidationError: no reason, or the entry was dealt with already.
        """
        self._system_only()
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError.at("reason", "say why the message is dismissed")
        crm = self._crm
        q = self.get(quarantine_id)
        if q.resolved_at is not None:
            raise ValidationError.at(
                "quarantine_id", f"{q.id} was dealt with already ({q.resolution})"
            )
        done = attrs.evolve(
            q,
            raw="",
            resolved_at=crm._now(),
            resolution=f"dismissed: {' '.join(reason.split())[:200]}",
        )
        with crm.transaction():
            stored = crm._write(done, key=crm.keys.current(mail_key_id(q.id), create=True))
        self._shred(q)
        return stored

    # ----------------------------------------------------------------------------------
    # Receipts and attachments

    def receipt_for(self, interaction: Interaction | uuid.UUID | str) -> MailReceipt | None:
        """
        The receipt of the message an interaction was taken from (with its attachments'
        metadata), or None if it was not taken from inbound email.
        """
        self._system_only()
        from civiccrm._records import KINDS
        from civiccrm.adapters._base import Filter, Query

        crm = self._crm
        found = interaction if isinstance(interaction, Interaction) else None
        if found is None:
            found = crm.interactions.get(self._uuid(interaction, "interaction"))
        if found.case_id is None:
            return None
        kind = KINDS[MailReceipt]
        query = Query(kind.name, (Filter("case_id", "eq", str(found.case_id)),))
        for record in crm.storage.stream(query):
            receipt: MailReceipt = kind.from_record(record, crm.converter, _no_key)
            if receipt.interaction_id == found.id:
                opened: MailReceipt = crm._from_record(kind, record)
                crm._audit_read(kind.name, [record.id])
                return opened
        return None

    def attachments(self, interaction: Interaction | uuid.UUID | str) -> tuple[MailAttachment, ...]:
        """The metadata of the attachments of the message an interaction was taken from."""
        receipt = self.receipt_for(interaction)
        return () if receipt is None else receipt.attachments

    # ----------------------------------------------------------------------------------
    # Inside

    def _system_only(self) -> None:
        if self._crm.role is not None:
            raise AccessDeniedError(
                f"role {self._crm.role.code!r} may not take inbound mail or handle its "
                "quarantine: the 'system' role does (a script or a worker)"
            )

    @staticmethod
    def _uuid(value: object, field: str = "quarantine_id") -> uuid.UUID:
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise ValidationError.at(field, f"{value!r} is not an id") from None

    def _mailbox(self, name: str) -> MailboxSettings:
        """The mailbox's settings, checked against its case type once per session."""
        box = self._crm.profile.mail.mailbox(name)
        if name in self._checked:
            return box
        path = f"mail.mailboxes.{name}"
        try:
            ctype = self._crm.profile.case_type(box.case_type)
        except NotFoundError:
            raise PolicyError(
                [Problem(f"{path}.case_type", f"no case type {box.case_type!r}")]
            ) from None
        problems: list[Problem] = []
        if not ctype.active:
            problems.append(Problem(f"{path}.case_type", f"case type {ctype.code!r} is not active"))
        sample: dict[str, object] = dict(box.attributes)
        if box.body_attribute is not None:
            if box.body_attribute not in {a.code for a in ctype.attributes}:
                problems.append(
                    Problem(
                        f"{path}.body_attribute",
                        f"case type {ctype.code!r} has no attribute {box.body_attribute!r}",
                    )
                )
            else:
                sample[box.body_attribute] = "text"
        try:
            ctype.validate_attributes(sample)
        except ValidationError as exc:
            for p in exc.problems:
                hint = (
                    ": give it in the mailbox's attributes, or name it body_attribute"
                    if p.message == "is required"
                    else ""
                )
                problems.append(Problem(f"{path}.{p.path}", p.message + hint))
        if problems:
            raise PolicyError(problems)
        self._checked.add(name)
        return box

    def _messages(self, poller: MailboxPoller) -> Iterator[RawMail]:
        """The poller's messages, its own failures told as PluginError."""
        try:
            iterator = iter(poller.messages())
        except CivicCRMError:
            raise
        except Exception as exc:
            raise self._poller_failed(poller, exc) from exc
        while True:
            try:
                mail = next(iterator)
            except StopIteration:
                return
            except CivicCRMError:
                raise
            except Exception as exc:
                raise self._poller_failed(poller, exc) from exc
            yield mail

    def _acknowledge(self, poller: MailboxPoller, uid: str) -> None:
        try:
            poller.acknowledge(uid)
        except CivicCRMError:
            raise
        except Exception as exc:
            # Committed but not acknowledged: the next poll finds its receipt.
            raise self._poller_failed(poller, exc) from exc

    @staticmethod
    def _poller_failed(poller: MailboxPoller, exc: Exception) -> PluginError:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        name = getattr(poller, "name", type(poller).__name__)
        return PluginError(f"mailbox {name} failed: {detail}", plugin=name)

    def _identity(self, message_id: str | None, sha256: str) -> str:
        """The receipt key: a blind index of the Message-ID, else of the bytes' hash."""
        if message_id:
            return self._crm._blind("mail_message_id", message_id)
        return self._crm._blind("mail_sha256", sha256)

    def _receipt(self, key: str) -> MailReceipt | None:
        from civiccrm._records import KINDS

        record = self._crm.storage.get_by_key("mail_receipt", key)
        if record is None:
            return None
        found: MailReceipt = KINDS[MailReceipt].from_record(record, self._crm.converter, _no_key)
        return found

    def _take(
        self,
        mail: RawMail,
        box: MailboxSettings,
        *,
        force: bool = False,
        retry: QuarantinedMail | None = None,
    ) -> MailResult:
        """Take one message: every outcome committed (or, on a database failure, none)."""
        if mail.size > box.max_bytes and not force:
            return self._oversized(mail, box, retry)
        data = mail.read()
        sha = hashlib.sha256(data).hexdigest()
        parsed = parse_message(data, max_body_chars=box.max_body_chars, lenient=force)
        key = retry.receipt_key if retry is not None else self._identity(parsed.message_id, sha)
        if retry is None:
            found = self._receipt(key)
            if found is not None and found.digest not in ("", parsed.digest):
                # The same Message-ID with other content: a forgery or a broken mailer.
                key = self._identity(None, sha)
                found = self._receipt(key)
                if found is None:
                    return self._quarantine(
                        mail,
                        data,
                        box,
                        key=key,
                        sha=sha,
                        digest=parsed.digest,
                        reason="reuses the Message-ID of a message taken before, with "
                        "other content",
                        notes=parsed.notes,
                    )
            if found is not None:
                return _receipt_of(
                    MailResult(outcome=MailOutcome.DUPLICATE, reason="taken before"), found
                )
            skip = self._skip_reason(parsed, box)
            if skip is not None:
                return self._skip(box, key, parsed, skip)
        if parsed.problem is not None:
            return self._quarantine(
                mail,
                data,
                box,
                key=key,
                sha=sha,
                digest=parsed.digest,
                reason=parsed.problem,
                notes=parsed.notes,
                retry=retry,
            )
        try:
            return self._crm.retry_on_conflict(
                lambda: self._commit(parsed, box, key, retry), attempts=5
            )
        except (StorageError, IntegrityError):
            raise
        except Exception as exc:  # noqa: BLE001 - what cannot be stored is quarantined
            if retry is None and self._receipt(key) is not None:
                return MailResult(outcome=MailOutcome.DUPLICATE, reason="taken meanwhile")
            return self._quarantine(
                mail,
                data,
                box,
                key=key,
                sha=sha,
                digest=parsed.digest,
                reason=_why_not(exc),
                notes=parsed.notes,
                retry=retry,
            )

    def _skip_reason(self, parsed: ParsedMail, box: MailboxSettings) -> str | None:
        if parsed.automatic is not None:
            return f"an automatic message ({parsed.automatic})"
        if parsed.message_id and is_outbound_id(parsed.message_id):
            return "the agency's own outbound message"
        if parsed.sender is not None and parsed.sender.lower() in box.own_addresses:
            return "sent from one of the agency's own addresses"
        return None

    def _skip(self, box: MailboxSettings, key: str, parsed: ParsedMail, reason: str) -> MailResult:
        crm = self._crm
        receipt = MailReceipt(
            id=crm._new_id(crm._now()),
            key=key,
            mailbox=box.name,
            received_at=crm._now(),
            outcome=MailOutcome.SKIPPED,
            reason=reason,
            digest=parsed.digest,
            notes=parsed.notes,
        )
        try:
            with crm.transaction():
                crm._write(receipt)
        except ValidationError:
            if self._receipt(key) is None:
                raise
            return MailResult(outcome=MailOutcome.DUPLICATE, reason="taken meanwhile")
        return MailResult(outcome=MailOutcome.SKIPPED, reason=reason, notes=parsed.notes)

    # --- threading and senders ----------------------------------------------------------

    def _case(self, case_id: uuid.UUID) -> Case | None:
        try:
            return self._crm.cases.get(case_id)
        except NotFoundError:
            return None

    def _thread(
        self, parsed: ParsedMail, box: MailboxSettings, notes: list[str]
    ) -> tuple[Case | None, str | None, Case | None]:
        """(the case it answers, how it was found, a closed case a new one follows)."""
        ids = [(i, "in-reply-to") for i in parsed.in_reply_to]
        ids += [(i, "references") for i in reversed(parsed.references)]
        for message_id, how in ids:
            hexid = outbound_case_id(message_id)
            if hexid is None:
                continue
            case = self._case(uuid.UUID(hex=hexid))
            if case is not None:
                return self._live(case, how, box, notes)
            note = "an outbound Message-ID it answers names no case: not threaded by it"
            if note not in notes:
                notes.append(note)
        subject = parsed.subject or ""
        seen: set[str] = set()
        for text in (subject, subject.upper()):
            for found in box.reference_pattern.finditer(text):
                reference = found.group(0)
                if reference in seen:
                    continue
                seen.add(reference)
                case = self._crm.cases.find_by_reference(reference)
                if case is not None:
                    return self._live(case, "subject", box, notes)
        return None, None, None

    @staticmethod
    def _live(
        case: Case, how: str, box: MailboxSettings, notes: list[str]
    ) -> tuple[Case | None, str | None, Case | None]:
        closed = case.status in (CaseStatus.CLOSED, CaseStatus.CANCELLED)
        if closed and box.closed_cases == "new_case":
            notes.append(f"it answers a {case.status.value} case: a new case follows it")
            return None, None, case
        return case, how, None

    def _sender(
        self, sender: str | None, box: MailboxSettings, notes: list[str]
    ) -> tuple[PartyRef | None, str | None]:
        """(the one party with the sender's address, else the address to make a citizen
        with, if the mailbox makes one)."""
        if sender is None:
            return None, None
        crm = self._crm
        try:
            found = [*crm.citizens.find(email=sender), *crm.organizations.find(email=sender)]
        except ValidationError:
            notes.append("the sender's address cannot be looked up")
            return None, None
        if len(found) == 1:
            return found[0].ref, None
        if found:
            notes.append(f"the sender's address belongs to {len(found)} parties: none was chosen")
            return None, None
        if box.unknown_senders == "citizen":
            return None, sender
        return None, None

    # --- committing -----------------------------------------------------------------

    def _commit(
        self,
        parsed: ParsedMail,
        box: MailboxSettings,
        key: str,
        retry: QuarantinedMail | None,
    ) -> MailResult:
        crm = self._crm
        notes = list(parsed.notes)
        case, threaded_by, follows = self._thread(parsed, box, notes)
        party, new_address = self._sender(parsed.sender, box, notes)
        now = crm._now()
        made_party = False
        with crm.transaction():
            claim = None
            if new_address is not None:
                # Another poller may be making this sender's citizen right now: claim
                # the address, then look again (inside the transaction, so after theirs).
                claim = self._claim_sender(new_address, box, now)
                party, new_address = self._sender(new_address, box, notes)
            if new_address is not None:
                made = crm.citizens.create(
                    Citizen(
                        contact_points=(ContactPoint.email(new_address),),
                        preferred_channel=Channel.EMAIL,
                    )
                )
                party, made_party = made.ref, True
            opened = case is None
            if case is None:
                case = self._open_case(parsed, box, party, follows)
            interaction = crm.interactions.log(
                Interaction(
                    id=crm._new_id(now),
                    channel=Channel.EMAIL,
                    direction=Direction.INBOUND,
                    occurred_at=now,
                    party=party,
                    case_id=case.id,
                    subject=parsed.subject,
                    body=self._without_survey_tokens(parsed.body) or None,
                    external_id=parsed.message_id,
                )
            )
            outcome = MailOutcome.OPENED if opened else MailOutcome.THREADED
            fields: dict[str, Any] = {
                "key": key,
                "mailbox": box.name,
                "received_at": now,
                "outcome": outcome,
                "case_id": case.id,
                "interaction_id": interaction.id,
                "party_id": party.id if party is not None else None,
                "quarantine_id": retry.id if retry is not None else None,
                "opened_case": opened,
                "threaded_by": threaded_by,
                "reason": None,
                "digest": parsed.digest,
                "notes": tuple(notes),
                "attachments": parsed.attachments,
            }
            sealed_with = crm._seal_key(interaction) if parsed.attachments else None
            existing = self._receipt(key) if retry is not None else None
            if existing is not None:
                crm._write(attrs.evolve(existing, **fields), key=sealed_with)
            else:
                crm._write(MailReceipt(id=crm._new_id(now), **fields), key=sealed_with)
            if retry is not None:
                crm._write(
                    attrs.evolve(
                        retry,
                        raw="",
                        retries=retry.retries + 1,
                        resolved_at=now,
                        resolution="taken",
                    ),
                    key=crm.keys.current(mail_key_id(retry.id), create=True),
                )
            if claim is not None:
                crm.storage.delete(claim.kind, claim.id, expected_version=claim.version)
        if retry is not None:
            self._shred(retry)
        return MailResult(
            outcome=outcome,
            case_id=case.id,
            interaction_id=interaction.id,
            party_id=party.id if party is not None else None,
            created_party=made_party,
            quarantine_id=retry.id if retry is not None else None,
            threaded_by=threaded_by,
            notes=tuple(notes),
        )

    def _claim_sender(self, address: str, box: MailboxSettings, now: datetime) -> Record:
        """
        Claim an unknown sender's address for the rest of the transaction (call inside
        it): a row keyed by a blind index of the normalised address, deleted before the
        commit, so that two pollers about to make a citizen for the same new sender
        take turns. On a backend whose transactions already run one at a time (SQLite,
        memory) it never waits; on PostgreSQL the second insert waits for the first
        transaction to end, and its look-up that follows then sees the citizen made.
        A claim found in the way is a conflict: the message is taken again from the
        start (``retry_on_conflict``).
        """
        from civiccrm._records import KINDS

        crm = self._crm
        key = crm._blind("mail_sender", normalize_email_for_index(address))
        claim = MailReceipt(
            id=crm._new_id(now),
            key=key,
            mailbox=box.name,
            received_at=now,
            outcome=MailOutcome.SKIPPED,
            reason="claims an unknown sender's address while a citizen is made for it",
        )
        record = crm._to_record(claim)
        try:
            return crm.storage.put(record, expected_version=0)
        except ValidationError:
            raise ConflictError(KINDS[MailReceipt].name, record.id) from None

    def _open_case(
        self,
        parsed: ParsedMail,
        box: MailboxSettings,
        requester: PartyRef | None,
        follows: Case | None,
    ) -> Case:
        crm = self._crm
        attributes: dict[str, object] = dict(box.attributes)
        text = parsed.body.strip() or parsed.subject or "(the email has no text)"
        if box.body_attribute is not None:
            ctype = crm.profile.case_type(box.case_type)
            kind = next(a.datatype for a in ctype.attributes if a.code == box.body_attribute)
            if kind is AttributeDatatype.STRING:  # one line
                text = " ".join(text.split())
            attributes[box.body_attribute] = text[:_SUMMARY_MAX]
        title = (parsed.subject or "").strip()[:_TITLE_MAX] or None
        case = crm.cases.open(
            box.case_type,
            title=title,
            description=parsed.body.strip()[:_SUMMARY_MAX] or None,
            channel=Channel.EMAIL,
            requester=requester,
            attributes=attributes,
        )
        if follows is not None:
            case = crm.cases.link(case, parent=follows.id)
        return case

    # --- the quarantine -------------------------------------------------------------

    def _spool(self) -> Path | None:
        """Where large raw messages go: beside a SQLite database file; else None."""
        from civiccrm.crm import _sqlite_file

        path = _sqlite_file(self._crm.storage.url)
        return None if path is None else Path(path + ".mail")

    def _oversized(
        self, mail: RawMail, box: MailboxSettings, retry: QuarantinedMail | None
    ) -> MailResult:
        """Quarantine a message over the size limit, reading it only as a stream."""
        reason = (
            f"larger than the mailbox's size limit ({mail.size:,} bytes; the limit is "
            f"{box.max_bytes:,})"
        )
        sha = hashlib.sha256()
        body = hashlib.sha256()
        head = b""
        split: int | None = None
        with mail.open() as f:
            while chunk := f.read(1024 * 1024):
                sha.update(chunk)
                if split is not None:
                    body.update(chunk)
                    continue
                head += chunk
                cut = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
                if cut:
                    split = min(cut)
                elif len(head) > _HEADER_MAX:
                    split = 0  # no header section where one should be
                if split is not None:
                    body.update(head[split:])
                    head = head[:split]
        if split is None:
            body.update(head)
        digest = body.hexdigest()
        key = (
            retry.receipt_key
            if retry is not None
            else self._identity(message_id_of(head), sha.hexdigest())
        )
        if retry is None:
            found = self._receipt(key)
            if found is not None and found.digest in ("", digest):
                return _receipt_of(
                    MailResult(outcome=MailOutcome.DUPLICATE, reason="taken before"), found
                )
            if found is not None:
                key = self._identity(None, sha.hexdigest())
                if (again := self._receipt(key)) is not None:
                    return _receipt_of(
                        MailResult(outcome=MailOutcome.DUPLICATE, reason="taken before"), again
                    )
        return self._quarantine(
            mail,
            None,
            box,
            key=key,
            sha=sha.hexdigest(),
            digest=digest,
            reason=reason,
            notes=(),
            retry=retry,
        )

    def _quarantine(
        self,
        mail: RawMail,
        data: bytes | None,
        box: MailboxSettings,
        *,
        key: str,
        sha: str,
        digest: str,
        reason: str,
        notes: tuple[str, ...],
        retry: QuarantinedMail | None = None,
    ) -> MailResult:
        crm = self._crm
        now = crm._now()
        if retry is not None:
            # Still not taken: the entry stays, with the new reason.
            with crm.transaction():
                crm._write(
                    attrs.evolve(
                        retry,
                        reason=reason,
                        notes=notes,
                        retries=retry.retries + 1,
                    ),
                    key=crm.keys.current(mail_key_id(retry.id), create=True),
                )
            return MailResult(
                outcome=MailOutcome.QUARANTINED, quarantine_id=retry.id, reason=reason, notes=notes
            )
        qid = crm._new_id(now)
        data_key = crm.keys.current(mail_key_id(qid), create=True)
        spool = self._spool()
        big = spool is not None and mail.size > INLINE_MAX
        spool_file = f"{qid}.eml.enc" if big else None
        raw = "" if big else base64.b64encode(mail.read() if data is None else data).decode()
        entry = QuarantinedMail(
            id=qid,
            mailbox=box.name,
            received_at=now,
            reason=reason,
            size=mail.size,
            sha256=sha,
            raw=raw,
            spool_file=spool_file,
            receipt_key=key,
            notes=notes,
        )
        receipt = MailReceipt(
            id=crm._new_id(now),
            key=key,
            mailbox=box.name,
            received_at=now,
            outcome=MailOutcome.QUARANTINED,
            quarantine_id=qid,
            reason=reason,
            digest=digest,
            notes=notes,
        )
        try:
            if spool is not None and spool_file is not None:
                spool.mkdir(mode=0o700, exist_ok=True)
                with mail.open() if data is None else io.BytesIO(data) as f:
                    write_spooled(spool / spool_file, f, data_key)
            with crm.transaction():
                crm._write(entry, key=data_key)
                crm._write(receipt)
        except BaseException as exc:
            self._shred(entry)  # nothing was committed: neither file nor key is needed
            if isinstance(exc, ValidationError) and self._receipt(key) is not None:
                return MailResult(outcome=MailOutcome.DUPLICATE, reason="taken meanwhile")
            raise
        return MailResult(
            outcome=MailOutcome.QUARANTINED, quarantine_id=qid, reason=reason, notes=notes
        )

    def _raw_chunks(self, q: QuarantinedMail) -> Iterator[bytes]:
        """
        A quarantined message's bytes, chunk by chunk; checked against the entry's
        SHA-256 when the last chunk is read (use none of them before the end).
        """
        if q.resolved_at is not None:
            raise IntegrityError(
                f"quarantined message {q.id} was {q.resolution}: its bytes are destroyed"
            )
        if q.spool_file is None:
            data = base64.b64decode(q.raw)
            if q.sha256 and hashlib.sha256(data).hexdigest() != q.sha256:
                raise IntegrityError(
                    f"quarantined message {q.id}: its bytes are not its entry's "
                    "(their SHA-256 differs from the one on record)"
                )
            yield data
            return
        spool = self._spool()
        if spool is None:
            raise IntegrityError(
                f"quarantined message {q.id} is in a spool file this database has not"
            )
        try:
            yield from read_spooled(
                spool / q.spool_file,
                self._crm.keys.get,
                key_id=mail_key_id(q.id),
                sha256=q.sha256,
            )
        except FileNotFoundError:
            raise IntegrityError(
                f"quarantined message {q.id}: its spool file {q.spool_file} is missing"
            ) from None

    def _shred(self, q: QuarantinedMail) -> None:
        """Destroy a quarantined message's bytes: its key, and its spool file."""
        crm = self._crm
        crm.keys.erase(mail_key_id(q.id), at=crm._now())
        if q.spool_file is not None:
            spool = self._spool()
            if spool is not None:
                with contextlib.suppress(FileNotFoundError):
                    (spool / q.spool_file).unlink()

    def _tidy_spool(self) -> None:
        """Remove spool files a crash left without their record (an hour old or more)."""
        spool = self._spool()
        if spool is None or not spool.is_dir():
            return
        crm = self._crm
        now = time.time()  # compared with the files' own times
        for entry in spool.iterdir():
            name = entry.name
            try:
                if now - entry.stat().st_mtime < _ORPHAN_AGE:
                    continue
            except FileNotFoundError:
                continue
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                continue
            found = re.fullmatch(r"([0-9a-f-]{36})\.eml\.enc", name)
            if found is None or crm.storage.get("mail_quarantine", found.group(1)) is not None:
                continue
            crm.keys.erase(mail_key_id(found.group(1)), at=crm._now())
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _why_not(exc: Exception) -> str:
    """Why a message could not be stored, naming fields, never quoting values."""
    if isinstance(exc, ValidationError):
        paths = ", ".join(dict.fromkeys(p.path or "(the whole)" for p in exc.problems))
        return f"cannot be stored: {exc.record_type or 'input'} refused ({paths})"
    if isinstance(exc, CivicCRMError):
        return f"cannot be stored: {type(exc).__name__}"
    return f"could not be taken ({type(exc).__name__})"
