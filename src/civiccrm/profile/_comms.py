"""The optional ``[communications]`` section of a profile (stub; being built)."""

from __future__ import annotations

from typing import Final

import attrs

from civiccrm.errors import Problem

__all__ = ["DEFAULT_COMMUNICATIONS", "CommunicationsSettings", "parse_communications"]


@attrs.frozen
class CommunicationsSettings:
    """The ``[communications]`` section."""


DEFAULT_COMMUNICATIONS: Final = CommunicationsSettings()


def parse_communications(
    raw: object, *, case_types: set[str] | None
) -> tuple[CommunicationsSettings | None, list[Problem]]:
    """The ``[communications]`` table as settings (None if it has problems), and its problems."""
    if raw is None:
        return DEFAULT_COMMUNICATIONS, []
    return DEFAULT_COMMUNICATIONS, []
