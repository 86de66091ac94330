"""
``crm.messages``: outbound messages through templates, consent and the outbox.

What a change tells a citizen is decided in the change's own transaction: the message
is rendered from the profile's templates, its channel chosen from the party's
preferences, contact points and consents, and it is written to the outbox together
with an outbound Interaction (``queued``) that logs it. Nothing is sent then. A
*dispatcher* (:meth:`MessageService.dispatch`, the ``messages`` worker topic, or right
after the commit when asked) sends what the outbox holds, in three steps:

1. **claim**, in a transaction of its own: the message goes from ``pending`` to
   ``sending`` with a lease (``next_attempt_at`` = the lease's end, counted from the
   claim), under its version, so that two dispatchers never claim it together;
2. **send**, outside any transaction, with a Message-ID fixed when it was queued
   (and the same Date), so every attempt hands over the same message;
3. **mark**, in a small transaction right after the channel answers: ``sent``, or
   back to ``pending`` with an exponential backoff (from the failure), or ``failed``
   after the last attempt or a permanent refusal; the Interaction gets the same
   delivery status.

A message that staff write (:meth:`MessageService.queue`, a public note) is logged as
``crm.interactions.log`` logs an interaction (an ``interaction_logged`` event, the
case's first response); the automatic ones are not. A survey token is never stored:
the message keeps a placeholder, and the token goes only into what the channel is
handed.

The guarantee (see ``docs/communications.md``): a message is queued if and only if
its change commits, and is then handed to its channel until one attempt succeeds or
the attempts run out. It is handed over twice only if a dispatcher stops between the
channel taking it and step 3 committing (a crash, a lost connection after the SMTP
server's final reply), or a send outlasts its lease; the copies carry the same
Message-ID, so the receiver can tell. Through an idempotent channel (the files
channel) that repeat is no repeat: the message is delivered exactly once.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._keys import case_key_id, party_key_id
from civiccrm._records import KINDS, dump_doc, micros
from civiccrm.adapters._base import Cursor, Filter, Order, Query, Record
from civiccrm.comms._surveys import TOKEN_PLACEHOLDER
from civiccrm.comms.channels import (
    ChannelError,
    MessageChannel,
    OutgoingMessage,
    open_channel,
)
from civiccrm.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from civiccrm.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    Citizen,
    ContactKind,
    ContactUse,
    DeliveryStatus,
    Direction,
    EventKind,
    Interaction,
    MessageStatus,
    Organization,
    OutboxMessage,
    Party,
    PartyRef,
    PartyType,
    Survey,
)
from civiccrm.models._party import ConsentStatus

if TYPE_CHECKING:
    from civiccrm.crm import CRM, ResultPage
    from civiccrm.privacy.crypto import DataKey
    from civiccrm.profile._comms import CommunicationsSettings

__all__ = [
    "CHANNEL_ENV",
    "DEFAULT_LEASE",
    "DispatchReport",
    "MessageService",
    "MessageSummary",
    "PlannedMessage",
    "consent_block",
]

_log = logging.getLogger("civiccrm.messages")

#: The channel spec(s) dispatch uses when given none (several: separated by spaces).
CHANNEL_ENV: Final = "CIVICCRM_MESSAGE_CHANNEL"
#: How long a claimed message is its dispatcher's alone: longer than the slowest send
#: (the SMTP channel times out after 60 s per command by default).
DEFAULT_LEASE: Final = timedelta(minutes=5)

_MEDIUM_CHANNEL: Final = {"email": Channel.EMAIL, "sms": Channel.SMS}
_MEDIUM_CONTACT: Final = {"email": ContactKind.EMAIL, "sms": ContactKind.PHONE}
_TOMBSTONE: Final = '{"_erased"'
_PARTY_FIELDS: Final = {
    "Citizen": ("given_name", "family_name", "preferred_name", "contact_points", "consents"),
    "Organization": ("contact_name", "contact_points", "consents"),
}
_MESSAGE_FIELDS: Final = ("recipient", "subject", "body", "message_id")


def _no_key(_key_id: str, _generation: int) -> None:
    """Read a record's state without opening its personal fields."""
    return


@attrs.frozen
class PlannedMessage:
    """
    A message decided on but not stored yet: the outbox row, the Interaction that logs
    it and, for a resolution, the satisfaction survey it carries.

    .. versionadded:: 0.1.0
    """

    message: OutboxMessage
    interaction: Interaction
    survey: Survey | None = None

    @property
    def cancelled(self) -> bool:
        """Whether it may not be sent (``message.error`` says why)."""
        return self.message.status is MessageStatus.CANCELLED


@attrs.frozen
class DispatchReport:
    """
    What a dispatch run did.

    .. versionadded:: 0.1.0
    """

    #: Taken by their channel.
    sent: int = 0
    #: Failed this time; tried again after a backoff.
    retrying: int = 0
    #: Failed for good (a permanent refusal, or the last attempt).
    failed: int = 0
    #: Not sent: the party opted out or was erased since the message was queued.
    cancelled: int = 0
    #: Claimed by another dispatcher first, or no longer due.
    skipped: int = 0
    #: Taken again after a dispatcher stopped while sending them (their lease ended):
    #: each may reach its recipient twice, with the same Message-ID.
    recovered: int = 0
    #: Sent, but their lease had ended and another dispatcher had taken them before
    #: they were marked: that dispatcher sends them again.
    lost: int = 0
    #: Due, but on a medium no channel given carries (left pending).
    unhandled: int = 0
    #: The code of the channel error that stopped the run (its channel was down), or None.
    stopped: str | None = None


@attrs.frozen(kw_only=True)
class MessageSummary:
    """
    An outbox message's state, without its content (recipient, subject, body): what
    listing the outbox shows, read without decrypting anything.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID
    key: str
    channel: str
    status: MessageStatus
    attempts: int
    case_id: uuid.UUID | None
    reference: str | None
    party: PartyRef | None
    event: str | None
    template: str | None
    language: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    attempted_at: datetime | None
    sent_at: datetime | None
    error: str | None
    interaction_id: uuid.UUID | None
    survey_id: uuid.UUID | None
    version: int


def _summary(m: OutboxMessage) -> MessageSummary:
    return MessageSummary(
        id=m.id,
        key=m.key,
        channel=m.channel,
        status=m.status,
        attempts=m.attempts,
        case_id=m.case_id,
        reference=m.reference,
        party=m.party,
        event=m.event,
        template=m.template,
        language=m.language,
        created_at=m.created_at,
        next_attempt_at=m.next_attempt_at,
        attempted_at=m.attempted_at,
        sent_at=m.sent_at,
        error=m.error,
        interaction_id=m.interaction_id,
        survey_id=m.survey_id,
        version=m.version,
    )


def consent_block(
    party: Party,
    purpose: str,
    medium: str,
    *,
    opt_in: Iterable[str] = (),
    at: datetime,
) -> str | None:
    """
    Why ``party`` may not be sent a message for ``purpose`` on ``medium`` at ``at``:
    ``opted_out`` (their latest consent for it is revoked), ``no_consent`` (the
    medium is in ``opt_in`` and they have not granted it); None if they may.

    The consents that count are those for ``purpose`` on that medium's channel or on
    no channel, not expired at ``at``; the latest recorded one decides.

    .. versionadded:: 0.1.0
    """
    channel = _MEDIUM_CHANNEL.get(medium)
    latest = None
    for c in party.consents:
        if c.purpose != purpose or (c.channel is not None and c.channel is not channel):
            continue
        if c.expires_at is not None and c.expires_at <= at:
            continue
        if latest is None or c.recorded_at >= latest.recorded_at:
            latest = c
    if latest is not None and latest.status is ConsentStatus.REVOKED:
        return "opted_out"
    if medium in set(opt_in) and (latest is None or latest.status is not ConsentStatus.GRANTED):
        return "no_consent"
    return None


def _address(party: Party, medium: str) -> str | None:
    """The party's address on ``medium``: for SMS a mobile number first."""
    kind = _MEDIUM_CONTACT[medium]
    points = [cp for cp in party.contact_points if cp.kind is kind and cp.value]
    if not points:
        return None
    if medium == "sms":
        mobile = [cp for cp in points if cp.use is ContactUse.MOBILE]
        points = mobile or points
    preferred = [cp for cp in points if cp.preferred]
    return (preferred or points)[0].value


def _event_name(event: CaseEvent) -> str | None:
    """The template event a case event is, if any."""
    if event.kind is EventKind.REOPENED:
        return "reopened"
    if event.kind is EventKind.NOTE_ADDED:
        return "update" if event.data.get("public") is True else None
    to = event.to_status
    if to is None or to is event.from_status or to is CaseStatus.NEW:
        return None
    return to.value


class MessageService:
    """
    Outbound messages: ``crm.messages``.

    >>> import civiccrm
    >>> from civiccrm.comms import CapturingChannel
    >>> from civiccrm.models import Citizen, ContactPoint
    >>> from civiccrm.profile import springfield_path
    >>> with civiccrm.open("memory://", profile=springfield_path()) as crm:
    ...     ana = crm.citizens.create(Citizen(given_name="Ana",
    ...                               contact_points=[ContactPoint.email("ana@example.org")]))
    ...     case = crm.cases.open("001", requester=ana, attributes={"size": "large"},
    ...                           reference="SR-2026-000001")
    ...     outbox = CapturingChannel()
    ...     report = crm.messages.dispatch(outbox)
    ...     report.sent, outbox.sent[0].subject
    (1, '[SR-2026-000001] We received your request')

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
        self._channels: tuple[MessageChannel, ...] = ()
        self._auto = False
        self._lease = DEFAULT_LEASE
        self._send_lock = threading.RLock()
        self._local = threading.local()

    # --- configuration -----------------------------------------------------------------

    def use(
        self,
        *channels: MessageChannel | str,
        dispatch_after_commit: bool = False,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        """
        The channels :meth:`dispatch` and the ``messages`` worker topic use when given
        none (objects, or specs opened now). With ``dispatch_after_commit``, a message
        is also sent right after the transaction that queued it commits, under
        ``lease`` (an error then is logged, and the message waits for the next
        dispatch); the caller of the change waits for the send.

        Raises:
            ValidationError, PluginError: a spec no channel understands.
        """
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValidationError.at("lease", "must be a positive timedelta")
        self._channels = tuple(self._open(c) for c in channels)
        self._auto = dispatch_after_commit and bool(self._channels)
        self._lease = lease

    @contextlib.contextmanager
    def suppressed(self) -> Iterator[None]:
        """No message is planned for changes made inside (in this thread): for
        migrations and bulk corrections that citizens need not hear about."""
        self._local.suppressed = getattr(self._local, "suppressed", 0) + 1
        try:
            yield
        finally:
            self._local.suppressed -= 1

    def _is_suppressed(self) -> bool:
        return bool(getattr(self._local, "suppressed", 0))

    @property
    def settings(self) -> CommunicationsSettings:
        """The profile's ``[communications]`` settings."""
        return self._crm.profile.communications

    # --- queueing ----------------------------------------------------------------------

    def notify(
        self,
        case: Case | uuid.UUID | str,
        event: str,
        *,
        note: str | None = None,
        key: str | None = None,
    ) -> OutboxMessage | None:
        """
        Queue the templated message of ``event`` for a case's requester now (to send
        an acknowledgement again, say). ``key`` makes it idempotent: a key queued
        already returns that message (its state: read its text with :meth:`get`).
        None when there is nothing to send (no requester, no template for the event,
        the requester erased).

        Raises:
            ValidationError: an event no template is written for.
        """
        crm = self._crm
        crm._may("interaction")
        if event not in self.settings.events:
            known = ", ".join(sorted(self.settings.events)) or "none"
            raise ValidationError.at("event", f"no template for {event!r} (templates for: {known})")
        with crm.transaction():
            if key is not None:
                found = crm.storage.get_by_key("outbox", key)
                if found is not None:
                    return self._meta(found)
            current = case if isinstance(case, Case) else crm.cases.get(case)
            now = crm._now()
            planned = self._plan(
                current,
                event,
                now,
                key=key or f"{event}:{current.id}:{uuid.uuid4().hex}",
                note=note,
            )
            if planned is None:
                return None
            self._store(planned)
        return planned.message

    def public_note(self, case: Case | uuid.UUID | str, text: str) -> Case:
        """
        Add a public note to a case's history (a ``note_added`` event marked
        ``public``), and tell its requester with the ``update`` template.

        The message is staff's word to the citizen: its Interaction is logged as
        ``crm.interactions.log`` would (an ``interaction_logged`` event, the case's
        first response if it had none), in the same write of the case as the note.

        Raises:
            ValidationError: empty text.
        """
        crm = self._crm
        crm._may("note")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError.at("note", "must not be empty")
        planned: list[PlannedMessage] = []

        def change(c: Case, now: datetime) -> tuple[Case, list[tuple[EventKind, dict[str, Any]]]]:
            data: dict[str, Any] = {"public": True}
            events = [(EventKind.NOTE_ADDED, {"note": text, "data": data})]
            found = self._plan(c, "update", now, key=f"update:{uuid.uuid4().hex}", note=text)
            if found is None:
                return c, events
            planned.append(found)
            # The note names its message, so that it is not planned again for it.
            data["message"] = str(found.message.id)
            c, logged = crm.interactions._effect(c, found.interaction)
            return c, [*events, (EventKind.INTERACTION_LOGGED, logged)]

        with crm.transaction():
            updated = crm.cases._change(case, change)
            for found in planned:
                stored = self._store(found)
                if stored is not None:
                    crm.interactions._told(stored)
        return updated

    def queue(
        self,
        party: Party | PartyRef,
        *,
        body: str,
        subject: str | None = None,
        case: Case | uuid.UUID | str | None = None,
        channel: str | None = None,
        key: str | None = None,
    ) -> OutboxMessage:
        """
        Queue a message written by hand (an agent's reply) to ``party``, on ``channel``
        (``email`` or ``sms``; default: as for templated messages, from their
        preferences and consents). About a ``case``, its subject carries the case
        reference in brackets. Consent and opt-outs hold as for any message: one
        that may not be sent is stored as cancelled, with the reason.

        Its Interaction is logged as ``crm.interactions.log`` would: about a case, it
        adds an ``interaction_logged`` event and is the case's first response if it had
        none (the case is stored again: load it again before changing it).

        Raises:
            ValidationError: no body, no subject for an email, an unknown channel, or
                a party that does not exist.
        """
        crm = self._crm
        crm._may("interaction")
        if not isinstance(body, str) or not body.strip():
            raise ValidationError.at("body", "must not be empty")
        if channel is not None and channel not in _MEDIUM_CHANNEL:
            raise ValidationError.at("channel", f"{channel!r} is not email or sms")
        ref = party.ref if isinstance(party, Party) else party
        with crm.transaction():
            if key is not None:
                found = crm.storage.get_by_key("outbox", key)
                if found is not None:
                    return self._meta(found)
            who = self._party(ref)
            if who is None:
                raise ValidationError.at("party", f"no {ref.type.value} {ref.id}")
            about = None
            if case is not None:
                about = case if isinstance(case, Case) else crm.cases.get(case)
            now = crm._now()
            media = (channel,) if channel is not None else self._order(who)
            medium, recipient, reason = self._choose(who, media, now)
            if medium == "email" and not (subject and subject.strip()):
                raise ValidationError.at("subject", "an email needs a subject")
            reference = None if about is None else (about.reference or str(about.id))
            shown = (
                None
                if medium == "sms"
                else _with_reference(" ".join((subject or "").split()), reference)
            )
            planned = self._planned(
                key=key or f"queue:{uuid.uuid4().hex}",
                medium=medium,
                recipient=recipient,
                reason=reason,
                ref=ref,
                case_id=None if about is None else about.id,
                reference=reference,
                event=None,
                template=None,
                language=who.preferred_language,
                subject=shown,
                body=body,
                now=now,
            )
            self._store(planned, reply=True)
        return planned.message

    # --- the planner (inside the change's transaction) ----------------------------------

    def _on_change(self, case: Case, events: Sequence[CaseEvent]) -> None:
        """Queue what ``events`` (just stored with ``case``) tell its requester."""
        settings = self.settings
        if case.requester is None or not settings.events or self._is_suppressed():
            return
        for event in events:
            name = _event_name(event)
            if name is None or name not in settings.events or "message" in event.data:
                continue  # (a public note whose message was planned with it)
            planned = self._plan(case, name, event.at, key=f"{name}:{event.id}", note=event.note)
            if planned is not None:
                self._store(planned)

    def _plan(
        self, case: Case, event: str, now: datetime, *, key: str, note: str | None = None
    ) -> PlannedMessage | None:
        """
        The message ``event`` sends to the case's requester: rendered in their language
        for the medium chosen from their preferences, contact points and consents; or
        None if there is nothing to send (no requester, no template, the requester
        erased). Nothing is written.
        """
        settings = self.settings
        ref = case.requester
        if ref is None or self._is_suppressed() or event not in settings.events:
            return None
        party = self._party(ref)
        if party is None:
            return None
        languages = self._languages(party)
        order = self._order(party)
        templates = {
            m: t
            for m in order
            if (t := settings.select(event, case.case_type, languages, m)) is not None
        }
        if not templates:
            return None
        medium, recipient, reason = self._choose(party, tuple(templates), now)
        template = templates[medium]
        values = self._values(case, party, note)
        survey: Survey | None = None
        extra = ""
        if (
            event == "resolved"
            and reason is None
            and template.survey is not None
            and settings.survey.covers(case.case_type)
            and consent_block(party, settings.survey.consent_purpose, medium, at=now) is None
        ):
            # The token is not stored: the message keeps a placeholder, and the token
            # (made again from the survey's id) is put in when it is handed over.
            survey, _token = self._crm.surveys._new(case, now)
            text = template.survey.render(self._survey_values(values, survey, TOKEN_PLACEHOLDER))
            extra = "\n\n" + text.strip()
        reference = case.reference or str(case.id)
        subject = None
        if medium != "sms" and template.subject is not None:
            subject = _with_reference(template.subject.render(values, one_line=True), reference)
        return self._planned(
            key=key,
            medium=medium,
            recipient=recipient,
            reason=reason,
            ref=ref,
            case_id=case.id,
            reference=reference,
            event=event,
            template=template.path,
            language=template.language,
            subject=subject,
            body=template.body.render(values).strip() + extra + "\n",
            now=now,
            survey=survey,
        )

    def _planned(
        self,
        *,
        key: str,
        medium: str,
        recipient: str,
        reason: str | None,
        ref: PartyRef,
        case_id: uuid.UUID | None,
        reference: str | None,
        event: str | None,
        template: str | None,
        language: str | None,
        subject: str | None,
        body: str,
        now: datetime,
        survey: Survey | None = None,
    ) -> PlannedMessage:
        crm = self._crm
        message_id = self._message_id(case_id)
        interaction = Interaction(
            id=crm._new_id(now),
            channel=_MEDIUM_CHANNEL[medium],
            direction=Direction.OUTBOUND,
            occurred_at=now,
            party=ref,
            case_id=case_id,
            subject=subject,
            body=body,
            delivery_status=DeliveryStatus.QUEUED if reason is None else DeliveryStatus.FAILED,
            external_id=message_id,
        )
        message = OutboxMessage(
            id=crm._new_id(now),
            key=key,
            channel=medium,
            recipient=recipient,
            party=ref,
            case_id=case_id,
            reference=reference,
            event=event,
            template=template,
            language=language,
            subject=subject,
            body=body,
            status=MessageStatus.PENDING if reason is None else MessageStatus.CANCELLED,
            created_at=now,
            next_attempt_at=now if reason is None else None,
            error=reason,
            interaction_id=interaction.id,
            survey_id=None if survey is None else survey.id,
            message_id=message_id,
        )
        return PlannedMessage(message, interaction, survey)

    def _store(self, planned: PlannedMessage, *, reply: bool = False) -> Interaction | None:
        """
        Write a planned message (its survey, Interaction and outbox row), in the
        caller's transaction; it is sent after the commit. Returns its Interaction as
        stored, or None if the message was queued already (the same key).

        ``reply``: staff wrote it (:meth:`queue`), so its Interaction is logged as
        ``crm.interactions.log`` does (with its effect on the case); else it is stored
        alone (an automatic message is no response).
        """
        crm = self._crm
        message = planned.message
        if crm.storage.get_by_key("outbox", message.key) is not None:
            return None  # queued already (the same idempotency key)
        if planned.survey is not None:
            crm.surveys._store(planned.survey)
        if reply:
            stored = crm.interactions._log(planned.interaction)
        else:
            stored = crm._write(planned.interaction)
        self._put(message, self._seal_key(message.party, message.case_id))
        if message.status is MessageStatus.CANCELLED:
            _log.info("message %s cancelled: %s", message.id, message.error)
        elif self._auto:
            crm._after_commit(functools.partial(self._dispatch_after_commit, [str(message.id)]))
        return stored

    def _put(self, obj: OutboxMessage | Survey, key: DataKey) -> None:
        """
        Store an outbox message or a survey (a new one: version 0), its personal fields
        sealed with ``key``, and audit the write. Not through the facade's ``_write``:
        roles (:mod:`civiccrm.privacy.access`) cover the core models only; reads of
        these go through :meth:`_read`.
        """
        crm = self._crm
        record = crm._to_record(obj, key)
        crm.storage.put(record, expected_version=obj.version)
        action = "create" if obj.version == 0 else "update"
        crm._audit_write(action, KINDS[type(obj)].name, [record.id])

    def _check_reader(self) -> None:
        """A role reads messages' and surveys' text only if it sees interactions' bodies
        in clear (the outbound message and the inbound word of a citizen)."""
        from civiccrm.privacy.access import visibility
        from civiccrm.profile import Visibility

        role = self._crm.role
        if role is not None and visibility(role, Interaction, "body") is not Visibility.CLEAR:
            raise AccessDeniedError(
                f"role {role.code!r} does not see the text of messages and surveys "
                "(it does not see Interaction.body in clear)"
            )

    def _read(self, cls: type[Any], record_id: uuid.UUID | str) -> Any:
        """An outbox message or survey with its personal fields (an audited read)."""
        crm = self._crm
        kind = KINDS[cls]
        record = crm.storage.get(kind.name, str(record_id))
        if record is None:
            raise NotFoundError(kind.name.replace("_", " "), record_id)
        self._check_reader()
        found = crm._from_record(kind, record)
        crm._audit_read(kind.name, [record.id])
        return found

    def _seal_key(self, party: PartyRef | None, case_id: uuid.UUID | None) -> DataKey:
        """The key of a message's personal data: its party's (erasing them erases it)."""
        if party is not None:
            key_id = party_key_id(party.id)
        elif case_id is not None:
            key_id = case_key_id(case_id)
        else:  # pragma: no cover - every message has a party
            raise ValidationError.at("party", "a message needs a party")
        return self._crm.keys.current(key_id, create=True)

    def _party(self, ref: PartyRef) -> Party | None:
        """The party (read as the system, audited as "messages"), or None if erased."""
        crm = self._crm
        cls: type[Any] = Citizen if ref.type is PartyType.CITIZEN else Organization
        kind = KINDS[cls]
        record = crm.storage.get(kind.name, str(ref.id))
        if record is None or record.doc.startswith(_TOMBSTONE):
            return None
        party: Party = crm._from_record(kind, record)
        crm._audit_system_read(kind.name, [record.id], _PARTY_FIELDS[cls.__name__], "messages")
        return party

    def _languages(self, party: Party) -> list[str]:
        """The languages to write to ``party`` in, best first."""
        out: list[str] = []
        default = self.settings.default_language or self._crm.profile.agency.locale
        for tag in (party.preferred_language, default):
            if not tag:
                continue
            for t in (tag, tag.split("-")[0]):
                if t.lower() not in (o.lower() for o in out):
                    out.append(t)
        return out

    def _order(self, party: Party) -> tuple[str, ...]:
        """The media to try for ``party``: their preferred one first, if the agency uses it."""
        media = self.settings.channels
        preferred = party.preferred_channel
        first = [m for m in media if _MEDIUM_CHANNEL[m] is preferred]
        return (*first, *(m for m in media if m not in first))

    def _choose(
        self, party: Party, media: Sequence[str], now: datetime
    ) -> tuple[str, str, str | None]:
        """
        The medium, address and (if it may not be sent) reason of a message to
        ``party``: the first of ``media`` they have an address on and allow; else the
        first they have an address on, with the reason it is blocked; else
        ``no_contact``.
        """
        settings = self.settings
        blocked: tuple[str, str, str | None] | None = None
        for medium in media:
            address = _address(party, medium)
            if address is None:
                continue
            reason = consent_block(
                party, settings.consent_purpose, medium, opt_in=settings.opt_in_channels, at=now
            )
            if reason is None:
                return medium, address, None
            blocked = blocked or (medium, address, reason)
        if blocked is not None:
            return blocked
        return (media[0] if media else "email"), "", "no_contact"

    def _values(self, case: Case, party: Party, note: str | None) -> dict[str, str]:
        """What the placeholders of a case's templates stand for."""
        profile = self._crm.profile
        zone = profile.agency.zone
        name = type_name = department = ""
        try:
            ctype = profile.case_type(case.case_type)
            type_name = ctype.name
            department = profile.department(ctype.department).name
        except NotFoundError:
            type_name = case.case_type
        name = getattr(party, "display_name", "") or ""

        def day(at: datetime | None) -> str:
            return "" if at is None else at.astimezone(zone).date().isoformat()

        return {
            "name": name,
            "reference": case.reference or str(case.id),
            "case_type": case.case_type,
            "case_type_name": type_name,
            "department": department,
            "agency": profile.agency.name,
            "opened_on": day(case.opened_at),
            "resolved_on": day(case.resolved_at),
            "note": note or "",
        }

    def _survey_values(self, values: dict[str, str], survey: Survey, token: str) -> dict[str, str]:
        settings = self.settings.survey
        zone = self._crm.profile.agency.zone
        expires = survey.expires_at
        return {
            **values,
            "survey_token": token,
            "survey_url": settings.url.render({"token": token}) if settings.url else "",
            "survey_expires_on": ""
            if expires is None
            else expires.astimezone(zone).date().isoformat(),
        }

    def _message_id(self, case_id: uuid.UUID | None) -> str:
        """``<c.{case hex}.{random hex}@{domain}>`` (no personal data), fixed at queueing."""
        tail = f"{secrets.token_hex(8)}@{self._domain()}"
        return f"<c.{case_id.hex}.{tail}>" if case_id is not None else f"<m.{tail}>"

    def _domain(self) -> str:
        settings = self.settings
        if settings.message_id_domain:
            return settings.message_id_domain
        if settings.from_address:
            address = parseaddr(settings.from_address)[1]
            if "@" in address:
                return address.rsplit("@", 1)[1]
        return f"{self._crm.profile.agency.code}.civiccrm.invalid"

    # --- dispatch ---------------------------------------------------------------------

    def dispatch(
        self,
        channel: MessageChannel | str | Sequence[MessageChannel | str] | None = None,
        *,
        limit: int | None = None,
        now: datetime | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> DispatchReport:
        """
        Send the outbox's due messages through ``channel`` (a channel, a spec such as
        ``smtp://mail.example.gov:587``, or several, each taking the media it
        carries; default: those given to :meth:`use`, else ``$CIVICCRM_MESSAGE_CHANNEL``):
        each is claimed under ``lease``, sent, and marked, one at a time; at most
        ``limit`` are tried. Messages whose earlier dispatcher stopped while sending
        them (their lease ended) are sent again, with the same Message-ID. Safe to run
        from many processes at once: a message is claimed by one of them.

        The messages due at the run's start (``now``, default the clock's now) are
        tried; each claim and each mark reads the clock again, so a message claimed
        late in a long run has a lease of its own full length. (With ``now`` given, the
        claims and marks are stamped with ``now`` plus the time elapsed since the run
        started.)

        Raises:
            ValidationError: no channel given or configured, or a bad lease or limit.
            PluginError: a spec no channel understands.
        """
        crm = self._crm
        crm._may("interaction")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValidationError.at("limit", f"must be a whole number, 1 or more, not {limit!r}")
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValidationError.at("lease", "must be a positive timedelta")
        started = crm._now()
        at = now or started
        return self._send(self._due_ids(at), channel, lease, at=at, started=started, limit=limit)

    def due(self, *, now: datetime | None = None) -> list[uuid.UUID]:
        """The ids of the messages due to be tried now (pending and due, or left
        sending by a dispatcher whose lease has ended)."""
        return [uuid.UUID(i) for i in self._due_ids(now or self._crm._now())]

    def _due_ids(self, at: datetime) -> Iterator[str]:
        storage = self._crm.storage
        for status in (MessageStatus.PENDING, MessageStatus.SENDING):
            after: Cursor | None = None
            while True:
                query = Query(
                    "outbox",
                    (
                        Filter("status", "eq", status.value),
                        Filter("next_attempt_at", "le", micros(at)),
                    ),
                    Order("next_attempt_at"),
                    200,
                    after,
                    columns=("status", "next_attempt_at"),
                )
                page = storage.query(query)
                for record in page.records:
                    yield record.id
                if page.next is None:
                    break
                after = page.next

    def _run(
        self,
        ids: Iterable[str],
        channels: Sequence[MessageChannel],
        at: datetime,
        stamp: Callable[[], datetime],
        lease: timedelta,
        limit: int | None,
        counts: Counter[str],
    ) -> str | None:
        tried = 0
        seen: set[str] = set()
        for rid in ids:
            if rid in seen:
                continue
            seen.add(rid)
            if limit is not None and tried >= limit:
                break
            tried += 1
            stopped = self._one(rid, channels, at, stamp, lease, counts)
            if stopped is not None:
                return stopped
        return None

    def _one(
        self,
        rid: str,
        channels: Sequence[MessageChannel],
        at: datetime,
        stamp: Callable[[], datetime],
        lease: timedelta,
        counts: Counter[str],
    ) -> str | None:
        """
        Claim, send and mark one message; the code of a channel that went down, or None.

        ``at`` (the run's start) decides only whether the message is due; the claim and
        the mark are stamped with the time they happen (``stamp()``), so that the lease
        runs from the claim and the backoff from the failure, however long the run has
        taken so far.
        """
        crm = self._crm
        storage = crm.storage
        kind = KINDS[OutboxMessage]
        settings = self.settings
        # 1. Claim it (its own transaction: committed before anything is sent).
        try:
            with crm.transaction():
                record = storage.get("outbox", rid)
                if record is None:
                    counts["skipped"] += 1
                    return None
                meta = self._meta(record)
                due = meta.next_attempt_at is not None and meta.next_attempt_at <= at
                if meta.status not in (MessageStatus.PENDING, MessageStatus.SENDING) or not due:
                    counts["skipped"] += 1
                    return None
                channel = next((c for c in channels if meta.channel in c.media), None)
                if channel is None:
                    counts["unhandled"] += 1
                    return None
                claimed_at = stamp()
                claimed = self._edit(
                    OutboxMessage,
                    record,
                    status=MessageStatus.SENDING,
                    attempts=meta.attempts + 1,
                    attempted_at=claimed_at,
                    next_attempt_at=claimed_at + lease,
                )
        except ConflictError:
            counts["skipped"] += 1
            return None
        attempt = meta.attempts + 1
        if meta.status is MessageStatus.SENDING:
            counts["recovered"] += 1
            _log.warning(
                "message %s: an earlier attempt did not finish (its dispatcher stopped): "
                "sent again, with the same Message-ID",
                rid,
            )
        # 2. Open it and check it may still go, then send it (no transaction open).
        message: OutboxMessage = kind.from_record(claimed, crm.converter, crm.keys.get)
        crm._audit_system_read("outbox", [rid], _MESSAGE_FIELDS, "dispatch")
        reason = None
        if not message.recipient:
            reason = "erased"
        elif message.party is not None:
            party = self._party(message.party)
            if party is None:
                reason = "erased"
            else:
                reason = consent_block(
                    party,
                    settings.consent_purpose,
                    message.channel,
                    opt_in=settings.opt_in_channels,
                    at=claimed_at,
                )
        error: ChannelError | None = None
        if reason is None:
            body = message.body
            if message.survey_id is not None:
                # The survey token, made again from the survey's id (never stored):
                # the same on every attempt. Only these bytes carry it.
                token = crm.surveys._token(message.survey_id)
                body = body.replace(TOKEN_PLACEHOLDER, token)
            outgoing = OutgoingMessage(
                id=message.id,
                medium=message.channel,
                recipient=message.recipient,
                subject=message.subject,
                body=body,
                message_id=message.message_id or self._message_id(message.case_id),
                date=message.created_at,
                sender=settings.from_address,
                reply_to=settings.reply_to,
                case_reference=message.reference,
                language=message.language,
                attempt=attempt,
            )
            try:
                channel.send(outgoing)
            except ChannelError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
                # The type only: a message may quote the recipient or the text.
                error = ChannelError(type(exc).__name__)
        # 3. Mark it, at once, in a small transaction.
        stopped = None
        marked_at = stamp()
        try:
            with crm.transaction():
                current = storage.get("outbox", rid)
                if current is None or current.version != claimed.version:
                    counts["lost"] += 1
                    _log.warning(
                        "message %s: its lease ended before it was marked; another "
                        "dispatcher took it (a lease shorter than the send?)",
                        rid,
                    )
                    return None
                if reason is not None:
                    self._settle(current, message, MessageStatus.CANCELLED, reason, marked_at)
                    counts["cancelled"] += 1
                    _log.info("message %s cancelled: %s", rid, reason)
                elif error is None:
                    self._settle(current, message, MessageStatus.SENT, None, marked_at)
                    counts["sent"] += 1
                    _log.info("message %s sent by %s (attempt %d)", rid, channel.name, attempt)
                elif error.channel_down:
                    # Not the message's fault: the attempt does not count.
                    self._edit(
                        OutboxMessage,
                        current,
                        status=MessageStatus.PENDING,
                        attempts=attempt - 1,
                        next_attempt_at=marked_at,
                        error=error.code,
                    )
                    stopped = error.code
                    _log.warning(
                        "channel %s is down (%s): dispatch stopped", channel.name, error.code
                    )
                elif error.permanent or attempt >= settings.max_attempts:
                    self._settle(current, message, MessageStatus.FAILED, error.code, marked_at)
                    counts["failed"] += 1
                    _log.warning(
                        "message %s failed for good: %s (attempt %d of %d)",
                        rid,
                        error.code,
                        attempt,
                        settings.max_attempts,
                    )
                else:
                    self._edit(
                        OutboxMessage,
                        current,
                        status=MessageStatus.PENDING,
                        next_attempt_at=marked_at + settings.retry_delay(attempt),
                        error=error.code,
                    )
                    counts["retrying"] += 1
                    _log.info(
                        "message %s: %s (attempt %d of %d), tried again later",
                        rid,
                        error.code,
                        attempt,
                        settings.max_attempts,
                    )
        except ConflictError:
            counts["lost"] += 1
        return stopped

    def _settle(
        self,
        record: Record,
        message: OutboxMessage,
        status: MessageStatus,
        error: str | None,
        at: datetime,
    ) -> None:
        """Finish a message (sent, failed or cancelled, ``at`` then) and its Interaction."""
        sent = status is MessageStatus.SENT
        self._edit(
            OutboxMessage,
            record,
            status=status,
            next_attempt_at=None,
            sent_at=at if sent else None,
            error=error,
        )
        self._deliver(
            message.interaction_id, DeliveryStatus.SENT if sent else DeliveryStatus.FAILED
        )

    def _deliver(self, interaction_id: uuid.UUID | None, status: DeliveryStatus) -> None:
        """Set an Interaction's delivery status (without opening its personal fields)."""
        if interaction_id is None:
            return
        record = self._crm.storage.get("interaction", str(interaction_id))
        if record is not None and not record.doc.startswith(_TOMBSTONE):
            self._edit(Interaction, record, delivery_status=status)

    def _edit(self, cls: type[Any], record: Record, **changes: Any) -> Record:
        """
        Store ``record`` with ``changes`` to fields that are not personal data, leaving
        its sealed fields as they are: state changes never decrypt, re-encrypt or need
        the key (a message of an erased party can still be cancelled).
        """
        crm = self._crm
        kind = KINDS[cls]
        new = attrs.evolve(kind.from_record(record, crm.converter, _no_key), **changes)
        raw = json.loads(record.doc)
        for name in changes:
            raw[name] = crm.converter.unstructure(getattr(new, name))
        updated = Record(kind.name, record.id, record.version, dump_doc(raw), kind.columns(new))
        return crm.storage.put(updated, expected_version=record.version)

    def _meta(self, record: Record) -> OutboxMessage:
        """An outbox record's state (its personal fields left closed: empty)."""
        message: OutboxMessage = KINDS[OutboxMessage].from_record(
            record, self._crm.converter, _no_key
        )
        return message

    def _open(self, channel: MessageChannel | str) -> MessageChannel:
        if isinstance(channel, str):
            return open_channel(channel, self._crm.plugins)
        if not isinstance(channel, MessageChannel):
            raise ValidationError.at(
                "channel", f"{type(channel).__name__} is not a MessageChannel or a spec string"
            )
        return channel

    def _channels_for(
        self, channel: MessageChannel | str | Sequence[MessageChannel | str] | None
    ) -> list[MessageChannel]:
        given: Any = channel
        if given is None:
            given = self._channels or os.environ.get(CHANNEL_ENV, "").split()
        if isinstance(given, str | MessageChannel):
            given = [given]
        found = [self._open(c) for c in given]
        if not found:
            raise ValidationError.at(
                "channel",
                "no message channel: give one (smtp://host:587, files:/path), call "
                f"crm.messages.use(...), or set {CHANNEL_ENV}",
            )
        return found

    def _dispatch_after_commit(self, ids: Sequence[str]) -> None:
        """Send messages just queued (after their transaction committed) through the
        configured channels, as the system (the configuration asked for it); never
        raises."""
        try:
            self._send(ids, None, self._lease)
        except Exception as exc:  # noqa: BLE001 - the change committed; the message waits
            _log.warning(
                "sending after the commit failed (%s): left for the next dispatch",
                type(exc).__name__,
            )

    def send_now(
        self,
        messages: Iterable[OutboxMessage | MessageSummary | uuid.UUID | str],
        *,
        channel: MessageChannel | str | Sequence[MessageChannel | str] | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> DispatchReport:
        """
        Send these messages now if they are due (as :meth:`dispatch` would, which
        skips those not due or taken by another dispatcher).
        """
        self._crm._may("interaction")
        ids = [_message_key(m, i) for i, m in enumerate(messages)]
        return self._send(ids, channel, lease)

    def _send(
        self,
        ids: Iterable[str],
        channel: MessageChannel | str | Sequence[MessageChannel | str] | None,
        lease: timedelta,
        *,
        at: datetime | None = None,
        started: datetime | None = None,
        limit: int | None = None,
    ) -> DispatchReport:
        """
        Claim, send and mark the messages ``ids`` (those due at ``at``, default now),
        then close the channels. Claims and marks are stamped with the clock as they
        happen (shifted by ``at - started`` when the caller gave a time of its own).
        """
        crm = self._crm
        channels = self._channels_for(channel)
        # The configured channels are shared by the session's threads: one at a time.
        guard = self._send_lock if channel is None else contextlib.nullcontext()
        counts: Counter[str] = Counter()
        with guard:
            start = started or crm._now()
            when = at or start
            shift = when - start

            def stamp() -> datetime:
                return crm._now() + shift

            try:
                stopped = self._run(ids, channels, when, stamp, lease, limit, counts)
            finally:
                for ch in channels:
                    with contextlib.suppress(Exception):
                        ch.close()
        return DispatchReport(**counts, stopped=stopped)

    def _worker_task(self, message_id: str) -> None:
        """The ``messages`` topic's handler: send the message after the batch commits."""
        self._channels_for(None)  # fail now (and retry later) if there is no channel
        self._crm._after_commit(functools.partial(self._dispatch_after_commit, [message_id]))

    # --- reading and retrying ---------------------------------------------------------

    def get(self, message_id: uuid.UUID | str) -> OutboxMessage:
        """
        An outbox message with its content (an audited read of personal data).

        Raises:
            NotFoundError: no such message.
            AccessDeniedError: the actor's role does not see interactions' text in
                clear, or gave no purpose.
        """
        found: OutboxMessage = self._read(OutboxMessage, message_id)
        return found

    def list(
        self,
        *,
        status: MessageStatus | str | None = None,
        case: Case | uuid.UUID | str | None = None,
        party: Party | PartyRef | uuid.UUID | str | None = None,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> ResultPage[MessageSummary]:
        """
        A page of the outbox, oldest first: each message's state without its content
        (nothing is decrypted). Pass the page's ``next`` as ``after`` for the next.

        Raises:
            ValidationError: an unknown status.
        """
        from civiccrm.crm import ResultPage

        where: list[Filter] = []
        if status is not None:
            try:
                where.append(Filter("status", "eq", MessageStatus(status).value))
            except ValueError:
                known = ", ".join(s.value for s in MessageStatus)
                raise ValidationError.at("status", f"{status!r} is not one of {known}") from None
        if case is not None:
            cid = case.id if isinstance(case, Case) else case
            where.append(Filter("case_id", "eq", str(cid)))
        if party is not None:
            pid = party.id if isinstance(party, Party | PartyRef) else party
            where.append(Filter("party_id", "eq", str(pid)))
        page = self._crm.storage.query(Query("outbox", tuple(where), None, limit, after))
        items = tuple(_summary(self._meta(r)) for r in page.records)
        return ResultPage(items, page.next)

    def counts(self) -> dict[str, int]:
        """How many messages the outbox holds in each status."""
        found = self._crm.storage.count("outbox", group_by="status")
        return {str(k): v for k, v in sorted(found.items(), key=lambda kv: str(kv[0]))}

    def retry(
        self,
        messages: Iterable[OutboxMessage | MessageSummary | uuid.UUID | str] | None = None,
        *,
        now: datetime | None = None,
    ) -> int:
        """
        Queue failed messages again (these, or every failed one), with their attempts
        counted from zero; returns how many. Their Interactions go back to ``queued``.

        Raises:
            NotFoundError: a message that does not exist.
            ValidationError: a message that did not fail (a cancelled one is not sent
                again: queue a new message instead).
        """
        crm = self._crm
        crm._may("interaction")
        at = now or crm._now()
        if messages is None:
            query = Query(
                "outbox",
                (Filter("status", "eq", MessageStatus.FAILED.value),),
                limit=None,
                columns=("status",),
            )
            ids = [r.id for r in crm.storage.stream(query)]
        else:
            ids = [_message_key(m, i) for i, m in enumerate(messages)]
            for i, rid in enumerate(ids):
                record = crm.storage.get("outbox", rid)
                if record is None:
                    raise NotFoundError("outbox message", rid)
                state = self._meta(record).status
                if state is not MessageStatus.FAILED:
                    raise ValidationError.at(
                        f"messages[{i}]",
                        f"message {rid} is {state.value}: only failed messages are retried",
                    )
        done = 0
        for rid in ids:
            with crm.transaction():
                record = crm.storage.get("outbox", rid)
                if record is None:
                    continue
                meta = self._meta(record)
                if meta.status is not MessageStatus.FAILED:
                    continue
                self._edit(
                    OutboxMessage,
                    record,
                    status=MessageStatus.PENDING,
                    attempts=0,
                    next_attempt_at=at,
                    error=None,
                )
                self._deliver(meta.interaction_id, DeliveryStatus.QUEUED)
            done += 1
        return done


def _with_reference(subject: str, reference: str | None) -> str:
    """``subject`` with ``[reference]`` in front (unless it holds it already)."""
    if not reference:
        return subject
    tag = f"[{reference}]"
    return subject if tag in subject else f"{tag} {subject}".strip()


def _message_key(item: object, i: int) -> str:
    if isinstance(item, OutboxMessage | MessageSummary):
        return str(item.id)
    try:
        return str(uuid.UUID(str(item)))
    except ValueError:
        raise ValidationError.at(f"messages[{i}]", f"{item!r} is not a message id") from None
