"""
Serialization: the cattrs converter for every model.

Models go to JSON-ready dicts and back: aware datetimes as ISO 8601 in UTC with a ``Z``,
dates as ISO 8601, enums by value, UUIDs as strings, tuples as lists. Structuring is
strict: a string is not silently turned into a number, unknown keys are rejected, a
naive datetime is refused, and every problem is reported at once in one
:class:`~civiccrm.errors.ValidationError` with its path.

Never configure ``cattrs.global_converter``; make a converter with
:func:`make_converter`, or add our hooks to your own with :func:`configure_converter`.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._case_type import AttributeValue, format_utc
from civiccrm.models._common import _kind, to_utc
from civiccrm.models._event import EventValue
from civiccrm.models._party import ContactKind, ContactPoint, normalize_phone

__all__ = [
    "configure_converter",
    "from_json",
    "make_converter",
    "structure",
    "to_json",
    "unstructure",
]

T = TypeVar("T")


def make_converter(*, default_region: str | None = None) -> cattrs.Converter:
    """
    Make a new converter for civiccrm's models.

    Args:
        default_region: ISO 3166 region to read phone numbers written without a country
            code in (the agency profile's ``default_region``). Without it, phone numbers
            must be in E.164 form (``+12175550134``).

    .. versionadded:: 0.1.0
    """
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    configure_converter(conv, default_region=default_region)
    return conv


def configure_converter(conv: cattrs.Converter, *, default_region: str | None = None) -> None:
    """
    Register civiccrm's hooks on ``conv``: strict scalars, aware UTC datetimes, dates,
    UUIDs, enums by value, strict lists, custom attribute values, and attrs classes that
    reject non-objects and (if the converter forbids them) unknown keys.

    .. versionadded:: 0.1.0
    """
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(bool, _bool)
    # Class hooks dispatch by MRO, and a StrEnum is a str before it is an Enum, so
    # enums are registered on StrEnum as well as Enum.
    for base in (enum.Enum, enum.StrEnum):
        conv.register_structure_hook(base, _enum)
        conv.register_unstructure_hook(base, _enum_value)
    conv.register_structure_hook(datetime, _datetime)
    conv.register_unstructure_hook(datetime, format_utc)
    conv.register_structure_hook(date, _date)
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook(uuid.UUID, _uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook(AttributeValue, _attribute_value)
    conv.register_unstructure_hook(AttributeValue, _unstructure_attribute_value)
    # Flat walks for hot paths (storage serializes every record through these):
    # attribute values are JSON-ready but for tuples, and Optional[X] gets its inner hook
    # bound once instead of dispatching on every value.
    conv.register_unstructure_hook_func(
        lambda t: t == dict[str, AttributeValue], _unstructure_attribute_dict
    )
    conv.register_unstructure_hook_factory(
        _is_optional, functools.partial(_optional_unstructure_factory, conv=conv)
    )
    conv.register_structure_hook(EventValue, _event_value)
    conv.register_structure_hook_factory(
        _is_homogeneous_tuple, functools.partial(_tuple_factory, conv=conv)
    )
    conv.register_structure_hook_factory(_is_str_dict, functools.partial(_dict_factory, conv=conv))
    conv.register_structure_hook_factory(
        attrs.has, functools.partial(_attrs_factory, conv=conv, default_region=default_region)
    )


# --------------------------------------------------------------------------------------
# Scalars


def _str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise ValidationError.at("", f"expected a string, got {_kind(value)}")
    return value


def _int(value: object, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError.at("", f"expected an integer, got {_kind(value)}")
    return value


def _float(value: object, _: type) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValidationError.at("", f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ValidationError.at("", f"{value} is not a finite number")
    return float(value)


def _bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.at("", f"expected true or false, got {_kind(value)}")
    return value


def _datetime(value: object, _: type) -> datetime:
    try:
        return to_utc(value)
    except ValueError as exc:
        raise ValidationError.at("", str(exc)) from None


def _date(value: object, _: type) -> date:
    if isinstance(value, datetime):
        raise ValidationError.at("", "expected a date, got a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError.at("", f"expected an ISO 8601 date, got {_kind(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError.at("", f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _uuid(value: object, _: type) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValidationError.at("", f"expected an id string, got {_kind(value)}")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError.at("", f"{value!r} is not an id (a UUID)") from None


def _attribute_value(value: object, _: Any) -> AttributeValue:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _float(value, float)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        return tuple(_str(v, str) for v in value)
    raise ValidationError.at("", f"expected text, a number or a list of keys, got {_kind(value)}")


def _unstructure_attribute_value(value: AttributeValue) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _unstructure_attribute_dict(values: Mapping[str, AttributeValue]) -> dict[str, Any]:
    return {k: list(v) if type(v) is tuple else v for k, v in values.items()}


def _is_optional(tp: Any) -> bool:
    args = typing.get_args(tp)
    return (
        typing.get_origin(tp) in (typing.Union, types.UnionType)
        and len(args) == 2
        and type(None) in args
    )


_PASSTHROUGH: Final = (str, int, float, bool)


def _optional_unstructure_factory(tp: Any, conv: cattrs.Converter) -> Callable[[Any], Any]:
    inner = next(a for a in typing.get_args(tp) if a is not type(None))
    if inner in _PASSTHROUGH:
        return _identity
    hook = conv.get_unstructure_hook(inner)

    def unstructure_optional(value: Any) -> Any:
        return None if value is None else hook(value)

    return unstructure_optional


def _identity(value: Any) -> Any:
    return value


def _event_value(value: object, _: Any) -> EventValue:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return _float(value, float)
    raise ValidationError.at("", f"expected text, a number, true/false or null, got {_kind(value)}")


# --------------------------------------------------------------------------------------
# Enums, collections and attrs classes


@functools.cache
def _enum_members(cl: type[enum.Enum]) -> tuple[dict[Any, enum.Enum], str]:
    by_value = {member.value: member for member in cl}
    return by_value, ", ".join(repr(v) for v in by_value)


def _enum(value: object, cl: type[enum.Enum]) -> enum.Enum:
    if type(value) is cl:
        return value
    by_value, options = _enum_members(cl)
    try:
        return by_value[value]
    except (KeyError, TypeError):
        raise ValidationError.at("", f"{value!r} is not one of {options}") from None


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_factory(tp: Any, conv: cattrs.Converter) -> Callable[[object, Any], tuple[Any, ...]]:
    item_type = typing.get_args(tp)[0]
    item_hook = conv.get_structure_hook(item_type)

    def hook(value: object, _: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise ValidationError.at("", f"expected a list, got {_kind(value)}")
        out = []
        problems: list[Problem] = []
        for i, item in enumerate(value):
            try:
                out.append(item_hook(item, item_type))
            except Exception as exc:  # noqa: BLE001 - every failure becomes a Problem
                problems.extend(p.prefixed(f"[{i}]") for p in problems_of(exc))
        if problems:
            raise ValidationError(problems)
        return tuple(out)

    return hook


def _is_str_dict(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) in (dict, Mapping) and len(args) == 2 and args[0] is str


def _dict_factory(tp: Any, conv: cattrs.Converter) -> Callable[[object, Any], dict[str, Any]]:
    value_type = typing.get_args(tp)[1]
    value_hook = conv.get_structure_hook(value_type)

    def hook(value: object, _: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError.at("", f"expected an object, got {_kind(value)}")
        out = {}
        problems: list[Problem] = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem("", f"keys must be strings, got {_kind(key)}"))
                continue
            try:
                out[key] = value_hook(item, value_type)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a Problem
                problems.extend(p.prefixed(key) for p in problems_of(exc))
        if problems:
            raise ValidationError(problems)
        return out

    return hook


def _attrs_factory(
    cl: type, conv: cattrs.Converter, default_region: str | None
) -> Callable[[object, Any], Any]:
    attrs.resolve_types(cl)
    generated: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(cl, conv)
    normalise_phone = cl is ContactPoint and default_region is not None

    def hook(value: object, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError.at("", f"expected an object, got {_kind(value)}")
        if normalise_phone and value.get("kind") == ContactKind.PHONE.value:
            raw = value.get("value")
            if isinstance(raw, str) and not raw.startswith("+"):
                try:
                    value = {**value, "value": normalize_phone(raw, default_region)}
                except ValueError as exc:
                    raise ValidationError.at("value", str(exc)) from None
        try:
            return generated(value, cl)
        except Exception as exc:  # noqa: BLE001 - diagnosed below
            # The generated code stops at the first failing validator; look again,
            # field by field, so that every problem is reported at once.
            raise ValidationError(_diagnose(value, cl, conv) or problems_of(exc)) from None

    return hook


def _diagnose(value: Mapping[Any, Any], cl: type, conv: cattrs.Converter) -> list[Problem]:
    """Every problem with structuring ``value`` as ``cl``, each field checked on its own."""
    problems: list[Problem] = []
    kwargs: dict[str, Any] = {}
    fields = [f for f in attrs.fields(cl) if f.init]
    known = {f.alias for f in fields}
    for key in value:
        if key not in known:
            problems.append(Problem(str(key), "unknown field"))
    for f in fields:
        assert f.alias is not None
        if f.alias not in value:
            if f.default is attrs.NOTHING:
                problems.append(Problem(f.alias, "is required"))
            continue
        try:
            kwargs[f.alias] = conv.get_structure_hook(f.type)(value[f.alias], f.type)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Problem
            problems.extend(p.prefixed(f.alias) for p in problems_of(exc))
    partial = _Partial(kwargs)
    for f in fields:
        assert f.alias is not None
        if f.alias not in kwargs:
            continue
        try:
            converted = _convert_field(f, kwargs[f.alias], partial)
            setattr(partial, f.alias, converted)
            if f.validator is not None:
                f.validator(partial, f, converted)
        except _DependsOnBadField:
            continue  # the field it depends on is reported already
        except ValidationError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Problem
            problems.append(Problem(f.alias, str(exc)))
    if not problems:
        try:
            cl(**kwargs)
        except Exception as exc:  # noqa: BLE001 - cross-field checks in __attrs_post_init__
            problems.extend(problems_of(exc))
    return problems


class _DependsOnBadField(Exception):
    """A field's check needed another field that failed to structure."""


class _Partial:
    """Stands in for the instance while fields are checked one by one."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise _DependsOnBadField(name)


def _convert_field(f: attrs.Attribute[Any], value: Any, partial: _Partial) -> Any:
    conv: Any = f.converter  # a plain callable or an attrs.Converter
    if conv is None:
        return value
    if isinstance(conv, attrs.Converter):
        # The stubs do not declare Converter's attributes; they exist at run time.
        wrapped: Any = conv
        args: list[Any] = [value]
        if wrapped.takes_self:
            args.append(partial)
        if wrapped.takes_field:
            args.append(f)
        return wrapped.converter(*args)
    return conv(value)


# --------------------------------------------------------------------------------------
# Errors: cattrs' exception groups flattened to (path, message) problems, in one place.


def problems_of(exc: BaseException) -> list[Problem]:
    """
    Flatten whatever a structure hook raised into problems with paths: cattrs'
    exception groups (with their attribute and index notes), our ValidationErrors,
    unknown keys, missing keys and plain exceptions.
    """
    if isinstance(exc, ValidationError):
        return list(exc.problems)
    if isinstance(exc, ForbiddenExtraKeysError):
        return [Problem(str(key), "unknown field") for key in sorted(exc.extra_fields, key=str)]
    if isinstance(exc, BaseExceptionGroup):
        out: list[Problem] = []
        for sub in exc.exceptions:
            prefix = ""
            for note in getattr(sub, "__notes__", ()):
                name = getattr(note, "name", None)
                index = getattr(note, "index", None)
                if name is not None:
                    prefix = str(name)
                    break
                if index is not None:
                    prefix = f"[{index}]"
                    break
            inner = problems_of(sub)
            if isinstance(sub, KeyError):
                inner = [Problem("", "is required")]
            out.extend(p.prefixed(prefix) for p in inner)
        return out
    if isinstance(exc, KeyError):
        return [Problem("", "is required")]
    return [Problem("", str(exc) or type(exc).__name__)]


# --------------------------------------------------------------------------------------
# Convenience functions on a default converter.


@functools.cache
def _default_converter(default_region: str | None) -> cattrs.Converter:
    return make_converter(default_region=default_region)


def structure(
    data: object,
    cls: type[T],
    *,
    converter: cattrs.Converter | None = None,
    default_region: str | None = None,
) -> T:
    """
    Build a model of class ``cls`` from JSON-ready data.

    >>> from civiccrm.models import Citizen
    >>> structure({"given_name": 7, "contact_points": [{"kind": "fax", "value": "x"}]}, Citizen)
    Traceback (most recent call last):
    ...
    civiccrm.errors.ValidationError: invalid Citizen: 2 problems
      - contact_points[0].kind: 'fax' is not one of 'email', 'phone', 'postal'
      - given_name: expected a string, got an integer

    Args:
        data: a dict as :func:`unstructure` makes it (or parsed JSON).
        cls: the model class.
        converter: the converter to use; a default one if omitted.
        default_region: region for phone numbers without a country code (only with the
            default converter).

    Raises:
        ValidationError: listing every problem, each with its path. Nothing else is
            raised for bad data, however malformed.

    .. versionadded:: 0.1.0
    """
    conv = converter or _default_converter(default_region)
    try:
        return conv.structure(data, cls)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a ValidationError
        problems = sorted(problems_of(exc), key=lambda p: p.path)
        raise ValidationError(
            problems or [Problem("", "invalid")], record_type=cls.__name__
        ) from None


def unstructure(obj: Any, *, converter: cattrs.Converter | None = None) -> Any:
    """
    Turn a model into JSON-ready data (dicts, lists, strings, numbers, booleans, None).

    .. versionadded:: 0.1.0
    """
    return (converter or _default_converter(None)).unstructure(obj)


def to_json(obj: Any, *, converter: cattrs.Converter | None = None) -> str:
    """
    Serialize a model to a JSON string (UTF-8 text, non-ASCII kept as is).

    .. versionadded:: 0.1.0
    """
    return json.dumps(unstructure(obj, converter=converter), ensure_ascii=False, allow_nan=False)


def from_json(
    text: str | bytes,
    cls: type[T],
    *,
    converter: cattrs.Converter | None = None,
    default_region: str | None = None,
) -> T:
    """
    Parse a JSON document into a model of class ``cls``.

    Raises:
        ValidationError: the text is not JSON, or the data does not fit ``cls``.

    .. versionadded:: 0.1.0
    """
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValidationError(f"not valid JSON: {exc}", record_type=cls.__name__) from None
    return structure(data, cls, converter=converter, default_region=default_region)
