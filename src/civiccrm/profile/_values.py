"""Small checks shared by the parsers of a profile's optional sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from civiccrm.errors import Problem
from civiccrm.models._common import _kind

__all__ = ["optional_text"]


def optional_text(table: Mapping[str, Any], key: str, problems: list[Problem]) -> str | None:
    """``table[key]`` if it is a non-empty string; None if absent (or wrong, with a
    problem at ``key``)."""
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(key, f"expected a non-empty string, got {_kind(value)}"))
        return None
    return value
