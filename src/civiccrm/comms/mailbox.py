"""
Inbound mailboxes: the protocol a mailbox poller implements, and the built-in
maildir and mbox pollers.

A poller hands civiccrm raw messages, each with an identity that stays the same from
one poll to the next, and is told to *acknowledge* a message only once civiccrm has
committed what it took from it (a case, an interaction, a quarantine entry). A poller
that stops between the two (a crash, a kill) gives the message again next time, and
civiccrm's receipts make sure it is not taken twice.

Vendors and agencies provide other mailboxes (IMAP, Microsoft Graph, the Gmail API)
through the ``civiccrm_mailbox_poller`` hook::

    from civiccrm import hookimpl

    @hookimpl
    def civiccrm_mailbox_poller(spec):
        if spec.startswith("imaps://"):
            return MyImapPoller(spec)
        return None

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import attrs

__all__ = ["MailboxPoller", "MaildirPoller", "MboxPoller", "RawMail"]


@attrs.frozen
class RawMail:
    """
    One raw message in a mailbox: its identity in that mailbox, its size in bytes, and
    how to read it (opened only when civiccrm takes it, so that a poller can list a
    mailbox of large messages without reading them).

    .. versionadded:: 0.1.0
    """

    #: Stays the same from one poll to the next (a maildir file's unique name, an mbox
    #: message's offset, an IMAP UID): what :meth:`MailboxPoller.acknowledge` is given.
    uid: str
    size: int
    opener: Callable[[], BinaryIO] = attrs.field(repr=False, eq=False)

    def open(self) -> BinaryIO:
        """The message's bytes as a binary file (close it when done)."""
        return self.opener()

    def read(self) -> bytes:
        """The message's bytes."""
        with self.open() as f:
            return f.read()

    @classmethod
    def from_bytes(cls, data: bytes, uid: str = "") -> RawMail:
        """A message held in memory (what an IMAP poller fetched, a test's message)."""
        return cls(uid, len(data), lambda: io.BytesIO(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], uid: str | None = None) -> RawMail:
        """A message in a file of its own (an ``.eml`` file)."""
        p = Path(path)
        return cls(uid if uid is not None else p.name, p.stat().st_size, lambda: p.open("rb"))


@runtime_checkable
class MailboxPoller(Protocol):
    """
    **Protocol:** an inbound mailbox that civiccrm polls (provisional).

    ``crm.mail.poll(poller, mailbox=...)`` calls :meth:`messages`, takes each message
    in its own transaction, and calls :meth:`acknowledge` with its ``uid`` after that
    transaction commits: the message's case and interaction, its quarantine entry, or
    the receipt saying it was skipped or taken before. A message that is never
    acknowledged comes back on the next poll, and civiccrm takes nothing twice.

    .. versionadded:: 0.1.0
    """

    #: Names the mailbox in reports and errors (``maildir:/srv/mail/311``): never a
    #: password or a token.
    name: str

    def messages(self) -> Iterator[RawMail]:
        """The messages not acknowledged yet, oldest first as far as it knows."""
        ...

    def acknowledge(self, uid: str) -> None:
        """
        civiccrm has committed what it took from message ``uid``: do not give it
        again (move it, flag it, delete it, remember a position). A message that is
        gone already is not an error.
        """
        ...

    def close(self) -> None:
        """Let go of the mailbox (connections, locks, files)."""
        ...


from civiccrm.comms._mailboxes import MaildirPoller, MboxPoller  # noqa: E402
