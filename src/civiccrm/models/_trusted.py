"""
Trusted structuring: fast reads of documents civiccrm wrote and validated itself.

Storage keeps every record as ``json.dumps(converter.unstructure(obj))`` of a model that
passed full validation when it was written. Reading it back through the strict
converter validates everything again, which costs far more than parsing the JSON. The
functions made here build the model straight from the parsed dict instead: UUIDs,
datetimes (in UTC), dates, enums, tuples, dicts and nested models are rebuilt with the
same types and values the strict converter gives, but no attrs validator, converter or
``__attrs_post_init__`` runs and ``__init__`` is not called. The document is trusted.

Trusted is not blind: a missing key, an unknown key, or a value of the wrong shape (an
id that is not a string, a datetime without a time zone, an enum value that does not
exist) raises :class:`KeyError`, :class:`TypeError` or :class:`ValueError`, so that a
document from an older or newer writer, or one damaged in storage, falls back to the
strict converter, which then says exactly what is wrong. Plain ``str``, ``int`` and
``bool`` values are passed through unchecked.

Only documents civiccrm wrote itself belong here. Anything from outside (an API body,
an import file, a document edited by hand) goes through
:func:`~civiccrm.models.structure`.

How it is fast: each class gets a function generated from its fields' types (source
compiled once, readable in tracebacks) that makes the object without ``__init__`` and
sets each field with ``object.__setattr__``. UUIDs are parsed by a faster equivalent of
``uuid.UUID(text)`` and kept in a small cache, as the same ids (agents, parties, a
case's id in its events) come back again and again.
"""

from __future__ import annotations

import copy
import enum
import itertools
import linecache
import threading
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs

from civiccrm.models._case_type import AttributeValue
from civiccrm.models._common import to_utc
from civiccrm.models._event import EventValue

__all__ = ["trusted_structurer"]

T = TypeVar("T")

#: The slot attrs adds for ``cache_hash=True``; ``__init__`` sets it to None.
_HASH_CACHE_FIELD: Final = "_attrs_cached_hash"


def trusted_structurer(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    """
    The function that builds a ``cls`` from a dict that
    ``make_converter().unstructure(obj)`` made of a valid ``obj`` (as it comes back
    from ``json.loads``, or as it was).

    The function is generated once per class and cached. Calling it raises
    :class:`KeyError`, :class:`TypeError` or :class:`ValueError` for a dict that is not
    such a document (a missing or unknown key, a value of the wrong shape); the caller
    then falls back to the strict converter.

    Raises:
        TypeError: ``cls`` is not an attrs class, or one of its fields (or a nested
            model's) has a type this module does not know how to build.
    """
    fn = _CACHE.get(cls)
    if fn is None:
        with _LOCK:
            fn = _CACHE.get(cls)
            if fn is None:
                fn = _CACHE[cls] = _generate(cls)
    return cast("Callable[[Mapping[str, Any]], T]", fn)


_CACHE: dict[type, Callable[[Mapping[str, Any]], Any]] = {}
#: Held while generating; re-entrant, as nested models are generated on the way.
_LOCK: Final = threading.RLock()
#: Classes being generated (on this thread, under the lock): a class that contains
#: itself gets a late-bound call instead of endless recursion.
_BUILDING: set[type] = set()
_COUNTER = itertools.count()


# --------------------------------------------------------------------------------------
# Helpers the generated code calls. Each raises TypeError or ValueError for a value
# of the wrong shape; AttributeError and OverflowError are turned into TypeError and
# ValueError by the generated function itself.


def _uuid_checked(value: str) -> uuid.UUID:
    """``uuid.UUID(value)`` about twice as fast; raises where it would raise, or more."""
    hex_digits = value.replace("-", "")
    try:
        raw = _fromhex(hex_digits)
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None
    # 32 characters that decode to 16 bytes are 32 hex digits and nothing else
    # (fromhex skips whitespace), so the integer is the one UUID(value) computes.
    if len(raw) != 16 or len(hex_digits) != 32:
        raise ValueError(f"{value!r} is not a UUID")
    out = _new(_UUID)
    _set_uuid_int(out, _from_bytes(raw, "big"))
    _set_uuid_safe(out, _SAFE_UNKNOWN)
    return out


_UUID: Final = uuid.UUID
_new: Final = object.__new__
_fromhex: Final = bytes.fromhex
_from_bytes: Final = int.from_bytes
_SAFE_UNKNOWN: Final = uuid.SafeUUID.unknown
_set_uuid_int: Callable[[uuid.UUID, int], None] = uuid.UUID.__dict__["int"].__set__
_set_uuid_safe: Callable[[uuid.UUID, uuid.SafeUUID], None] = uuid.UUID.__dict__["is_safe"].__set__


def _fast_uuid_is_exact() -> bool:
    """Whether :func:`_uuid_checked` builds exactly what ``uuid.UUID(str)`` does here."""
    samples = (
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
    )
    try:
        for text in samples:
            fast, slow = _uuid_checked(text), uuid.UUID(text)
            if (
                type(fast) is not type(slow)
                or fast != slow
                or fast.int != slow.int
                or hash(fast) != hash(slow)
                or str(fast) != str(slow)
                or fast.is_safe is not slow.is_safe
            ):
                return False
    except Exception:  # noqa: BLE001 - any surprise means: use the standard constructor
        return False
    return True


#: Builds a UUID from its string; the standard constructor if the fast one is not exact
#: on this Python.
_uuid: Final[Callable[[str], uuid.UUID]] = _uuid_checked if _fast_uuid_is_exact() else uuid.UUID

#: UUIDs by their text, as the same ids come back again and again (the agents a case
#: is assigned to, a case's id in each of its events, a party in its interactions).
#: UUIDs are immutable, so models may share them. Emptied when full: a bound on memory
#: that keeps the ids in use at the moment.
_UUID_CACHE: Final[dict[str, uuid.UUID]] = {}
_UUID_CACHE_SIZE: Final = 4096


def _uuid_miss(value: str) -> uuid.UUID:
    """A UUID not in the cache yet: built and remembered."""
    out = _uuid(value)
    if len(_UUID_CACHE) >= _UUID_CACHE_SIZE:
        _UUID_CACHE.clear()
    _UUID_CACHE[value] = out
    return out


def _uuid_cached(value: str) -> uuid.UUID:
    out = _UUID_CACHE.get(value)
    return _uuid_miss(value) if out is None else out


def _float(value: object) -> float:
    """A float field's value as the strict converter gives it (ints become floats)."""
    if value.__class__ is int:
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _seq(value: object) -> list[Any] | tuple[Any, ...]:
    """A JSON array (or a tuple, in a dict that did not go through JSON)."""
    if isinstance(value, list | tuple):
        return value
    raise TypeError(f"expected a list, got {type(value).__name__}")


def _tuple(value: object) -> tuple[Any, ...]:
    return tuple(_seq(value))


def _dict(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _attribute_value(value: object) -> AttributeValue:
    """The slow path for a custom attribute value: a list of option keys, or an error."""
    if isinstance(value, list | tuple):
        for item in value:
            if item.__class__ is not str:
                raise TypeError(f"expected a list of strings, got {type(item).__name__}")
        return tuple(value)
    raise TypeError(f"expected text, a number or a list, got {type(value).__name__}")


_EVENT_VALUE_TYPES: Final = frozenset({str, int, float, bool, type(None)})


def _event_value(value: object) -> NoReturn:
    raise TypeError(f"expected text, a number, true/false or null, got {type(value).__name__}")


def _unknown_keys(data: Mapping[str, Any], names: frozenset[str], cls: type) -> ValueError:
    unknown = sorted(repr(k) for k in data if k not in names)
    return ValueError(f"not a stored {cls.__name__}: unknown keys {', '.join(unknown)}")


_BASE_NAMESPACE: Final[dict[str, Any]] = {
    "_new": object.__new__,
    "_osa": object.__setattr__,
    "_uuid_cached": _uuid_cached,
    "_uuid_miss": _uuid_miss,
    "_uuid_get": _UUID_CACHE.get,
    "_fromiso": datetime.fromisoformat,
    "_fromisodate": date.fromisoformat,
    "_UTC": UTC,
    "_to_utc": to_utc,
    "_float": _float,
    "_seq": _seq,
    "_tuple": _tuple,
    "_dict": _dict,
    "_attribute_value": _attribute_value,
    "_event_value": _event_value,
    "_EVENT_VALUE_TYPES": _EVENT_VALUE_TYPES,
    "_unknown_keys": _unknown_keys,
    "_Mapping": Mapping,
}


# --------------------------------------------------------------------------------------
# Code generation


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


class _Generator:
    """Writes the source of one class's structuring function."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.namespace: dict[str, Any] = dict(_BASE_NAMESPACE)
        self._names = 0

    def bind(self, obj: Any, prefix: str) -> str:
        """A new global name in the generated code for ``obj``."""
        name = f"_{prefix}{self._names}"
        self._names += 1
        self.namespace[name] = obj
        return name

    def function(self, tp: Any) -> str | None:
        """
        The name of one callable that converts a value of type ``tp``, if there is
        one (``map`` can use it); None otherwise.
        """
        if tp is uuid.UUID:
            return "_uuid_cached"
        if tp is date:
            return "_fromisodate"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.bind(_enum_table(tp).__getitem__, "e")
        if isinstance(tp, type) and attrs.has(tp):
            return self.bind(_nested(tp), "c")
        return None

    @staticmethod
    def check(tp: Any, var: str) -> tuple[str, str] | None:
        """
        For a type whose values are mostly used as they are: the condition under which
        the value in ``var`` is, and the expression converting (or refusing) it
        otherwise. These mirror the strict converter's hooks.
        """
        if tp is float:
            return f"{var}.__class__ is float", f"_float({var})"
        if tp == AttributeValue:
            # Text and numbers as they are; a list of option keys as a tuple.
            return (
                f"(_c := {var}.__class__) is str or _c is int or _c is float",
                f"_attribute_value({var})",
            )
        if tp == EventValue:
            return f"{var}.__class__ in _EVENT_VALUE_TYPES", f"_event_value({var})"
        return None

    def statements(self, tp: Any, var: str) -> list[str] | None:
        """
        Statements converting the field value in ``var`` in place, for the types a
        loop does faster than an expression; None for the others.
        """
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if not (origin in (dict, Mapping) and len(args) == 2 and args[0] is str):
            return None
        check = self.check(args[1], "_x")
        if check is None:
            return None
        ok, fix = check
        # Replacing the value of a key does not disturb the iteration over items().
        return [
            f"{var} = {var}.copy() if {var}.__class__ is dict else _dict({var})",
            f"if {var}:",
            f"    for _k, _x in {var}.items():",
            f"        if not ({ok}):",
            f"            {var}[_k] = {fix}",
        ]

    def expr(self, tp: Any, var: str, depth: int, where: str) -> str | None:
        """
        Python source converting the value in the local name ``var`` to ``tp``, or
        None when the value is used as it is.
        """
        if tp is str or tp is int or tp is bool:
            return None
        if tp is uuid.UUID:
            # _uuid_cached, inlined: most ids are found in the cache.
            return f"(_u if (_u := _uuid_get({var})) is not None else _uuid_miss({var}))"
        if tp is datetime:
            # fromisoformat gives the UTC singleton for "Z", as to_utc does; any
            # other offset is converted by to_utc itself, and a naive one refused.
            return f"(_t if (_t := _fromiso({var})).tzinfo is _UTC else _to_utc(_t))"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return f"{self.bind(_enum_table(tp), 'e')}[{var}]"
        check = self.check(tp, var)
        if check is not None:
            ok, fix = check
            return f"({var} if {ok} else {fix})"
        function = self.function(tp)
        if function is not None:
            return f"{function}({var})"
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if _is_union(tp) and len(args) == 2 and type(None) in args:
            inner_type = args[0] if args[1] is type(None) else args[1]
            inner = self.expr(inner_type, var, depth, where)
            return None if inner is None else f"(None if {var} is None else {inner})"
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = f"({var} if {var}.__class__ is list else _seq({var}))"
            function = self.function(args[0])
            if function is not None:
                return f"tuple(map({function}, {items}))"
            item = f"_x{depth}"
            inner = self.expr(args[0], item, depth + 1, where)
            if inner is None:
                return f"(tuple({var}) if {var}.__class__ is list else _tuple({var}))"
            return f"tuple([{inner} for {item} in {items}])"
        if origin in (dict, Mapping) and len(args) == 2 and args[0] is str:
            item = f"_x{depth}"
            inner = self.expr(args[1], item, depth + 1, where)
            if inner is None:
                return f"({var}.copy() if {var}.__class__ is dict else _dict({var}))"
            key = f"_k{depth}"
            return f"{{{key}: {inner} for {key}, {item} in {var}.items()}}"
        raise TypeError(f"cannot build a trusted structurer for {where}: unsupported type {tp!r}")


def _enum_table(cl: type[enum.Enum]) -> dict[Any, enum.Enum]:
    """Members by value (and by themselves, as the strict hook also takes members)."""
    table: dict[Any, enum.Enum] = {member.value: member for member in cl}
    for member in cl:
        table.setdefault(member, member)
    return table


def _nested(cls: type) -> Callable[[Mapping[str, Any]], Any]:
    """The structurer of a nested model; late-bound if it is still being generated."""
    if cls in _BUILDING:

        def late(data: Mapping[str, Any]) -> Any:
            return trusted_structurer(cls)(data)

        return late
    return trusted_structurer(cls)


def _default_of(f: attrs.Attribute[Any]) -> Callable[[], Any]:
    """A function giving field ``f``'s default, unstructured (as stored documents hold it)."""
    from civiccrm.models._convert import make_converter

    conv = make_converter()
    default = f.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory: Any = default
        if factory.takes_self:
            raise TypeError(f"cannot build a trusted structurer for {f.name}: self factory")
        return lambda: conv.unstructure(factory.factory())
    value = conv.unstructure(default)
    return lambda: copy.deepcopy(value)


def _caches_hash(cls: type) -> bool:
    """Whether attrs made ``cls`` with ``cache_hash=True``."""
    if any(_HASH_CACHE_FIELD in getattr(k, "__slots__", ()) for k in cls.__mro__):
        return True
    code = getattr(getattr(cls, "__hash__", None), "__code__", None)
    return code is not None and _HASH_CACHE_FIELD in code.co_names


def _generate(cls: type) -> Callable[[Mapping[str, Any]], Any]:
    """Generate the structuring function of ``cls`` (not cached: see :func:`trusted_structurer`)."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        raise TypeError(f"cannot build a trusted structurer for {cls!r}: not an attrs class")
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # any failure to resolve them is a TypeError here
        raise TypeError(f"cannot resolve the field types of {cls.__qualname__}: {exc}") from exc
    gen = _Generator(cls)
    fields = attrs.fields(cls)
    gen.namespace.update(_cls=cls, _names=frozenset(f.name for f in fields))

    def store(name: str, value: str) -> str:
        # A frozen attrs class refuses plain attribute stores; its own __init__ sets
        # fields with object.__setattr__ too.
        return f"_osa(_o, {name!r}, {value})"

    body: list[str] = [
        "if not isinstance(_d, _Mapping):",
        "    raise TypeError(f'expected an object, got {type(_d).__name__}')",
        "_o = _new(_cls)",
    ]
    _BUILDING.add(cls)
    try:
        for f in fields:
            where = f"{cls.__qualname__}.{f.name}"
            if not f.init:
                raise TypeError(
                    f"cannot build a trusted structurer for {where}: init=False fields"
                    " are not supported"
                )
            tp = hints.get(f.name, f.type)
            if tp is None or isinstance(tp, str):
                raise TypeError(f"cannot build a trusted structurer for {where}: no type")
            key = repr(f.name)
            # A field with a default may be missing from a document written before the
            # field existed: it gets the default, as the strict converter gives it.
            read = f"_d[{key}]"
            if f.default is not attrs.NOTHING:
                read = f"(_d[{key}] if {key} in _d else {gen.bind(_default_of(f), 'd')}())"
            in_place = gen.statements(tp, "_v")
            if in_place is not None:
                body += [f"_v = {read}", *in_place, store(f.name, "_v")]
                continue
            value = gen.expr(tp, "_v", 0, where)
            if value is None:
                body.append(store(f.name, read))
            else:
                body += [f"_v = {read}", store(f.name, value)]
    finally:
        _BUILDING.discard(cls)
    if _caches_hash(cls):
        body.append(store(_HASH_CACHE_FIELD, "None"))
    body += ["if not _names.issuperset(_d):", "    raise _unknown_keys(_d, _names, _cls)"]
    body.append("return _o")
    func_name = f"structure_{cls.__name__}"
    lines = [
        f"def {func_name}(_d):",
        "    try:",
        *(f"        {line}" for line in body),
        "    except AttributeError as exc:",
        f"        raise TypeError(f'not a stored {cls.__name__}: {{exc}}') from exc",
        "    except OverflowError as exc:",
        f"        raise ValueError(f'not a stored {cls.__name__}: {{exc}}') from exc",
        "",
    ]
    source = "\n".join(lines)
    filename = f"<civiccrm trusted {cls.__module__}.{cls.__qualname__} {next(_COUNTER)}>"
    exec(compile(source, filename, "exec"), gen.namespace)  # our own source, from field types
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    generated: Any = gen.namespace[func_name]
    generated.__qualname__ = f"trusted_structurer.<{cls.__qualname__}>"
    return cast("Callable[[Mapping[str, Any]], Any]", generated)
