"""Case types: Open311-style service definitions with custom attributes."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final, TypeAlias

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._common import Priority, as_tuple, non_blank, slug, to_utc

__all__ = [
    "AttributeDatatype",
    "AttributeDefinition",
    "AttributeOption",
    "AttributeValue",
    "CaseType",
    "ServiceType",
    "format_utc",
]

#: A validated custom attribute value: text for ``string``, ``text``, ``datetime``
#: (normalised to ISO 8601 UTC) and ``singlevaluelist`` (the option key); a number for
#: ``number``; a tuple of option keys for ``multivaluelist``.
AttributeValue: TypeAlias = str | int | float | tuple[str, ...]


class AttributeDatatype(enum.StrEnum):
    """
    The datatypes of Open311 GeoReport v2 service definition attributes.

    .. versionadded:: 0.1.0
    """

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"

    @property
    def is_list(self) -> bool:
        """True for the two datatypes that pick from listed options."""
        return self in (AttributeDatatype.SINGLEVALUELIST, AttributeDatatype.MULTIVALUELIST)


def _no_duplicates(name: str, items: tuple[Any, ...], key: str) -> None:
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in first:
            problems.append(
                Problem(
                    f"{name}[{i}].{key}", f"duplicate {key} {value!r} (also {name}[{first[value]}])"
                )
            )
        else:
            first[value] = i
    if problems:
        raise ValidationError(problems)


class ServiceType(enum.StrEnum):
    """
    Open311's ``type`` of a service: how the agency handles requests of it.

    .. versionadded:: 0.1.0
    """

    #: Worked and updated as it goes.
    REALTIME = "realtime"
    #: Collected and processed in batches (applications, bulk pickups).
    BATCH = "batch"
    #: Received with no updates given back.
    BLACKBOX = "blackbox"


def _no_space(_inst: object, field: attrs.Attribute[Any], value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError.at(
            field.name, f"{value!r} is not a code: it must be non-empty with no surrounding spaces"
        )


@attrs.frozen(kw_only=True)
class AttributeOption:
    """
    One allowed value of a list attribute: ``key`` is stored, ``name`` is shown.

    .. versionadded:: 0.1.0
    """

    key: str = attrs.field(validator=_no_space)
    name: str = attrs.field(validator=non_blank)


@attrs.frozen(kw_only=True)
class AttributeDefinition:
    """
    One intake question of a case type (an Open311 service definition attribute).

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=_no_space)
    datatype: AttributeDatatype
    #: The question shown to the citizen.
    description: str = attrs.field(validator=non_blank)
    required: bool = False
    #: False for an informational attribute that takes no value (Open311 ``variable``).
    variable: bool = True
    #: Position in the form; the attribute's place in the list when omitted.
    order: int | None = None
    #: A hint on the expected format, such as ``"YYYY-MM-DD"``.
    datatype_description: str | None = None
    values: tuple[AttributeOption, ...] = attrs.field(
        default=(), converter=as_tuple, validator=lambda _i, f, v: _no_duplicates(f.name, v, "key")
    )

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if self.datatype.is_list:
            if len(self.values) < 1:
                problems.append(
                    Problem("values", f"a {self.datatype.value} needs at least one value")
                )
        elif self.values:
            problems.append(
                Problem(
                    "values",
                    f"only singlevaluelist and multivaluelist take values, not {self.datatype.value}",
                )
            )
        if self.required and not self.variable:
            problems.append(
                Problem(
                    "required", "an informational attribute (variable = false) cannot be required"
                )
            )
        if problems:
            raise ValidationError(problems)

    def check(self, value: object) -> AttributeValue:
        """
        Check one submitted value and return it normalised.

        Numbers may arrive as strings (web forms send text); datetimes must carry a
        time zone and are normalised to UTC; list values must be among the options.

        Raises:
            ValueError: the value does not fit; the message says why.
        """
        dt = self.datatype
        if dt is AttributeDatatype.NUMBER:
            return _number(value)
        if dt is AttributeDatatype.MULTIVALUELIST:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise ValueError(f"expected a list of option keys, got {type(value).__name__}")
            out: list[str] = []
            for item in items:
                key = self._option(item)
                if key not in out:
                    out.append(key)
            return tuple(out)
        if dt is AttributeDatatype.SINGLEVALUELIST:
            return self._option(value)
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        if dt is AttributeDatatype.DATETIME:
            return _date_or_datetime(value)
        if dt is AttributeDatatype.STRING and ("\n" in value or "\r" in value):
            raise ValueError("a string attribute is one line; use a text attribute for longer text")
        return value

    def _option(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected an option key, got {type(value).__name__}")
        for option in self.values:
            if option.key == value:
                return value
        keys = ", ".join(repr(o.key) for o in self.values)
        raise ValueError(f"{value!r} is not one of {keys}")


def _number(value: object) -> int | float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a number") from None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _date_or_datetime(text: str) -> str:
    """
    A date alone (``2026-04-27``) is kept as that date: it names a day, not an instant,
    and has no time zone to get wrong. A date and time needs an offset and is
    normalised to UTC.
    """
    if len(text) == 10:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    return format_utc(to_utc(text))


def format_utc(value: datetime) -> str:
    """
    Format an aware datetime as ISO 8601 in UTC with a ``Z``, keeping microseconds.

    >>> from datetime import datetime, timezone, timedelta
    >>> format_utc(datetime(2026, 3, 8, 3, 30, tzinfo=timezone(timedelta(hours=-5))))
    '2026-03-08T08:30:00Z'

    .. versionadded:: 0.1.0
    """
    if value.tzinfo is UTC:  # the common case: models keep datetimes in UTC
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_EMPTY: Final = ("", None)


@attrs.frozen(kw_only=True)
class CaseType:
    """
    A kind of case: what Open311 calls a service, with its service definition.

    .. versionadded:: 0.1.0
    """

    #: The service code: a string, always (``"001"`` is not ``1``).
    code: str = attrs.field(validator=_no_space)
    name: str = attrs.field(validator=non_blank)
    description: str | None = None
    department: str = attrs.field(validator=slug)
    #: The queue new cases of this type go to unless routing says otherwise.
    queue: str | None = attrs.field(default=None)
    #: A display grouping (Open311 ``group``).
    group: str | None = None
    keywords: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    default_priority: Priority = Priority.NORMAL
    type: ServiceType = ServiceType.REALTIME
    active: bool = True
    attributes: tuple[AttributeDefinition, ...] = attrs.field(
        default=(), converter=as_tuple, validator=lambda _i, f, v: _no_duplicates(f.name, v, "code")
    )
    #: The code of the profile's SLA policy for cases of this type; None for the agency's
    #: default (``Agency.default_sla_policy``).
    sla_policy: str | None = attrs.field(default=None, validator=attrs.validators.optional(slug))

    @property
    def has_metadata(self) -> bool:
        """Open311 ``metadata``: whether the service has attributes to ask."""
        return bool(self.attributes)

    def attribute(self, code: str) -> AttributeDefinition | None:
        """The attribute definition with this code, or None."""
        for attribute in self.attributes:
            if attribute.code == code:
                return attribute
        return None

    def validate_attributes(self, values: Mapping[str, object]) -> dict[str, AttributeValue]:
        """
        Check a case's custom attribute values against this case type and return them
        normalised, in the case type's order.

        Every problem is reported at once, each at ``attributes.<code>``: unknown codes,
        values for informational attributes, missing required ones (an empty string or
        an empty list counts as missing), values of the wrong type or not among the
        options.

        Raises:
            ValidationError: listing every problem.

        .. versionadded:: 0.1.0
        """
        problems: list[Problem] = []
        if not isinstance(values, Mapping):
            raise ValidationError.at(
                "attributes", f"expected an object, got {type(values).__name__}"
            )
        known = {a.code for a in self.attributes}
        for code in values:
            if code not in known:
                problems.append(
                    Problem(f"attributes.{code}", f"not an attribute of case type {self.code!r}")
                )
        out: dict[str, AttributeValue] = {}
        for attribute in self.attributes:
            value = values.get(attribute.code)
            missing = value in _EMPTY or (isinstance(value, list | tuple) and not value)
            path = f"attributes.{attribute.code}"
            if not attribute.variable:
                if not missing:
                    problems.append(Problem(path, "is informational and takes no value"))
                continue
            if missing:
                if attribute.required:
                    problems.append(Problem(path, "is required"))
                continue
            try:
                out[attribute.code] = attribute.check(value)
            except ValueError as exc:
                problems.append(Problem(path, str(exc)))
        if problems:
            raise ValidationError(problems, record_type="Case")
        return out
