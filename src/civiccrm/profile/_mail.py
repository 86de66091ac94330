"""The optional ``[mail]`` section of a profile (stub; being built)."""

from __future__ import annotations

from typing import Final

import attrs

from civiccrm.errors import Problem

__all__ = ["DEFAULT_MAIL", "MailSettings", "parse_mail"]


@attrs.frozen
class MailSettings:
    """The ``[mail]`` section."""


DEFAULT_MAIL: Final = MailSettings()


def parse_mail(
    raw: object, *, case_types: set[str] | None
) -> tuple[MailSettings | None, list[Problem]]:
    """The ``[mail]`` table as settings (None if it has problems), and its problems."""
    if raw is None:
        return DEFAULT_MAIL, []
    return DEFAULT_MAIL, []
