"""
Inbound email: receipts (so that a message is taken once), attachments' metadata and
the quarantine of messages that could not be taken.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import attrs

from civiccrm.models._common import aware_utc, optional_datetime_field
from civiccrm.models._ids import new_id
from civiccrm.models._pii import DIRECT

__all__ = ["MailAttachment", "MailOutcome", "MailReceipt", "QuarantinedMail"]


class MailOutcome(enum.StrEnum):
    """
    What became of an inbound message.

    .. versionadded:: 0.1.0
    """

    #: Logged on the case it answers (by a reference or its In-Reply-To/References).
    THREADED = "threaded"
    #: Opened a new case of its mailbox's case type.
    OPENED = "opened"
    #: Kept in the quarantine, with the reason, for a person to look at.
    QUARANTINED = "quarantined"
    #: Not for a case: an automatic reply, a bounce, or the agency's own mail.
    SKIPPED = "skipped"
    #: Taken before (polling again takes nothing twice).
    DUPLICATE = "duplicate"


@attrs.frozen(kw_only=True)
class MailAttachment:
    """
    What is kept of an attachment: its metadata, never its bytes.

    .. versionadded:: 0.1.0
    """

    #: The name the sender gave it (personal data: names often say whose it is).
    filename: str | None = None
    #: Its MIME type, such as ``application/pdf``.
    content_type: str
    #: Its size in bytes, decoded.
    size: int
    #: SHA-256 (hex) of its decoded bytes: proves which file it was, if it turns up.
    sha256: str


@attrs.frozen(kw_only=True)
class MailReceipt:
    """
    The mark an inbound message leaves once taken, by a blind index of its Message-ID
    (or of its bytes' hash when it has none), so that polling a mailbox again takes
    nothing twice. Every outcome leaves one, a quarantined or skipped message too.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    #: The blind index of the message's identity (stored as the record's key).
    key: str
    mailbox: str
    received_at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    outcome: MailOutcome = MailOutcome.THREADED
    case_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None
    party_id: uuid.UUID | None = None
    quarantine_id: uuid.UUID | None = None
    #: True when the message opened a new case rather than threading to one.
    opened_case: bool = False
    #: How it was threaded: ``in-reply-to``, ``references`` or ``subject``.
    threaded_by: str | None = None
    #: Why it was skipped or quarantined, in words that quote nothing from the message.
    reason: str | None = None
    #: SHA-256 (hex) of the message's content after its header section: a message
    #: that reuses a Message-ID with other content is told apart from a redelivery.
    digest: str = ""
    #: What was noticed while reading it (an unknown charset decoded with
    #: replacement ...), quoting nothing from the message.
    notes: tuple[str, ...] = ()
    #: The attachments' metadata (no bytes), sealed with the interaction's key.
    attachments: tuple[MailAttachment, ...] = attrs.field(default=(), metadata=DIRECT)
    version: int = 0


@attrs.frozen(kw_only=True)
class QuarantinedMail:
    """
    An inbound message that could not be taken (malformed, oversized, undecodable),
    kept with the reason so that a person can look at it; never lost.

    The raw message is encrypted under a data key of its own (``mail:<id>``): in the
    record (``raw``) when it is small, else in a file beside the database
    (``spool_file``). Taking it on a retry, or dismissing it, destroys that key.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    mailbox: str
    received_at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    #: Why, in words that quote nothing from the message.
    reason: str
    size: int = 0
    #: SHA-256 (hex) of the raw message.
    sha256: str = ""
    #: The raw message (base64), encrypted at rest like any personal field.
    raw: str = attrs.field(default="", metadata=DIRECT)
    #: The encrypted file holding the raw message, by name in the mail spool beside
    #: the database (a large message); None when ``raw`` holds it.
    spool_file: str | None = None
    #: The blind index its receipt is kept under.
    receipt_key: str = ""
    #: What was noticed while reading it, quoting nothing from the message.
    notes: tuple[str, ...] = ()
    #: How many times a person asked for it to be taken again.
    retries: int = 0
    #: Set when a person has dealt with it (taken on a retry, or dismissed).
    resolved_at: datetime | None = optional_datetime_field()
    #: ``taken`` or ``dismissed: <reason>``.
    resolution: str | None = None
    version: int = 0
