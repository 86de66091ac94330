"""The agency's own structure: departments, queues and agents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import attrs

from civiccrm.errors import ValidationError
from civiccrm.models._common import (
    as_tuple,
    language_tags,
    non_blank,
    optional_aware_utc,
    optional_text,
    slug,
)
from civiccrm.models._ids import new_id
from civiccrm.models._party import normalize_email

__all__ = ["Agent", "Department", "Queue"]


@attrs.frozen(kw_only=True)
class Department:
    """
    A part of the agency (Public Works, Human Services).

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=slug)
    name: str = attrs.field(validator=non_blank)
    description: str | None = None


@attrs.frozen(kw_only=True)
class Queue:
    """
    A team's shared inbox of cases.

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=slug)
    name: str = attrs.field(validator=non_blank)
    department: str = attrs.field(validator=slug)
    description: str | None = None


_email = optional_text(normalize_email, "an email address")


def _capacity(_inst: object, field: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 0:
        raise ValidationError.at(field.name, "cannot be negative")


@attrs.frozen(kw_only=True)
class Agent:
    """
    A staff member who works cases.

    Staff details are work data, shown to colleagues and in audit trails; they are not
    declared personal data of the kind civiccrm encrypts and redacts for citizens.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    username: str = attrs.field(validator=non_blank)
    display_name: str = attrs.field(validator=non_blank)
    email: str | None = attrs.field(
        default=None,
        converter=attrs.Converter(_email, takes_field=True),  # type: ignore[misc]
    )
    #: The role that decides what they may see and do (``caseworker``, ``supervisor``).
    role: str = attrs.field(default="caseworker", validator=slug)
    queues: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    skills: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    #: BCP 47 tags of the languages they can serve citizens in.
    languages: tuple[str, ...] = attrs.field(
        default=(),
        converter=attrs.Converter(language_tags, takes_field=True),  # type: ignore[misc]
    )
    #: The most open cases they may hold at once; None for no limit.
    capacity: int | None = attrs.field(default=None, validator=_capacity)
    active: bool = True
    #: Takes part in automatic assignment (supervisors usually do not).
    in_rotation: bool = True
    #: The business calendar of their working hours, by name.
    calendar: str | None = None
    created_at: datetime | None = attrs.field(
        default=None,
        converter=attrs.Converter(optional_aware_utc, takes_field=True),  # type: ignore[misc]
    )
    version: int = 0
