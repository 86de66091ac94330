"""Outbound message channels (stub; being built)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["MessageChannel"]


class MessageChannel(Protocol):
    """**Protocol:** an outbound channel."""

    name: str
