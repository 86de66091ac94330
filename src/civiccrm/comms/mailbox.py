"""Inbound mailbox pollers (stub; being built)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["MailboxPoller"]


class MailboxPoller(Protocol):
    """**Protocol:** an inbound mailbox."""

    name: str
