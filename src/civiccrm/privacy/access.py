"""
Role-based access: what a role sees of a record's personal data, and what it may write.

A :class:`~civiccrm.profile.Role` in the agency profile gives each top-level personal
data field of :class:`~civiccrm.models.Citizen`, :class:`~civiccrm.models.Organization`,
:class:`~civiccrm.models.Case`, :class:`~civiccrm.models.Interaction` and
:class:`~civiccrm.models.CaseEvent` a :class:`~civiccrm.profile.Visibility`:

- **clear**: the value as stored;
- **masked**: the value with its identifying part taken out, by the rules below;
- **hidden**: the field's empty value (None, an empty list or dict, False).

Fields that are not personal data (ids, status, dates, queue, case type) are always
shown. :func:`view` returns a copy of a record as a role sees it; :func:`check_write`
says whether a role may make a kind of write.

Masking rules
-------------

One rule per kind of value, chosen by the field's declared kind (direct or quasi, as
:func:`~civiccrm.models.personal_data_fields` reports it) and its type, never by its
name. Nested models (contact points, postal addresses, consents, a case's location) are
masked field by field by the same rules; their fields that are not personal data are
kept.

================================  ===========================================================
value                             masked
================================  ===========================================================
email (contact point)             first character of the local part, ``***@``, the domain:
                                  ``jane.doe@example.org`` -> ``j***@example.org``
phone (contact point)             the last 4 digits only: ``+12175550134`` -> ``***-**-0134``
postal address (contact point)    street lines -> ``("***",)``; city, region, postal code and
                                  coordinates by the rules below; country kept
direct text, one line, <= 40      an initial: ``Jane`` -> ``J.``, ``12 Elm St`` -> ``1.``
direct text, longer or lines      ``[redacted]``
quasi text                        the first 3 characters and ``***``: ``62704`` -> ``627***``,
                                  ``Springfield`` -> ``Spr***``, ``es-MX`` -> ``es-***``
coordinate (latitude, longitude)  rounded to 2 decimal places (about 1 km)
date (date of birth)              None: a date field cannot hold a year alone, and a made-up
                                  day would be taken for the real one
true/false (vulnerable)           False, as when hidden: a flag cannot be partly shown
list                              each item by its rule
dict (external ids, answers)      keys kept; text values as text of the field's kind,
                                  numbers ``[redacted]``, lists of option keys item by item
================================  ===========================================================

Blank text masks to ``""``. Masking is idempotent: a masked value masks to itself, so
masking a masked view again reveals nothing new.

Everything here is pure: no I/O.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Final, TypeVar

import attrs

from civiccrm.errors import AccessDeniedError
from civiccrm.models import (
    ContactKind,
    ContactPoint,
    PersonalData,
    PersonalDataField,
    PostalAddress,
    make_converter,
    personal_data_fields,
)
from civiccrm.models._trusted import trusted_structurer
from civiccrm.profile import ROLE_MODELS, WRITE_KINDS, Role, Visibility

__all__ = [
    "REDACTED",
    "Role",
    "Visibility",
    "check_write",
    "generalize",
    "mask_coordinate",
    "mask_email",
    "mask_name",
    "mask_phone",
    "mask_text",
    "view",
    "visibility",
    "visible_fields",
]

T = TypeVar("T")

#: What long or multi-line direct text, and a number in a dict, are masked to.
REDACTED: Final = "[redacted]"
#: Direct text longer than this (or on several lines) is redacted, not shortened.
_SHORT: Final = 40
#: How many leading characters of quasi-identifying text a mask keeps.
_QUASI_KEEP: Final = 3
#: Decimal places a masked coordinate keeps: 0.01 degree is about 1.1 km.
_COORDINATE_PLACES: Final = 2

_MODEL_NAMES: Final[Mapping[type, str]] = types.MappingProxyType(
    {cls: name for name, cls in ROLE_MODELS.items()}
)


# --------------------------------------------------------------------------------------
# Masking functions


def mask_email(value: str) -> str:
    """
    Mask an email address: the first character of the local part, then ``***@`` and
    the domain. Text that is not an address masks to ``***``.

    >>> mask_email("jane.doe@example.org")
    'j***@example.org'
    >>> mask_email(mask_email("jane.doe@example.org"))
    'j***@example.org'

    .. versionadded:: 0.1.0
    """
    local, at, domain = value.rpartition("@")
    if not at:
        return "***"
    # A leading * would read as part of the mask (and grow at each masking).
    return f"{local[:1].replace('*', '')}***@{domain}"


def mask_phone(value: str) -> str:
    """
    Mask a phone number to its last 4 digits (``***-**-`` and the digits), whatever
    its country; a number of fewer than 4 digits keeps none.

    >>> mask_phone("+12175550134")
    '***-**-0134'
    >>> mask_phone("+44 20 7946 0000")
    '***-**-0000'

    .. versionadded:: 0.1.0
    """
    digits = [c for c in value if c in "0123456789"]
    last = "".join(digits[-4:]) if len(digits) >= 4 else "****"
    return f"***-**-{last}"


def mask_name(value: str) -> str:
    """
    Mask a name to an initial: its first visible character and a full stop. Blank
    text masks to ``""``.

    >>> mask_name("Jane")
    'J.'
    >>> mask_name("  Núñez")
    'N.'

    .. versionadded:: 0.1.0
    """
    text = value.strip()
    return f"{text[0]}." if text else ""


def mask_text(value: str) -> str:
    """
    Mask direct personal text: an initial (as :func:`mask_name`) for one line of up to
    40 characters, such as a name or an id; :data:`REDACTED` for anything longer or
    on several lines, which may say anything about anyone.

    >>> mask_text("Ana")
    'A.'
    >>> mask_text("Caller says her neighbour at 12 Elm St has not been seen for days.")
    '[redacted]'
    >>> mask_text("first line\\nsecond line")
    '[redacted]'

    .. versionadded:: 0.1.0
    """
    if value == REDACTED or len(value) > _SHORT or len(value.splitlines()) > 1:
        return REDACTED
    return mask_name(value)


def generalize(value: str) -> str:
    """
    Mask quasi-identifying text (a city, a postal code, a language, an address as
    given for a case) to its first 3 characters and ``***``. Blank text masks to
    ``""``; ``*`` at the end of the kept part are dropped, so that a masked value
    masks to itself.

    >>> generalize("62704")
    '627***'
    >>> generalize("Springfield")
    'Spr***'
    >>> generalize("es-MX")
    'es-***'

    .. versionadded:: 0.1.0
    """
    if not value.strip():
        return ""
    return f"{value[:_QUASI_KEEP].rstrip('*')}***"


def mask_coordinate(value: float) -> float:
    """
    Mask a latitude or longitude: rounded to 2 decimal places, about 1 km.

    >>> mask_coordinate(39.781721)
    39.78
    >>> mask_coordinate(-89.650148)
    -89.65

    .. versionadded:: 0.1.0
    """
    return round(value, _COORDINATE_PLACES)


# --------------------------------------------------------------------------------------
# Visibility


def _model_name(cls: type) -> str:
    for base in getattr(cls, "__mro__", ()):
        name = _MODEL_NAMES.get(base)
        if name is not None:
            return name
    raise TypeError(f"roles do not cover {cls!r}; they cover {', '.join(ROLE_MODELS)}")


@functools.cache
def _personal(cls: type) -> Mapping[str, PersonalDataField]:
    return types.MappingProxyType({f.name: f for f in personal_data_fields(cls)})


def visibility(role: Role, cls: type, field: str) -> Visibility:
    """
    How ``role`` sees the field ``field`` of the model ``cls``.

    The most specific key of ``role.fields`` that covers the field decides:
    ``"<Model>.<field>"``, then ``"<Model>.*"``, then ``"direct"`` or ``"quasi"`` (the
    field's declared kind); else ``role.default``. A field that is not personal data is
    always :attr:`~Visibility.CLEAR`.

    >>> from civiccrm.models import Case, Citizen
    >>> role = Role(code="clerk", name="Clerk", default=Visibility.HIDDEN,
    ...             fields={"Citizen.given_name": "clear", "direct": "masked"})
    >>> visibility(role, Citizen, "given_name"), visibility(role, Citizen, "family_name")
    (<Visibility.CLEAR: 'clear'>, <Visibility.MASKED: 'masked'>)
    >>> visibility(role, Case, "location"), visibility(role, Case, "status")
    (<Visibility.HIDDEN: 'hidden'>, <Visibility.CLEAR: 'clear'>)

    Raises:
        TypeError: ``cls`` is not one of the models roles cover (see
            :data:`~civiccrm.profile.ROLE_MODELS`).
        ValueError: ``cls`` has no field ``field``.

    .. versionadded:: 0.1.0
    """
    model = _model_name(cls)
    declared = _personal(cls).get(field)
    if declared is None:
        if field in attrs.fields_dict(cls):
            return Visibility.CLEAR
        raise ValueError(f"{model} has no field {field!r}")
    fields = role.fields
    for key in (f"{model}.{field}", f"{model}.*", declared.kind.value):
        found = fields.get(key)
        if found is not None:
            return found
    return role.default


def visible_fields(role: Role, cls: type) -> dict[str, Visibility]:
    """
    How ``role`` sees each top-level personal data field of ``cls``, in field order.
    A front end can use it to label a field "hidden" rather than show its empty value.

    >>> from civiccrm.models import CaseEvent
    >>> visible_fields(Role(code="clerk", name="Clerk"), CaseEvent)
    {'note': <Visibility.HIDDEN: 'hidden'>}

    Raises:
        TypeError: ``cls`` is not one of the models roles cover.

    .. versionadded:: 0.1.0
    """
    _model_name(cls)
    return {name: visibility(role, cls, name) for name in _personal(cls)}


# --------------------------------------------------------------------------------------
# Views

#: Unstructures models into the documents the trusted structurer rebuilds them from.
_CONVERTER: Final = make_converter()


def view(obj: T, role: Role, *, redact: Callable[[str], str] | None = None) -> T:
    """
    Return ``obj`` (a citizen, organization, case, interaction or case event) as
    ``role`` sees it: each top-level personal data field clear, masked (by the rules in
    the module documentation, nested models included) or hidden (its empty value);
    every other field as it is.

    The copy is built without validation, as a masked email or phone number is not a
    valid one: show it, do not store it. When the role sees everything in the clear,
    ``obj`` itself is returned.

    >>> from civiccrm.models import Citizen, ContactPoint
    >>> ana = Citizen(given_name="Ana", family_name="Núñez",
    ...               contact_points=[ContactPoint.email("ana.nunez@example.org")])
    >>> role = Role(code="clerk", name="Clerk", default=Visibility.MASKED,
    ...             fields={"Citizen.family_name": "hidden"})
    >>> seen = view(ana, role)
    >>> seen.given_name, seen.family_name, seen.contact_points[0].value
    ('A.', None, 'a***@example.org')
    >>> seen.id == ana.id
    True

    Raises:
        TypeError: ``obj`` is not one of the models roles cover.

    .. versionadded:: 0.1.0
    """
    cls: type = type(obj)
    shown = visible_fields(role, cls)
    if all(v is Visibility.CLEAR for v in shown.values()):
        return obj
    doc: dict[str, Any] = _CONVERTER.unstructure(obj)
    personal = _personal(cls)
    for name, seen in shown.items():
        if seen is Visibility.HIDDEN:
            doc[name] = _empty(cls, name)
        elif seen is Visibility.MASKED:
            doc[name] = _mask_field(cls, personal[name], doc)
        elif seen is Visibility.REDACTED:
            doc[name] = _redact_field(cls, personal[name], doc, redact or default_redact)
    return trusted_structurer(cls)(doc)


def default_redact(text: str) -> str:
    """
    ``text`` with the personal data civiccrm's built-in detectors find in it replaced
    by its type, numbered per document (``<PERSON 1>``, ``<PHONE 1>``): the ``public``
    redaction policy. The detectors are built on first use.

    .. versionadded:: 0.1.0
    """
    return _public_redactor()(text)


@functools.cache
def _public_redactor() -> Callable[[str], str]:
    from civiccrm.privacy.detect import Analyzer, default_detectors
    from civiccrm.privacy.redact import BUILTIN_POLICIES, Redactor

    return Redactor(Analyzer(default_detectors()), BUILTIN_POLICIES["public"])


def _redact_field(
    cls: type, field: PersonalDataField, doc: Mapping[str, Any], redact: Callable[[str], str]
) -> Any:
    """Free text redacted (in a dict: each text value); anything else masked."""
    value = doc[field.name]
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {k: redact(v) for k, v in value.items()}
    return _mask_field(cls, field, doc)


def _empty(cls: type, name: str) -> Any:
    """The unstructured empty value of a field: its attrs default."""
    field = attrs.fields_dict(cls)[name]
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            raise TypeError(f"{cls.__qualname__}.{name}: a default that takes self")
        value = default.factory()
    elif default is attrs.NOTHING:
        raise TypeError(f"{cls.__qualname__}.{name} has no default to hide it with")
    else:
        value = default
    return _CONVERTER.unstructure(value, unstructure_as=_hints(cls)[name])


@functools.cache
def _hints(cls: type) -> Mapping[str, Any]:
    return types.MappingProxyType(typing.get_type_hints(cls))


def _mask_contact_value(doc: Mapping[str, Any], value: str) -> str:
    kind = doc.get("kind")
    if kind == ContactKind.EMAIL.value:
        return mask_email(value)
    if kind == ContactKind.PHONE.value:
        return mask_phone(value)
    return mask_text(value)


def _mask_street_lines(_doc: Mapping[str, Any], value: list[str]) -> list[str]:
    return ["***"] if value else []


#: Rules that depend on what a nested model holds rather than on the field's type: a
#: contact point's value by its kind, a postal address's street lines.
_BY_MODEL: Final[Mapping[tuple[type, str], Callable[[Mapping[str, Any], Any], Any]]] = (
    types.MappingProxyType(
        {
            (ContactPoint, "value"): _mask_contact_value,
            (PostalAddress, "lines"): _mask_street_lines,
        }
    )
)


def _mask_field(cls: type, field: PersonalDataField, doc: Mapping[str, Any]) -> Any:
    """The masked unstructured value of one personal data field of ``doc``."""
    value = doc[field.name]
    if value is None:
        return None
    special = _BY_MODEL.get((cls, field.name))
    if special is not None:
        return special(doc, value)
    kind = field.kind if field.declared else None
    return _mask_value(_hints(cls)[field.name], value, kind, f"{cls.__qualname__}.{field.name}")


def _mask_model(cls: type, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A nested model's document with each of its personal data fields masked."""
    out = dict(doc)
    for field in personal_data_fields(cls):
        out[field.name] = _mask_field(cls, field, doc)
    return out


def _mask_value(tp: Any, value: Any, kind: PersonalData | None, where: str) -> Any:
    """
    Mask an unstructured ``value`` of type ``tp``. ``kind`` is the declared kind, or
    None for a field that is not declared itself but holds models that declare theirs.
    """
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _mask_value(inner[0], value, kind, where)
        return _mask_scalar(value, kind, where)  # a union of scalars: by the value's type
    if isinstance(tp, type) and attrs.has(tp):
        return _mask_model(tp, value)
    if origin is tuple:
        return [_mask_value(args[0], item, kind, where) for item in value]
    if origin in (dict, Mapping):
        return {key: _mask_scalar(item, kind, where) for key, item in value.items()}
    if kind is None:
        raise TypeError(f"no masking rule for {where}: {tp!r} declares no personal data")
    if tp is str:
        return mask_text(value) if kind is PersonalData.DIRECT else generalize(value)
    if tp is float:
        return mask_coordinate(value)
    if tp is bool:
        return False
    if tp is date:
        return None
    raise TypeError(f"no masking rule for {where}: {tp!r}")


def _mask_scalar(value: Any, kind: PersonalData | None, where: str) -> Any:
    """A value in a dict (or a union of scalars), masked by its own type."""
    if kind is None:
        raise TypeError(f"no masking rule for {where}: no declared kind")
    if isinstance(value, str):
        return mask_text(value) if kind is PersonalData.DIRECT else generalize(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return REDACTED
    if isinstance(value, list | tuple):
        return [_mask_scalar(item, kind, where) for item in value]
    raise TypeError(f"no masking rule for {where}: a {type(value).__name__} value")


# --------------------------------------------------------------------------------------
# Writes


def check_write(role: Role, kind: str) -> None:
    """
    Raise :class:`~civiccrm.errors.AccessDeniedError` unless ``role`` may make writes
    of ``kind`` (one of :data:`~civiccrm.profile.WRITE_KINDS`).

    >>> clerk = Role(code="clerk", name="Clerk", writes={"case", "note"})
    >>> check_write(clerk, "note")
    >>> check_write(clerk, "erase")
    Traceback (most recent call last):
    ...
    civiccrm.errors.AccessDeniedError: role 'clerk' (Clerk) may not make 'erase' writes: erase a party's personal data (crm.citizens.erase, right to erasure)

    Raises:
        AccessDeniedError: the role does not allow it.
        ValueError: ``kind`` is not a write kind.

    .. versionadded:: 0.1.0
    """
    what = WRITE_KINDS.get(kind)
    if what is None:
        known = ", ".join(repr(k) for k in WRITE_KINDS)
        raise ValueError(f"{kind!r} is not a write kind (one of {known})")
    if not role.may_write(kind):
        raise AccessDeniedError(
            f"role {role.code!r} ({role.name}) may not make {kind!r} writes: {what}"
        )
