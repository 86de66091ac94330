"""
The one declaration of personal data.

A model field that holds personal data says so once, in its attrs metadata::

    given_name: str | None = attrs.field(default=None, metadata=DIRECT)

Everything that handles personal data (encryption at rest, role views, retention and
erasure, subject-access exports, the audit of reads) asks :func:`personal_data_fields`
which fields those are. There is no second list to keep in sync.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Final

import attrs

__all__ = [
    "DIRECT",
    "PII_KEY",
    "QUASI",
    "PersonalData",
    "PersonalDataField",
    "personal_data_fields",
]


class PersonalData(enum.Enum):
    """
    How a field identifies a person.

    .. versionadded:: 0.1.0
    """

    #: Identifies a person on its own: names, emails, phones, street addresses, dates of
    #: birth, ids from other agencies, and free text (which may say anything about anyone).
    DIRECT = "direct"
    #: Identifies a person only combined with other data: a location, a postcode, a city,
    #: a preferred language.
    QUASI = "quasi"


#: The attrs metadata key of the declaration.
PII_KEY: Final = "civiccrm.pii"
#: Metadata for a field holding direct personal data: ``attrs.field(metadata=DIRECT)``.
DIRECT: Final[Mapping[str, PersonalData]] = types.MappingProxyType({PII_KEY: PersonalData.DIRECT})
#: Metadata for a field holding quasi-identifying data: ``attrs.field(metadata=QUASI)``.
QUASI: Final[Mapping[str, PersonalData]] = types.MappingProxyType({PII_KEY: PersonalData.QUASI})


@attrs.frozen
class PersonalDataField:
    """
    One field of a model that holds personal data.

    Attributes:
        name: the attribute name on the model.
        kind: direct or quasi; for a field that holds nested models, the strongest kind
            declared inside them.
        declared: True when the field itself carries the declaration; False when it holds
            nested models (contact points, an address) whose own fields are declared.

    .. versionadded:: 0.1.0
    """

    name: str
    kind: PersonalData
    declared: bool


def _nested_attrs_classes(tp: Any) -> list[type]:
    """Every attrs class that appears in a type annotation, at any depth."""
    found: list[type] = []
    if isinstance(tp, type) and attrs.has(tp):
        found.append(tp)
    for arg in typing.get_args(tp):
        found.extend(_nested_attrs_classes(arg))
    return found


@functools.cache
def personal_data_fields(cls: type) -> tuple[PersonalDataField, ...]:
    """
    List the fields of the attrs class ``cls`` that hold personal data, in field order.

    A field counts when its metadata declares it, or when its type holds attrs classes
    that declare personal data fields of their own (a citizen's ``contact_points`` hold
    :class:`~civiccrm.models.ContactPoint` values, whose ``value`` is declared).

    >>> from civiccrm.models import Citizen
    >>> [f.name for f in personal_data_fields(Citizen)][:3]
    ['given_name', 'family_name', 'preferred_name']

    .. versionadded:: 0.1.0
    """
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    attrs.resolve_types(cls)
    out: list[PersonalDataField] = []
    for f in attrs.fields(cls):
        declared = f.metadata.get(PII_KEY)
        if declared is not None:
            out.append(PersonalDataField(f.name, PersonalData(declared), True))
            continue
        kinds = {
            inner.kind
            for nested in _nested_attrs_classes(f.type)
            if nested is not cls
            for inner in personal_data_fields(nested)
        }
        if kinds:
            kind = PersonalData.DIRECT if PersonalData.DIRECT in kinds else PersonalData.QUASI
            out.append(PersonalDataField(f.name, kind, False))
    return tuple(out)
