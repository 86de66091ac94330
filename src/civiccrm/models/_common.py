"""Enumerations and field validators shared by the models."""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs

from civiccrm.errors import ValidationError

__all__ = [
    "as_tuple",
    "Channel",
    "PartyType",
    "Priority",
    "aware_utc",
    "check_language_tag",
    "finite_in_range",
    "language_tag",
    "language_tags",
    "non_blank",
    "optional_aware_utc",
    "optional_datetime_field",
    "optional_text",
    "slug",
    "to_utc",
]

T = TypeVar("T")


class Channel(enum.StrEnum):
    """
    How a request or contact reached the agency, or how the agency reached out.

    .. versionadded:: 0.1.0
    """

    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    MOBILE_APP = "mobile_app"
    WALK_IN = "walk_in"
    SMS = "sms"
    SOCIAL = "social"
    CHAT = "chat"
    MAIL = "mail"
    API = "api"
    #: Raised by staff themselves (an inspector's own finding) or an internal note.
    INTERNAL = "internal"


class PartyType(enum.StrEnum):
    """
    Which kind of party a reference points at.

    .. versionadded:: 0.1.0
    """

    CITIZEN = "citizen"
    ORGANIZATION = "organization"


@functools.total_ordering
class Priority(enum.Enum):
    """
    How urgent a case is. Priorities compare in order: ``LOW < NORMAL < HIGH < URGENT``.

    .. versionadded:: 0.1.0
    """

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for urgent."""
        return _PRIORITY_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Priority):
            return NotImplemented
        return self.rank < other.rank


_PRIORITY_RANK: Final = {p: i for i, p in enumerate(Priority)}


# --------------------------------------------------------------------------------------
# Converters (attrs.Converter with takes_field) and validators. They raise
# ValidationError with the field's name as the path, so a direct constructor call gets
# an error naming the field, and the cattrs converter keeps the nested path.


def to_utc(value: object) -> datetime:
    """
    An aware datetime, or ISO 8601 text with an offset, as a datetime in UTC: the one
    place that decides what civiccrm accepts as an instant.

    Raises:
        ValueError: not a datetime, no time zone, or outside what UTC can represent.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ValueError(f"expected an ISO 8601 date and time, got {_kind(value)}")
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if isinstance(value, str):
            raise ValueError(f"{value} has no time zone offset (add Z or +HH:MM)")
        raise ValueError(f"naive datetime {parsed.isoformat()} has no time zone; give it one")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{parsed.isoformat()} is outside the range of dates in UTC") from None


def aware_utc(value: object, field: attrs.Attribute[Any]) -> datetime:
    """Converter: an aware datetime, returned in UTC; naive ones are refused."""
    if not isinstance(value, datetime):
        raise ValidationError.at(field.name, f"expected an aware datetime, got {_kind(value)}")
    try:
        return to_utc(value)
    except ValueError as exc:
        raise ValidationError.at(field.name, str(exc)) from None


def optional_aware_utc(value: object, field: attrs.Attribute[Any]) -> datetime | None:
    """As :func:`aware_utc`, but ``None`` passes through."""
    return None if value is None else aware_utc(value, field)


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Converter: any iterable (a list from JSON, a generator) as a tuple."""
    return value if isinstance(value, tuple) else tuple(value)


def optional_datetime_field() -> Any:
    """An attrs field for an optional aware datetime, normalised to UTC."""
    return attrs.field(
        default=None,
        converter=attrs.Converter(optional_aware_utc, takes_field=True),
    )


def non_blank(_inst: object, field: attrs.Attribute[Any], value: str | None) -> None:
    """Validator: a string with at least one visible character (``None`` allowed)."""
    if value is not None and not value.strip():
        raise ValidationError.at(field.name, "must not be empty")


_SLUG: Final = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")


def slug(_inst: object, field: attrs.Attribute[Any], value: str) -> None:
    """Validator: a code of lowercase letters and digits, joined by ``-`` or ``_``."""
    if not _SLUG.fullmatch(value):
        raise ValidationError.at(
            field.name,
            f"{value!r} is not a code: use lowercase letters and digits joined by - or _",
        )


def finite_in_range(
    low: float, high: float
) -> Callable[[object, attrs.Attribute[Any], float | None], None]:
    """Validator factory: a finite number between ``low`` and ``high`` inclusive."""

    def check(_inst: object, field: attrs.Attribute[Any], value: float | None) -> None:
        if value is None:
            return
        if not math.isfinite(value) or not low <= value <= high:
            raise ValidationError.at(field.name, f"{value} is not between {low} and {high}")

    return check


# BCP 47 (RFC 5646) well-formed language tags: language, optional extlang, script,
# region, variants, extensions, private use; or a private-use tag on its own.
_LANGTAG: Final = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-[a-z]{4})?"
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*"
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+",
)


def check_language_tag(value: str) -> str:
    """
    Check that ``value`` is a well-formed BCP 47 language tag and return it in its
    canonical case (``en-us`` becomes ``en-US``, ``zh-hant-tw`` becomes ``zh-Hant-TW``).

    Raises:
        ValueError: the tag is not well formed.
    """
    lowered = value.lower()
    if not _LANGTAG.fullmatch(lowered):
        raise ValueError(f"{value!r} is not a BCP 47 language tag (such as 'en', 'es-MX')")
    parts = lowered.split("-")
    out = [parts[0]]
    singleton = len(parts[0]) == 1
    for part in parts[1:]:
        if singleton or len(part) == 1:
            singleton = True
            out.append(part)
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part)
    return "-".join(out)


def optional_text(
    normalise: Callable[[str], str], what: str
) -> Callable[[object, attrs.Attribute[Any]], str | None]:
    """
    Converter factory: ``None``, or a string checked and normalised by ``normalise``
    (which raises ValueError saying what is wrong).
    """

    def convert(value: object, field: attrs.Attribute[Any]) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationError.at(field.name, f"expected {what}, got {_kind(value)}")
        try:
            return normalise(value)
        except ValueError as exc:
            raise ValidationError.at(field.name, str(exc)) from None

    return convert


#: Converter: ``None`` or a well-formed BCP 47 tag in canonical case.
language_tag = optional_text(check_language_tag, "a language tag")


def language_tags(value: object, field: attrs.Attribute[Any]) -> tuple[str, ...]:
    """Converter: a sequence of BCP 47 tags in canonical case."""
    if not isinstance(value, list | tuple):
        raise ValidationError.at(
            field.name, f"expected a list of language tags, got {_kind(value)}"
        )
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError.at(f"{field.name}[{i}]", f"expected a string, got {_kind(item)}")
        try:
            out.append(check_language_tag(item))
        except ValueError as exc:
            raise ValidationError.at(f"{field.name}[{i}]", str(exc)) from None
    return tuple(out)


def _kind(value: object) -> str:
    """A short description of a value's type for error messages."""
    if value is None:
        return "null"
    name = type(value).__name__
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "list": "a list",
        "tuple": "a list",
        "dict": "an object",
    }.get(name, name)
