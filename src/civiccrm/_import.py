"""
The facade's file import service: ``crm.imports`` (streaming CSV and JSON Lines).

A file is read a line at a time and a batch of records at a time (constant memory),
each row turned into a case, citizen or organization by a *mapping* (a TOML file:
which column feeds which field, value maps, date formats, the time zone of naive
times), and the good rows upserted by their external id through the facade's
``bulk_import`` (idempotent: importing a file twice changes nothing). A bad row does
not stop the import: it is written to a reject file (CSV: line, column, field, reason)
while the good rows go in.

After each batch commits, a sidecar checkpoint file records how far the import got
(the byte offset and line number after the batch, and the reject file's length); it is
replaced atomically. An import that stopped (a crash, ``kill -9``) and is run again
resumes from there: the reject file is cut back to its checkpointed length, so no
reject is written twice, and a batch that committed without its checkpoint is simply
upserted again (unchanged).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import csv
import enum
import hashlib
import json
import os
import re
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import orjson

from civiccrm._export import neutralise
from civiccrm._records import KINDS
from civiccrm.errors import Problem, StorageError, ValidationError
from civiccrm.models import (
    AttributeDatatype,
    Case,
    CaseStatus,
    Channel,
    Citizen,
    ContactPoint,
    Location,
    Organization,
    OrganizationKind,
    PartyRef,
    PartyType,
    PostalAddress,
    Priority,
)

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = [
    "KINDS_OF_RECORD",
    "ImportMapping",
    "ImportResult",
    "ImportService",
    "load_mapping",
]

#: The kinds of record a mapping may import.
KINDS_OF_RECORD: Final = ("case", "citizen", "organization")

Format = Literal["csv", "jsonl"]
_FORMATS: Final = ("csv", "jsonl")

#: The reject file's header.
REJECT_HEADER: Final = ("line", "column", "field", "reason")

#: How an erased party's record (a tombstone) begins.
_TOMBSTONE: Final = '{"_erased"'

#: Requester look-ups remembered before the cache is emptied (constant memory).
_REQUESTER_CACHE: Final = 50_000

#: The checkpoint file's format version.
_CHECKPOINT_VERSION: Final = 1

_TIME_DIRECTIVES: Final = re.compile(r"%[HIMSfpTRXcz]")


class _Bad(ValueError):
    """A cell that cannot be read: the reason, without the field's name."""


# --------------------------------------------------------------------------------------
# Reading one value


def _text(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _Bad(f"expected text, got {_shown(raw)}")
    return str(raw)


def _shown(raw: object) -> str:
    if isinstance(raw, str):
        return repr(raw)
    return orjson.dumps(raw).decode("utf-8") if _jsonable(raw) else repr(raw)


def _jsonable(raw: object) -> bool:
    return raw is None or isinstance(raw, str | int | float | bool | list | dict)


def _enum_reader(cls: type[enum.Enum], what: str) -> Callable[[object], object]:
    members = {str(m.value).lower(): m for m in cls}
    choices = ", ".join(str(m.value) for m in cls)

    def read(raw: object) -> object:
        if isinstance(raw, cls):
            return raw
        found = members.get(_text(raw).lower())
        if found is None:
            raise _Bad(f"{_shown(raw)} is not {what} (choose from: {choices})")
        return found

    return read


def _int(raw: object) -> object:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    try:
        return int(_text(raw))
    except ValueError:
        raise _Bad(f"{_shown(raw)} is not a whole number") from None


def _float(raw: object) -> object:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    try:
        value = float(_text(raw))
    except ValueError:
        raise _Bad(f"{_shown(raw)} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _Bad(f"{_shown(raw)} is not a finite number")
    return value


_TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})


def _bool(raw: object) -> object:
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Bad(f"{_shown(raw)} is not true or false (yes/no, 1/0)")


_FAST_DIRECTIVES: Final = {
    "Y": r"(\d{4})",
    "m": r"(\d{1,2})",
    "d": r"(\d{1,2})",
    "H": r"(\d{1,2})",
    "M": r"(\d{1,2})",
    "S": r"(\d{1,2})",
}
_FAST_ORDER: Final = "YmdHMS"


def _fast_parser(fmt: str) -> Callable[[str], datetime] | None:
    """
    A parser for a format made only of %Y %m %d %H %M %S and literal text, about ten
    times faster than ``strptime``; None for any other format. Text it does not match
    is left to ``strptime``, so what is accepted is what ``strptime`` accepts.
    """
    pattern: list[str] = []
    order: list[int] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            d = fmt[i + 1 : i + 2]
            if d not in _FAST_DIRECTIVES or _FAST_ORDER.index(d) in order:
                return None
            pattern.append(_FAST_DIRECTIVES[d])
            order.append(_FAST_ORDER.index(d))
            i += 2
        else:
            if ch.isdigit():
                return None
            pattern.append(r"\s+" if ch.isspace() else re.escape(ch))
            i += 1
    if not {0, 1, 2} <= set(order):
        return None
    match = re.compile("".join(pattern)).fullmatch

    def parse(text: str) -> datetime:
        found = match(text)
        if found is None:
            return datetime.strptime(text, fmt)
        parts = [1, 1, 1, 0, 0, 0]
        for slot, value in zip(order, found.groups(), strict=True):
            parts[slot] = int(value)
        return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])

    return parse


def _time_reader(fmt: str | None, zone: tzinfo) -> Callable[[object], object]:
    what = "a time" if fmt is None or _TIME_DIRECTIVES.search(fmt) else "a date"
    fast = None if fmt is None else _fast_parser(fmt)

    def read(raw: object) -> object:
        if isinstance(raw, datetime):
            value = raw
        else:
            text = _text(raw)
            try:
                if fmt is None:
                    value = datetime.fromisoformat(text)
                elif fast is not None:
                    value = fast(text)
                else:
                    value = datetime.strptime(text, fmt)
            except ValueError:
                where = "an ISO 8601 time" if fmt is None else f"{what} in format {fmt}"
                raise _Bad(f"{_shown(raw)} is not {where}") from None
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=zone)
        if value.year in (1, 9999):
            try:
                value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise _Bad(f"{_shown(raw)} cannot be represented in UTC") from None
        return value

    return read


def _date_reader(fmt: str | None) -> Callable[[object], object]:
    def read(raw: object) -> object:
        if isinstance(raw, date) and not isinstance(raw, datetime):
            return raw
        text = _text(raw)
        try:
            if fmt is None:
                return date.fromisoformat(text)
            return datetime.strptime(text, fmt).date()
        except ValueError:
            where = "an ISO 8601 date (2026-03-10)" if fmt is None else f"a date in format {fmt}"
            raise _Bad(f"{_shown(raw)} is not {where}") from None

    return read


def _list_reader(separator: str) -> Callable[[object], object]:
    def read(raw: object) -> object:
        if isinstance(raw, list | tuple):
            return tuple(_text(v).strip() for v in raw if _text(v).strip())
        return tuple(p.strip() for p in _text(raw).split(separator) if p.strip())

    return read


def _code(raw: object) -> object:
    return _text(raw)


# --------------------------------------------------------------------------------------
# The mapping


@attrs.frozen
class _Target:
    """A field a column may feed: how its value is read."""

    #: "text", "code", "enum", "int", "float", "bool", "time", "date", "list",
    #: "attribute", "requester".
    of: str
    enum: type[enum.Enum] | None = None
    what: str = ""


_CASE_TARGETS: Final[Mapping[str, _Target]] = {
    "case_type": _Target("code"),
    "reference": _Target("code"),
    "title": _Target("text"),
    "description": _Target("text"),
    "status": _Target("enum", CaseStatus, "a status"),
    "priority": _Target("enum", Priority, "a priority"),
    "channel": _Target("enum", Channel, "a channel"),
    "queue": _Target("code"),
    "tags": _Target("list"),
    "resolution_code": _Target("code"),
    "satisfaction": _Target("int"),
    "reopen_count": _Target("int"),
    "reported_at": _Target("time"),
    "opened_at": _Target("time"),
    "first_response_at": _Target("time"),
    "resolved_at": _Target("time"),
    "closed_at": _Target("time"),
    "updated_at": _Target("time"),
    "response_due_at": _Target("time"),
    "due_at": _Target("time"),
    "location.address": _Target("text"),
    "location.latitude": _Target("float"),
    "location.longitude": _Target("float"),
    "location.address_id": _Target("code"),
    "requester": _Target("requester"),
}

_PARTY_TARGETS: Final[Mapping[str, _Target]] = {
    "preferred_language": _Target("code"),
    "preferred_channel": _Target("enum", Channel, "a channel"),
    "created_at": _Target("time"),
    "updated_at": _Target("time"),
    "email": _Target("text"),
    "phone": _Target("text"),
    "postal.line1": _Target("text"),
    "postal.line2": _Target("text"),
    "postal.city": _Target("text"),
    "postal.region": _Target("text"),
    "postal.postal_code": _Target("code"),
    "postal.country": _Target("code"),
}

_CITIZEN_TARGETS: Final[Mapping[str, _Target]] = {
    "given_name": _Target("text"),
    "family_name": _Target("text"),
    "preferred_name": _Target("text"),
    "date_of_birth": _Target("date"),
    "accessibility_needs": _Target("list"),
    "vulnerable": _Target("bool"),
    **_PARTY_TARGETS,
}

_ORGANIZATION_TARGETS: Final[Mapping[str, _Target]] = {
    "name": _Target("text"),
    "kind": _Target("enum", OrganizationKind, "a kind of organization"),
    "contact_name": _Target("text"),
    **_PARTY_TARGETS,
}

_TARGETS: Final[Mapping[str, Mapping[str, _Target]]] = {
    "case": _CASE_TARGETS,
    "citizen": _CITIZEN_TARGETS,
    "organization": _ORGANIZATION_TARGETS,
}

#: Fields every mapping of a kind must feed. A time of creation makes importing again
#: change nothing: without one, every import would be a change.
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "case": ("case_type", "opened_at"),
    "citizen": ("created_at",),
    "organization": ("name", "created_at"),
}

_TOP_KEYS: Final = (
    "kind",
    "format",
    "time_zone",
    "date_format",
    "time_format",
    "delimiter",
    "encoding",
    "route",
    "external_id",
    "fields",
)
_FIELD_KEYS: Final = (
    "column",
    "value",
    "values",
    "default",
    "format",
    "time_zone",
    "split",
    "source",
    "kind",
)


@attrs.frozen
class FieldSpec:
    """
    One field of the records imported, and where its value comes from.

    .. versionadded:: 0.1.0
    """

    #: The field fed (``title``, ``location.address``, ``attributes.size``, ``email``).
    field: str
    #: The column (CSV) or key (JSON Lines; dots reach into nested objects) it is read
    #: from, or None for a constant.
    column: str | None
    #: Legacy values and what they stand for (read before the value is checked).
    values: Mapping[str, object] = attrs.field(factory=dict)
    #: The value when the cell is empty or missing (read like a cell), or a constant.
    default: object = None
    #: Reads one (mapped) cell; raises ValueError with the reason.
    read: Callable[[object], object] = attrs.field(default=_code, repr=False)
    #: The type of the field: see the module's targets.
    type: str = "text"
    #: For ``requester``: the external-id source and party kind looked up.
    source: str | None = None
    party_kind: str = "citizen"
    #: The column's path in a JSON object.
    path: tuple[str, ...] = ()


@attrs.frozen
class ImportMapping:
    """
    A checked mapping: how the rows of a file become records.

    Made by :func:`load_mapping` from a TOML file (see docs/import.md).

    .. versionadded:: 0.1.0
    """

    kind: str
    external_source: str
    external_column: str
    fields: tuple[FieldSpec, ...]
    time_zone: str
    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    route: bool = False
    #: A hash of the mapping's content: a checkpoint belongs to one mapping.
    digest: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns read, the external id's first, each once."""
        named = [self.external_column] + [f.column for f in self.fields if f.column]
        return tuple(dict.fromkeys(named))


def load_mapping(mapping: str | os.PathLike[str] | Mapping[str, Any], *, crm: CRM) -> ImportMapping:
    """
    Read and check an import mapping: a TOML file's path, or its content as a dict.

    Every problem is reported at once, each at its TOML path
    (``fields.opened_at.format``), before anything is read or written.

    Raises:
        ValidationError: the file cannot be read or is not TOML, or the mapping is bad.

    .. versionadded:: 0.1.0
    """
    if isinstance(mapping, Mapping):
        data: Mapping[str, Any] = mapping
        raw = orjson.dumps(mapping, default=str, option=orjson.OPT_SORT_KEYS)
    else:
        path = Path(mapping)
        try:
            raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise ValidationError.at("mapping", f"no mapping file at {path}") from None
        except OSError as exc:
            raise ValidationError.at("mapping", f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValidationError.at("mapping", f"{path} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError.at("mapping", f"{path} is not valid TOML: {exc}") from None
    problems: list[Problem] = []
    result = _check_mapping(data, crm, problems)
    if problems or result is None:
        raise ValidationError(problems or [Problem("", "empty mapping")], record_type="mapping")
    return attrs.evolve(result, digest=hashlib.sha256(raw).hexdigest())


def _str_at(data: Mapping[str, Any], key: str, path: str, problems: list[Problem]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(Problem(path, f"expected a non-empty string, got {value!r}"))
        return None
    return value


def _zone(name: str, path: str, problems: list[Problem]) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(path, f"no time zone {name!r} (use an IANA name such as 'America/Chicago')")
        )
        return None


def _check_mapping(
    data: Mapping[str, Any], crm: CRM, problems: list[Problem]
) -> ImportMapping | None:
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(Problem(key, f"unknown key (choose from: {', '.join(_TOP_KEYS)})"))
    kind = data.get("kind")
    if kind is None:
        problems.append(
            Problem("kind", f"missing: say what the rows are ({', '.join(KINDS_OF_RECORD)})")
        )
    elif kind not in KINDS_OF_RECORD:
        problems.append(
            Problem(
                "kind",
                f"{kind!r} is not a kind of record (choose from: {', '.join(KINDS_OF_RECORD)})",
            )
        )
        kind = None
    fmt = _str_at(data, "format", "format", problems)
    if fmt is not None and fmt not in _FORMATS:
        problems.append(
            Problem("format", f"no format {fmt!r} (choose from: {', '.join(_FORMATS)})")
        )
    zone_name = _str_at(data, "time_zone", "time_zone", problems) or crm.profile.agency.time_zone
    zone = _zone(zone_name, "time_zone", problems) or ZoneInfo("UTC")
    date_format = _str_at(data, "date_format", "date_format", problems)
    time_format = _str_at(data, "time_format", "time_format", problems)
    delimiter = data.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        problems.append(
            Problem("delimiter", f"expected one character such as ',' or ';', got {delimiter!r}")
        )
        delimiter = ","
    encoding = _str_at(data, "encoding", "encoding", problems) or "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        problems.append(
            Problem("encoding", f"no text encoding {encoding!r} (such as 'utf-8' or 'cp1252')")
        )
        encoding = "utf-8"
    route = data.get("route", False)
    if not isinstance(route, bool):
        problems.append(Problem("route", f"expected true or false, got {route!r}"))
        route = False

    external = data.get("external_id")
    source = column = None
    if not isinstance(external, Mapping):
        problems.append(
            Problem(
                "external_id",
                "missing: a table with 'source' (the system the rows come from) and 'column' "
                "(its id): imports upsert by it",
            )
        )
    else:
        for key in external:
            if key not in ("source", "column"):
                problems.append(
                    Problem(f"external_id.{key}", "unknown key (choose from: source, column)")
                )
        source = _str_at(external, "source", "external_id.source", problems)
        column = _str_at(external, "column", "external_id.column", problems)
        if source is None and "source" not in external:
            problems.append(
                Problem("external_id.source", "missing: the name of the system the rows come from")
            )
        if column is None and "column" not in external:
            problems.append(
                Problem("external_id.column", "missing: the column holding each row's id")
            )
        if source is not None and ":" in source:
            problems.append(Problem("external_id.source", "may not contain ':'"))

    fields_data = data.get("fields")
    specs: list[FieldSpec] = []
    if not isinstance(fields_data, Mapping) or not fields_data:
        problems.append(Problem("fields", "missing: a table of field = column"))
    elif kind is not None:
        targets = _TARGETS[kind]
        for name, given in fields_data.items():
            spec = _check_field(
                kind, targets, str(name), given, crm, zone, date_format, time_format, problems
            )
            if spec is not None:
                specs.append(spec)
        fed = {s.field for s in specs} | {str(n) for n in fields_data}
        if source is not None and f"external_ids.{source}" in fed:
            problems.append(
                Problem(
                    f'fields."external_ids.{source}"',
                    f"the {source!r} id is the one in [external_id]: map it there only",
                )
            )
        for need in _REQUIRED[kind]:
            if need not in fed:
                why = (
                    " (when each record was first made: without it every import would be a change; "
                    'a constant value = "..." will do)'
                    if need in ("created_at", "opened_at")
                    else ""
                )
                problems.append(Problem(f"fields.{need}", f"missing: a {kind} needs it{why}"))
    if problems or kind is None or source is None or column is None:
        return None
    return ImportMapping(
        kind=kind,
        external_source=source,
        external_column=column,
        fields=tuple(specs),
        time_zone=zone_name,
        format=fmt,
        delimiter=delimiter,
        encoding=encoding,
        route=route,
    )


def _check_field(
    kind: str,
    targets: Mapping[str, _Target],
    name: str,
    given: object,
    crm: CRM,
    zone: tzinfo,
    date_format: str | None,
    time_format: str | None,
    problems: list[Problem],
) -> FieldSpec | None:
    path = f"fields.{name!s}" if "." not in name else f'fields."{name}"'
    target = targets.get(name)
    if target is None and kind == "case" and name.startswith("attributes.") and len(name) > 11:
        target = _Target("attribute")
    if target is None and name.startswith("external_ids.") and len(name) > 13:
        target = _Target("code")
    if target is None:
        extra = ", attributes.<code>" if kind == "case" else ""
        problems.append(
            Problem(
                path,
                f"no field {name!r} of a {kind} (choose from: {', '.join(targets)}{extra}, "
                "external_ids.<source>)",
            )
        )
        return None
    if isinstance(given, str):
        spec_data: Mapping[str, Any] = {"column": given}
    elif isinstance(given, Mapping):
        spec_data = given
    else:
        problems.append(Problem(path, f"expected a column's name or a table, got {given!r}"))
        return None
    before = len(problems)
    for key in spec_data:
        if key not in _FIELD_KEYS:
            problems.append(
                Problem(f"{path}.{key}", f"unknown key (choose from: {', '.join(_FIELD_KEYS)})")
            )
    column = _str_at(spec_data, "column", f"{path}.column", problems)
    has_value = "value" in spec_data
    if column is None and not has_value:
        problems.append(Problem(path, 'give a column = "..." to read, or a constant value = ...'))
    if column is not None and has_value:
        problems.append(Problem(path, "give a column or a constant value, not both"))
    fmt = _str_at(spec_data, "format", f"{path}.format", problems)
    if fmt is not None and target.of not in ("time", "date", "attribute"):
        problems.append(
            Problem(f"{path}.format", f"{name} is not a date or time: it takes no format")
        )
    if fmt is not None and "%" not in fmt:
        problems.append(
            Problem(f"{path}.format", f"{fmt!r} has no % directive (such as '%m/%d/%Y')")
        )
    field_zone = zone
    zone_name = _str_at(spec_data, "time_zone", f"{path}.time_zone", problems)
    if zone_name is not None:
        field_zone = _zone(zone_name, f"{path}.time_zone", problems) or zone
    split = spec_data.get("split", ";")
    if not isinstance(split, str) or not split:
        problems.append(
            Problem(f"{path}.split", f"expected a separator such as ';', got {split!r}")
        )
        split = ";"
    source = None
    party_kind = "citizen"
    if target.of == "requester":
        source = _str_at(spec_data, "source", f"{path}.source", problems)
        if source is None and "source" not in spec_data:
            problems.append(
                Problem(
                    f"{path}.source",
                    "missing: the external-id source the requesters were imported with",
                )
            )
        party_kind = spec_data.get("kind", "citizen")
        if party_kind not in ("citizen", "organization"):
            problems.append(
                Problem(f"{path}.kind", f"{party_kind!r} is not citizen or organization")
            )
            party_kind = "citizen"
    else:
        for key in ("source", "kind"):
            if key in spec_data:
                problems.append(Problem(f"{path}.{key}", "only the requester field takes it"))

    read = _reader(
        target,
        fmt
        or (time_format if target.of == "time" else date_format if target.of == "date" else None),
        field_zone,
        split,
    )
    values: dict[str, object] = {}
    raw_values = spec_data.get("values", {})
    if not isinstance(raw_values, Mapping):
        problems.append(
            Problem(
                f"{path}.values",
                f"expected a table of legacy value = our value, got {raw_values!r}",
            )
        )
    else:
        for legacy, ours in raw_values.items():
            try:
                values[str(legacy)] = _check_constant(ours, read, target)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(f"{path}.values.{legacy}", str(exc)))
    default: object = None
    for key in ("value", "default"):
        if key in spec_data:
            try:
                default = _check_constant(spec_data[key], read, target)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(f"{path}.{key}", str(exc)))
    if target.of == "case_type" or name == "case_type":
        known = {ct.code for ct in crm.profile.case_types}
        for value in [default, *values.values()]:
            if isinstance(value, str) and value not in known:
                problems.append(Problem(path, f"no case type {value!r} in the profile"))
    if len(problems) > before:
        return None
    return FieldSpec(
        field=name,
        column=column,
        values=values,
        default=default,
        read=read,
        type=target.of,
        source=source,
        party_kind=party_kind,
        path=tuple(column.split(".")) if column else (),
    )


def _reader(
    target: _Target, fmt: str | None, zone: tzinfo, split: str
) -> Callable[[object], object]:
    t = target.of
    if t == "enum":
        assert target.enum is not None
        return _enum_reader(target.enum, target.what)
    if t == "int":
        return _int
    if t == "float":
        return _float
    if t == "bool":
        return _bool
    if t == "time":
        return _time_reader(fmt, zone)
    if t == "date":
        return _date_reader(fmt)
    if t == "list":
        return _list_reader(split)
    if t == "attribute" and fmt is not None:
        return _time_reader(fmt, zone)
    return _code


def _check_constant(value: object, read: Callable[[object], object], target: _Target) -> object:
    """A constant or mapped value of the mapping, read like a cell."""
    if isinstance(value, Mapping | list) and target.of not in ("list", "attribute"):
        raise _Bad(f"expected a single value, got {value!r}")
    if isinstance(value, datetime | date):
        return value if target.of in ("time", "date") else _text(str(value))
    if target.of == "text" and isinstance(value, str) and not value.strip():
        raise _Bad("may not be blank")
    return read(value)


# --------------------------------------------------------------------------------------
# Reading files


@attrs.frozen
class _RowIn:
    line: int
    #: The byte offset just after the row.
    offset: int
    cells: Mapping[str, object] | None
    #: Why the row cannot be read at all (bad JSON, wrong cell count, bad encoding).
    error: str | None = None
    #: The number of physical lines the row took.
    lines: int = 1


class _Lines:
    """The lines of a binary file as text, counting bytes and lines."""

    def __init__(self, f: IO[bytes], encoding: str, offset: int, line: int) -> None:
        self._f = f
        self._encoding = encoding
        self.offset = offset
        self.line = line
        self.bad: int | None = None

    def reset(self) -> None:
        """Forget a badly encoded line (a new row starts)."""
        self.bad = None

    def __iter__(self) -> Iterator[str]:
        enc = self._encoding
        for raw in self._f:
            self.offset += len(raw)
            self.line += 1
            try:
                yield raw.decode(enc)
            except UnicodeDecodeError:
                if self.bad is None:
                    self.bad = self.line
                yield raw.decode(enc, errors="replace")


def _open_source(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise ValidationError.at("source", f"no file at {path}") from None
    except OSError as exc:
        raise ValidationError.at("source", f"cannot read {path}: {exc.strerror}") from None


def _csv_header(path: Path, mapping: ImportMapping) -> tuple[list[str], int, int]:
    """The header's column names, and the byte offset and line number after it."""
    with _open_source(path) as f:
        lines = _Lines(f, mapping.encoding, 0, 0)
        reader = csv.reader(lines, delimiter=mapping.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError.at(
                "source", f"{path} is empty: a CSV file starts with a header row"
            ) from None
        except csv.Error as exc:
            raise ValidationError.at(
                "source", f"{path}: the header row is not CSV: {exc}"
            ) from None
        if lines.bad is not None:
            raise ValidationError.at(
                "source", f"{path}: the header row is not {mapping.encoding} text"
            )
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        return [h.strip() for h in header], lines.offset, lines.line


def _csv_rows(
    f: IO[bytes], mapping: ImportMapping, header: Sequence[str], offset: int, line: int
) -> Iterator[_RowIn]:
    lines = _Lines(f, mapping.encoding, offset, line)
    reader = csv.reader(lines, delimiter=mapping.delimiter, strict=True)
    width = len(header)
    while True:
        start = lines.line + 1
        lines.reset()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The rest of the broken record is skipped up to the end of its line.
            yield _RowIn(start, lines.offset, None, f"not a CSV row: {exc}")
            reader = csv.reader(lines, delimiter=mapping.delimiter, strict=True)
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if lines.bad is not None:
            yield _RowIn(
                start, lines.offset, None, f"line {lines.bad} is not {mapping.encoding} text"
            )
        elif len(row) != width:
            yield _RowIn(
                start, lines.offset, None, f"{len(row)} cells where the header has {width}"
            )
        else:
            yield _RowIn(
                start,
                lines.offset,
                dict(zip(header, row, strict=True)),
                lines=lines.line - start + 1,
            )


def _jsonl_rows(f: IO[bytes], mapping: ImportMapping, offset: int, line: int) -> Iterator[_RowIn]:
    enc = mapping.encoding.lower().replace("_", "-")
    for raw in f:
        offset += len(raw)
        line += 1
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte order mark
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw) if enc in ("utf-8", "utf8") else json.loads(raw.decode(enc))
        except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
            yield _RowIn(line, offset, None, f"not a JSON object: {str(exc).split(':')[0]}")
            continue
        if not isinstance(data, dict):
            yield _RowIn(line, offset, None, f"not a JSON object but {type(data).__name__}")
            continue
        yield _RowIn(line, offset, data)


def _count_lines(path: Path) -> int:
    n = 0
    last = b"\n"
    with _open_source(path) as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


# --------------------------------------------------------------------------------------
# Rows into records


@attrs.frozen
class _Reject:
    line: int
    column: str
    field: str
    reason: str


class _Builder:
    """Turns a row's cells into a record, or into the reasons it cannot be one."""

    def __init__(self, crm: CRM, mapping: ImportMapping) -> None:
        self._crm = crm
        self._m = mapping
        self._types = {ct.code: ct for ct in crm.profile.case_types}
        self._queues = crm.queues
        self._region = crm.profile.agency.default_region
        self._requesters: dict[tuple[str, str], uuid.UUID | None] = {}
        self._column_of = {s.field: s.column or "" for s in mapping.fields}
        #: Where each field goes: ("", field), or (its group, its name in the group).
        self._slots = {
            s.field: tuple(s.field.split(".", 1))
            if s.field.startswith(("location.", "attributes.", "external_ids."))
            else ("", s.field)
            for s in mapping.fields
        }

    def _cell(self, cells: Mapping[str, object], spec: FieldSpec) -> object:
        if spec.column is None:
            return None
        value = cells.get(spec.column)
        if value is None and len(spec.path) > 1:
            node: object = cells
            for part in spec.path:
                node = node.get(part) if isinstance(node, Mapping) else None
            value = node
        return value

    def build(self, line: int, cells: Mapping[str, object]) -> tuple[Any, str, list[_Reject]]:
        """The record, its import key, and the problems (the record is None if any)."""
        m = self._m
        rejects: list[_Reject] = []
        ext = cells.get(m.external_column)
        ext_text = "" if ext is None or isinstance(ext, bool | dict | list) else str(ext).strip()
        if not ext_text:
            rejects.append(
                _Reject(
                    line,
                    m.external_column,
                    "external_id",
                    f"external_id: empty: every row needs its id in {m.external_column!r}",
                )
            )
        values: dict[str, object] = {}
        for spec in m.fields:
            raw = self._cell(cells, spec)
            if isinstance(raw, str):
                raw = raw.strip()
            if raw is None or raw == "" or raw == []:
                if spec.default is not None:
                    values[spec.field] = spec.default
                continue
            if spec.values:
                key = raw if isinstance(raw, str) else _shown(raw)
                if key in spec.values:
                    values[spec.field] = spec.values[key]
                    continue
            try:
                if spec.type == "requester":
                    values[spec.field] = self._requester(spec, _text(raw))
                else:
                    values[spec.field] = spec.read(raw)
            except ValueError as exc:
                rejects.append(_Reject(line, spec.column or "", spec.field, f"{spec.field}: {exc}"))
        failed = {r.field for r in rejects}
        for need in _REQUIRED[m.kind]:
            if need not in values and need not in failed:
                failed.add(need)
                rejects.append(
                    _Reject(
                        line,
                        self._column_of.get(need, ""),
                        need,
                        f"{need}: empty: a {m.kind} needs one",
                    )
                )
        external = {m.external_source: ext_text}
        record: Any = None
        try:
            if m.kind == "case":
                record = self._case(values, external, line, rejects, failed)
            else:
                record = self._party(values, external, line, rejects)
        except ValidationError as exc:
            for p in exc.problems:
                rejects.append(self._reject(line, p.path, p.message, values))
        except (TypeError, ValueError) as exc:
            rejects.append(_Reject(line, "", "", str(exc)))
        if rejects:
            return None, "", rejects
        return record, f"{m.external_source}:{ext_text}", rejects

    def _reject(self, line: int, path: str, message: str, values: Mapping[str, object]) -> _Reject:
        field = path
        column = self._column_of.get(field, "")
        if not column:
            for name, col in self._column_of.items():
                if path.startswith(name) or (name.startswith(path + ".") and path):
                    field, column = name, col
                    break
        return _Reject(line, column, field, f"{path}: {message}" if path else message)

    def _requester(self, spec: FieldSpec, external_id: str) -> PartyRef:
        assert spec.source is not None
        cache_key = (spec.party_kind, external_id)
        if cache_key in self._requesters:
            found = self._requesters[cache_key]
        else:
            if len(self._requesters) >= _REQUESTER_CACHE:
                self._requesters.clear()
            crm = self._crm
            cls = Citizen if spec.party_kind == "citizen" else Organization
            token = crm._blind_external_id(f"{spec.source}:{external_id}")
            record = crm.storage.get_by_key(KINDS[cls].name, token)
            found = (
                None
                if record is None or record.doc.startswith(_TOMBSTONE)
                else uuid.UUID(record.id)
            )
            self._requesters[cache_key] = found
        if found is None:
            raise _Bad(
                f"no {spec.party_kind} with external id {spec.source}:{external_id} "
                f"(import the {spec.party_kind}s first)"
            )
        return PartyRef(type=PartyType(spec.party_kind), id=found)

    def _case(
        self,
        values: dict[str, object],
        external: dict[str, str],
        line: int,
        rejects: list[_Reject],
        failed: set[str],
    ) -> Case | None:
        kw: dict[str, Any] = {}
        location: dict[str, object] = {}
        answers: dict[str, object] = {}
        slots = self._slots
        for name, value in values.items():
            slot, sub = slots[name]
            if slot == "":
                kw[name] = value
            elif slot == "location":
                location[sub] = value
            elif slot == "attributes":
                answers[sub] = value
            else:
                external[sub] = str(value)
        code = kw.get("case_type")
        ctype = self._types.get(str(code))
        col = self._column_of
        if ctype is None and "case_type" not in failed:
            rejects.append(
                _Reject(
                    line,
                    col.get("case_type", ""),
                    "case_type",
                    f"case_type: no case type {code!r} in the profile",
                )
            )
        queue = kw.get("queue")
        if queue is not None and queue not in self._queues:
            rejects.append(
                _Reject(
                    line, col.get("queue", ""), "queue", f"queue: no queue {queue!r} in the profile"
                )
            )
        if ctype is not None and answers:
            by_code = {a.code: a for a in ctype.attributes}
            checked: dict[str, Any] = {}
            for code_, value in answers.items():
                field = f"attributes.{code_}"
                attribute = by_code.get(code_)
                if attribute is None:
                    rejects.append(
                        _Reject(
                            line,
                            col.get(field, ""),
                            field,
                            f"{field}: not an attribute of case type {ctype.code!r}",
                        )
                    )
                    continue
                if not attribute.variable:
                    rejects.append(
                        _Reject(
                            line,
                            col.get(field, ""),
                            field,
                            f"{field}: is informational and takes no value",
                        )
                    )
                    continue
                if attribute.datatype is AttributeDatatype.MULTIVALUELIST and isinstance(
                    value, str
                ):
                    value = [v.strip() for v in value.split(";") if v.strip()]
                if isinstance(value, datetime):
                    value = value.isoformat()
                try:
                    checked[code_] = attribute.check(value)
                except ValueError as exc:
                    rejects.append(_Reject(line, col.get(field, ""), field, f"{field}: {exc}"))
            kw["attributes"] = checked
        if rejects:
            return None
        if location:
            try:
                kw["location"] = Location(**cast(dict[str, Any], location))
            except ValidationError as exc:
                for p in exc.problems:
                    rejects.append(
                        self._reject(
                            line, f"location.{p.path}" if p.path else "location", p.message, values
                        )
                    )
                return None
        return Case(external_ids=external, **kw)

    def _party(
        self, values: dict[str, object], external: dict[str, str], line: int, rejects: list[_Reject]
    ) -> Citizen | Organization | None:
        kw: dict[str, Any] = {}
        postal: dict[str, object] = {}
        points: list[ContactPoint] = []
        col = self._column_of
        for name, value in values.items():
            if name.startswith("postal."):
                postal[name[7:]] = value
            elif name.startswith("external_ids."):
                external[name[13:]] = str(value)
            elif name == "email":
                try:
                    points.append(ContactPoint.email(str(value)))
                except ValidationError as exc:
                    rejects.append(
                        _Reject(line, col.get(name, ""), name, f"email: {exc.problems[0].message}")
                    )
            elif name == "phone":
                try:
                    points.append(ContactPoint.phone(str(value), region=self._region))
                except ValidationError as exc:
                    rejects.append(
                        _Reject(line, col.get(name, ""), name, f"phone: {exc.problems[0].message}")
                    )
            else:
                kw[name] = value
        if postal.keys() & {"line1", "line2", "city", "postal_code"}:
            # A postal address needs more than a constant country.
            lines = [str(postal.pop(k)) for k in ("line1", "line2") if k in postal]
            try:
                points.append(
                    ContactPoint.postal(PostalAddress(lines=lines, **cast(dict[str, Any], postal)))
                )
            except ValidationError as exc:
                for p in exc.problems:
                    field = {"lines": "postal.line1"}.get(p.path, f"postal.{p.path}")
                    rejects.append(
                        _Reject(line, col.get(field, ""), field, f"{field}: {p.message}")
                    )
        if rejects:
            return None
        cls = Citizen if self._m.kind == "citizen" else Organization
        return cls(external_ids=external, contact_points=points, **kw)


# --------------------------------------------------------------------------------------
# The service


@attrs.frozen
class ImportResult:
    """
    What an import did.

    Attributes:
        kind: ``"case"``, ``"citizen"`` or ``"organization"``.
        path: the file read.
        format: ``"csv"`` or ``"jsonl"``.
        rows: the rows read (this run and, when resumed, the runs before).
        imported: the good rows sent to the database (or that would be, in a dry run).
        inserted: records new to the database.
        updated: records that were there and changed.
        unchanged: records that were there as they are.
        rejected: the rows rejected (each with one or more lines in the reject file).
        problems: the lines of the reject file.
        rejects_path: the reject file, or None when no row was rejected.
        checkpoint_path: the checkpoint file (removed when the import is complete).
        resumed_from_line: the line a resumed import went on from, or None.
        dry_run: nothing was written but the reject file.
        seconds: how long this run took.

    .. versionadded:: 0.1.0
    """

    kind: str
    path: Path
    format: str
    rows: int
    imported: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    problems: int
    rejects_path: Path | None
    checkpoint_path: Path | None
    resumed_from_line: int | None
    dry_run: bool
    seconds: float


@attrs.define
class _State:
    offset: int
    line: int
    rejects_size: int
    rows: int = 0
    imported: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: int = 0


class ImportService:
    """
    Streaming imports of CSV and JSON Lines files through a mapping: ``crm.imports``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def mapping(self, mapping: str | os.PathLike[str] | Mapping[str, Any]) -> ImportMapping:
        """Read and check a mapping (a TOML file's path, or its content as a dict)."""
        return load_mapping(mapping, crm=self._crm)

    def file(
        self,
        source: str | os.PathLike[str],
        mapping: str | os.PathLike[str] | Mapping[str, Any] | ImportMapping,
        *,
        format: Format | None = None,
        rejects: str | os.PathLike[str] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        dry_run: bool = False,
        restart: bool = False,
        batch_size: int = 5_000,
        progress: Callable[[int, int], object] | None = None,
    ) -> ImportResult:
        """
        Import the records of a CSV or JSON Lines file through ``mapping``, streaming.

        Good rows are upserted by their external id a batch at a time (each batch one
        transaction, audited as an ``import`` write); bad rows go to the reject file
        with their line, column, field and reason. After each batch a checkpoint is
        written; if one is there when the import starts (a run that stopped), the
        import goes on from it.

        Args:
            source: the file to read.
            mapping: a mapping TOML file's path, its content as a dict, or a checked
                :class:`ImportMapping`.
            format: ``"csv"`` or ``"jsonl"`` (default: the mapping's, else from the
                file's extension: ``.jsonl``/``.ndjson`` are JSON Lines).
            rejects: the reject file (default ``<source>.rejects.csv``); removed at the
                end when no row was rejected.
            checkpoint: the checkpoint file (default ``<source>.checkpoint``).
            dry_run: check every row and write the reject file, but nothing else (no
                record, no audit entry, no checkpoint).
            restart: ignore a checkpoint left by a run that stopped, and start over.
            batch_size: rows to a transaction (larger is faster, smaller loses less to
                a crash).
            progress: called when reading starts and after each batch with the rows
                read so far (a resumed import starts where it stopped) and the rows the
                file is thought to hold.

        Raises:
            ValidationError: a bad mapping (each problem at its TOML path), a missing
                file or column, a checkpoint of another file or mapping; before
                anything is written.
            AccessDeniedError: the role may not make ``import`` writes.
            StorageError: the reject or checkpoint file cannot be written.
        """
        started = time.perf_counter()
        crm = self._crm
        crm._may("import")
        m = mapping if isinstance(mapping, ImportMapping) else load_mapping(mapping, crm=crm)
        path = Path(source)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError.at(
                "batch_size", f"expected a whole number >= 1, got {batch_size!r}"
            )
        fmt = (
            format
            or m.format
            or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")
        )
        if fmt not in _FORMATS:
            raise ValidationError.at(
                "format", f"no format {fmt!r} (choose from: {', '.join(_FORMATS)})"
            )
        _open_source(path).close()
        reject_path = (
            Path(rejects) if rejects is not None else path.with_name(path.name + ".rejects.csv")
        )
        checkpoint_path = (
            Path(checkpoint)
            if checkpoint is not None
            else path.with_name(path.name + ".checkpoint")
        )
        header: list[str] = []
        offset, line = 0, 0
        if fmt == "csv":
            header, offset, line = _csv_header(path, m)
            missing = [c for c in m.columns if c not in header]
            if missing:
                shown = ", ".join(repr(h) for h in header)
                raise ValidationError(
                    [
                        Problem(
                            _column_path(m, c),
                            f"no column {c!r} in {path.name} (its columns: {shown})",
                        )
                        for c in missing
                    ],
                    record_type="mapping",
                )
        fingerprint = _fingerprint(path, m, fmt)
        state = _State(offset=offset, line=line, rejects_size=0)
        resumed: int | None = None
        if dry_run:
            if checkpoint_path.exists():
                # Its reject file would be overwritten: the stopped import could not go on.
                raise ValidationError.at(
                    "dry_run",
                    f"an import of {path.name} stopped and left {checkpoint_path}: finish it "
                    "(run it again without a dry run) or start over (restart) first",
                )
        elif restart:
            with contextlib.suppress(FileNotFoundError):
                checkpoint_path.unlink()
        else:
            saved = _read_checkpoint(checkpoint_path, fingerprint, path)
            if saved is not None:
                state = saved
                resumed = state.line + 1
        total = max(_count_lines(path) - (1 if fmt == "csv" else 0), state.rows)
        builder = _Builder(crm, m)
        if progress is not None:
            progress(state.rows, max(total, state.rows))
        writer = _Rejects(reject_path, resume_at=state.rejects_size if resumed else None)
        try:
            with _open_source(path) as f:
                f.seek(state.offset)
                rows = (
                    _csv_rows(f, m, header, state.offset, state.line)
                    if fmt == "csv"
                    else _jsonl_rows(f, m, state.offset, state.line)
                )
                batch: dict[str, Any] = {}
                last: _RowIn | None = None
                for row in rows:
                    last = row
                    state.rows += 1
                    if row.cells is None:
                        problems = [_Reject(row.line, "", "", row.error or "unreadable")]
                        record = None
                    else:
                        record, key, problems = builder.build(row.line, row.cells)
                    if problems:
                        state.rejected += 1
                        state.problems += len(problems)
                        writer.write(problems)
                    else:
                        batch.pop(key, None)  # a later row with the same id wins
                        batch[key] = record
                    if len(batch) >= batch_size:
                        self._commit(
                            m, batch, state, row, writer, checkpoint_path, fingerprint, dry_run
                        )
                        batch = {}
                        if progress is not None:
                            progress(state.rows, max(total, state.rows))
                if last is not None:
                    self._commit(
                        m, batch, state, last, writer, checkpoint_path, fingerprint, dry_run
                    )
                if progress is not None:
                    progress(state.rows, state.rows)
            writer.close()
        except BaseException:
            writer.close()
            raise
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                checkpoint_path.unlink()
        kept = writer.finish(state.problems)
        return ImportResult(
            kind=m.kind,
            path=path,
            format=fmt,
            rows=state.rows,
            imported=state.imported,
            inserted=state.inserted,
            updated=state.updated,
            unchanged=state.unchanged,
            rejected=state.rejected,
            problems=state.problems,
            rejects_path=reject_path if kept else None,
            checkpoint_path=None if dry_run else checkpoint_path,
            resumed_from_line=resumed,
            dry_run=dry_run,
            seconds=time.perf_counter() - started,
        )

    def _commit(
        self,
        m: ImportMapping,
        batch: dict[str, Any],
        state: _State,
        row: _RowIn,
        writer: _Rejects,
        checkpoint_path: Path,
        fingerprint: str,
        dry_run: bool,
    ) -> None:
        """Store a batch, then record how far the import got."""
        crm = self._crm
        state.imported += len(batch)
        if batch and not dry_run:
            records = list(batch.values())
            size = len(records) + 1
            if m.kind == "case":
                result = crm.cases.bulk_import(records, batch_size=size, route=m.route)
            elif m.kind == "citizen":
                result = crm.citizens.bulk_import(records, batch_size=size)
            else:
                result = crm.organizations.bulk_import(records, batch_size=size)
            state.inserted += result.inserted
            state.updated += result.updated
            state.unchanged += result.unchanged
        state.offset = row.offset
        state.line = row.line + row.lines - 1
        state.rejects_size = writer.sync()
        if not dry_run:
            _write_checkpoint(checkpoint_path, fingerprint, state)


def _column_path(m: ImportMapping, column: str) -> str:
    if column == m.external_column:
        return "external_id.column"
    for spec in m.fields:
        if spec.column == column:
            return (
                f"fields.{spec.field}.column"
                if "." not in spec.field
                else f'fields."{spec.field}".column'
            )
    return "fields"


# --------------------------------------------------------------------------------------
# Rejects and checkpoints


class _Rejects:
    """The reject file: opened on the first reject (or kept from a resumed run)."""

    def __init__(self, path: Path, *, resume_at: int | None) -> None:
        self.path = path
        self._f: IO[str] | None = None
        self._csv: Any = None
        self._size = 0
        if resume_at is not None and resume_at > 0:
            try:
                f = path.open("r+", encoding="utf-8", newline="")
                f.truncate(resume_at)
                f.seek(resume_at)
            except FileNotFoundError:
                raise ValidationError.at(
                    "rejects",
                    f"the reject file {path} of the stopped import is gone: start over with restart",
                ) from None
            self._f = f
            self._csv = csv.writer(f)
            self._size = resume_at
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def write(self, rejects: Sequence[_Reject]) -> None:
        if self._f is None:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as exc:
                raise StorageError(
                    f"cannot write the reject file {self.path}: {exc.strerror}"
                ) from exc
            self._f = os.fdopen(fd, "w", encoding="utf-8", newline="")
            self._csv = csv.writer(self._f)
            self._csv.writerow(REJECT_HEADER)
        self._csv.writerows(
            (r.line, neutralise(r.column), neutralise(r.field), neutralise(r.reason))
            for r in rejects
        )

    def sync(self) -> int:
        """Flush the file to disk; its length."""
        if self._f is None:
            return 0
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._size = self._f.tell()
        except OSError as exc:
            raise StorageError(f"cannot write the reject file {self.path}: {exc.strerror}") from exc
        return self._size

    def close(self) -> None:
        if self._f is not None:
            self._f.close()

    def finish(self, problems: int) -> bool:
        """Whether a reject file is left (it is removed when nothing was rejected)."""
        if problems == 0:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return False
        return True


def _fingerprint(path: Path, m: ImportMapping, fmt: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{m.digest}|{fmt}|".encode())
    with _open_source(path) as f:
        digest.update(f.read(1 << 16))
    return digest.hexdigest()


def _read_checkpoint(path: Path, fingerprint: str, source: Path) -> _State | None:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError):
        raise ValidationError.at(
            "checkpoint", f"{path} is not a checkpoint this import can read: remove it or restart"
        ) from None
    if not isinstance(data, dict) or data.get("version") != _CHECKPOINT_VERSION:
        raise ValidationError.at(
            "checkpoint", f"{path} is not a checkpoint of this version: remove it or restart"
        )
    if data.get("fingerprint") != fingerprint:
        raise ValidationError.at(
            "checkpoint",
            f"{path} was left by an import of another file or mapping: remove it, or "
            "restart to import this one from the start",
        )
    try:
        state = _State(**{k: int(v) for k, v in data["state"].items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValidationError.at("checkpoint", f"{path} is damaged: remove it or restart") from None
    if state.offset > source.stat().st_size:
        raise ValidationError.at(
            "checkpoint", f"{source} is shorter than when {path} was written: restart"
        )
    return state


def _write_checkpoint(path: Path, fingerprint: str, state: _State) -> None:
    data = {
        "version": _CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "state": attrs.asdict(state),
    }
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(data))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from exc
