"""Outbound messages (the outbox) and satisfaction surveys."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import attrs

from civiccrm.errors import ValidationError
from civiccrm.models._common import aware_utc, optional_datetime_field
from civiccrm.models._ids import new_id
from civiccrm.models._party import PartyRef
from civiccrm.models._pii import DIRECT

__all__ = ["MessageStatus", "OutboxMessage", "Survey"]


class MessageStatus(enum.StrEnum):
    """
    Where an outbound message is.

    ``pending -> sending -> sent``; a failed attempt goes back to ``pending`` (with the
    next attempt's time) until the last attempt, then ``failed``. A message the party
    may not be sent (an opt-out, no address) is ``cancelled`` with the reason.

    .. versionadded:: 0.1.0
    """

    #: Waiting to be sent (written in the transaction of the change it reports).
    PENDING = "pending"
    #: Claimed by a dispatcher, under a lease (``next_attempt_at`` is when the lease
    #: ends): being handed to the channel. One left here by a dispatcher that died is
    #: claimed again when its lease has ended.
    SENDING = "sending"
    #: Handed to the channel.
    SENT = "sent"
    #: Given up after the last retry, or refused by the channel for good.
    FAILED = "failed"
    #: Not sent: the party opted out, withdrew consent, has no address on any channel,
    #: or was erased before it went. ``error`` says which.
    CANCELLED = "cancelled"


def _score(_inst: object, field: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not 1 <= value <= 5):
        raise ValidationError.at(field.name, f"{value!r} is not a score from 1 to 5")


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """
    One message to a party, queued in the outbox in the same transaction as the change
    it reports, and sent only after that transaction commits.

    The recipient, subject, body and Message-ID are personal data, sealed with the
    party's key like the rest of their data; the state (status, attempts, times, the
    error code) is not, so that dispatching and listing never decrypt a message
    except to send it.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    #: Idempotency key: queueing the same key twice queues one message.
    key: str
    #: The medium it goes on: ``email`` or ``sms`` (a channel plugin says which media
    #: it carries).
    channel: str
    #: The address on that channel (an email address, an E.164 phone number); empty
    #: when there was none to send to, or once the party's key is destroyed.
    recipient: str = attrs.field(default="", metadata=DIRECT)
    party: PartyRef | None = None
    case_id: uuid.UUID | None = None
    #: The case's reference (``SR-2026-000123``), else its id; also in the subject.
    reference: str | None = None
    #: The event it reports (``opened``, ``resolved``, ``update`` ...), if templated.
    event: str | None = None
    #: The template it was rendered from (its place in the profile), and in which
    #: language.
    template: str | None = None
    language: str | None = None
    subject: str | None = attrs.field(default=None, metadata=DIRECT)
    body: str = attrs.field(default="", metadata=DIRECT)
    status: MessageStatus = MessageStatus.PENDING
    #: Attempts made so far (claims by a dispatcher).
    attempts: int = 0
    created_at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    #: When the next attempt is due (pending), or when the lease of the attempt under
    #: way ends (sending); None once sent, failed or cancelled.
    next_attempt_at: datetime | None = optional_datetime_field()
    #: When the latest attempt began.
    attempted_at: datetime | None = optional_datetime_field()
    sent_at: datetime | None = optional_datetime_field()
    #: Why the last attempt failed or the message was cancelled: an error type, a
    #: channel's status code (``smtp_550``) or a reason (``opted_out``), never text
    #: that could quote the message.
    error: str | None = None
    #: The outbound Interaction that logs it.
    interaction_id: uuid.UUID | None = None
    #: The satisfaction survey whose link it carries, if any.
    survey_id: uuid.UUID | None = None
    #: The channel's id for it, fixed when it is queued and the same on every attempt
    #: (an email's Message-ID: ``<c.{case uuid hex}.{random hex}@{domain}>``).
    message_id: str | None = attrs.field(default=None, metadata=DIRECT)
    version: int = 0


@attrs.frozen(kw_only=True)
class Survey:
    """
    A satisfaction survey of a resolved case: the citizen answers with the token they
    were sent (only its hash is stored) and a score from 1 to 5, with a comment.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    case_id: uuid.UUID
    party: PartyRef | None = None
    #: SHA-256 (hex) of the token; the token itself is only ever in the message.
    token_hash: str
    issued_at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    expires_at: datetime | None = optional_datetime_field()
    score: int | None = attrs.field(default=None, validator=_score)
    #: The citizen's comment, redacted on the way in.
    comment: str | None = attrs.field(default=None, metadata=DIRECT)
    responded_at: datetime | None = optional_datetime_field()
    #: When a newer survey of the same case (resolved again after a reopen) replaced
    #: this one, unanswered; its token answers no more.
    withdrawn_at: datetime | None = optional_datetime_field()
    version: int = 0
