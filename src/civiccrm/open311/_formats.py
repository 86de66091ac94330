"""
GeoReport v2 documents as data, and as XML, JSON and the bulk CSV.

A document is a list of items; an item is a dict of field names to values (text,
numbers, booleans, None, nested lists of items, or a nested dict). The same data is
written as XML (a root element holding one element per item), JSON (a list of objects)
or CSV, and read back from them. XML is built with :mod:`xml.etree.ElementTree` (never by
pasting text together) and parsed with :mod:`defusedxml` (no DTDs, no entities).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from civiccrm._export import neutralise as _neutralise
from civiccrm.errors import ValidationError

__all__ = [
    "DISCOVERY_FIELDS",
    "ERROR_FIELDS",
    "REQUEST_FIELDS",
    "SERVICE_ATTRIBUTE_FIELDS",
    "SERVICE_DEFINITION_FIELDS",
    "SERVICE_FIELDS",
    "UPDATE_FIELDS",
    "Item",
    "from_csv",
    "from_json",
    "from_xml",
    "to_csv",
    "to_json",
    "to_xml",
]

Item: TypeAlias = dict[str, Any]

#: GET services: one ``service`` per case type.
SERVICE_FIELDS: Final = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
#: GET services/{code}: a ``service_definition``.
SERVICE_DEFINITION_FIELDS: Final = ("service_code", "attributes")
#: One ``attribute`` of a service definition (``values`` holds ``key`` and ``name``).
SERVICE_ATTRIBUTE_FIELDS: Final = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
)
#: GET requests: one ``request`` per case.
REQUEST_FIELDS: Final = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
#: FixMyStreet's servicerequestupdates: one ``request_update`` per update.
UPDATE_FIELDS: Final = (
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
)
#: An error document: ``code`` (the HTTP status) and ``description``.
ERROR_FIELDS: Final = ("code", "description")
DISCOVERY_FIELDS: Final = ("changeset", "contact", "key_service", "endpoints")

#: Lists inside items, by their element name, with the element name of their members.
_LISTS: Final = {
    "attributes": "attribute",
    "values": "value",
    "notes": "note",
    "endpoints": "endpoint",
    "formats": "format",
}
#: Plain nested objects (an element of named children).
_OBJECTS: Final = frozenset({"extended_attributes"})

#: The root element and item element of each kind of document.
ROOTS: Final = {
    "services": ("services", "service"),
    "service_definition": ("service_definition", None),
    "requests": ("service_requests", "request"),
    "updates": ("service_request_updates", "request_update"),
    "errors": ("errors", "error"),
    "discovery": ("discovery", None),
}

# Characters XML 1.0 cannot hold at all (control characters other than tab, newline
# and carriage return, lone surrogates, U+FFFE/U+FFFF): dropped, never sent.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>\n'

#: A lone surrogate: a code point no UTF-8 text can carry.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
#: How deep a document read from XML may nest (GeoReport v2 needs five levels).
MAX_XML_DEPTH: Final = 32


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (which cannot be written as UTF-8)."""
    return _SURROGATE.search(text) is not None


def _unicode(text: str) -> str:
    """``text`` with any lone surrogate as U+FFFD, so that it can be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def _xml_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, item: Mapping[str, Any]) -> None:
    for name, value in item.items():
        child = ET.SubElement(element, name)
        if name in _LISTS and isinstance(value, list | tuple):
            member = _LISTS[name]
            for entry in value:
                sub = ET.SubElement(child, member)
                if isinstance(entry, Mapping):
                    _fill(sub, entry)
                else:
                    sub.text = _xml_text(entry)
        elif isinstance(value, Mapping):
            _fill(child, value)
        else:
            child.text = _xml_text(value)


def to_xml(kind: str, items: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """
    A document as UTF-8 XML with its declaration: ``kind`` is one of ``services``,
    ``service_definition``, ``requests``, ``updates``, ``errors``, ``discovery``
    (the last two-but-one hold one item: pass a mapping).
    """
    root_name, item_name = ROOTS[kind]
    root = ET.Element(root_name)
    if item_name is None:
        assert isinstance(items, Mapping)
        _fill(root, items)
    else:
        assert not isinstance(items, Mapping)
        for item in items:
            _fill(ET.SubElement(root, item_name), item)
    # A carriage return in text would be read back as a line feed (XML normalises line
    # ends): write it as a character reference. ElementTree puts none in markup.
    text = ET.tostring(root, encoding="unicode")
    return _DECLARATION + text.encode("utf-8").replace(b"\r", b"&#13;")


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, Mapping):
        return {_unicode(str(k)): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def to_json(items: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """A document as UTF-8 JSON: a list of objects (or one object)."""
    return json.dumps(_json_ready(items), ensure_ascii=False, separators=(",", ":")).encode()


#: What follows a cell boundary (the start, or a ``;``) that :func:`neutralise` escapes:
#: any run of ``'`` then a formula prefix (``=``, ``+``, ``-``, ``@``, tab, CR).
_ESCAPED_RUN: Final = re.compile("(^|;)('+)(?=[=+\\-@\t\r])")
#: What :func:`unneutralise` takes one ``'`` off: a boundary, ``'``, any ``'``, a prefix.
_NEUTRALISED: Final = re.compile("(^|;)'('*[=+\\-@\t\r])")


def neutralise(text: str) -> str:
    """
    A CSV cell a spreadsheet shows as text: :func:`civiccrm._export.neutralise` (a
    ``'`` before a leading formula prefix and before one after a ``;``), with one more
    ``'`` before a run of ``'`` already standing there, so that :func:`unneutralise`
    gives the text back exactly.
    """
    return _neutralise(_ESCAPED_RUN.sub("\\1'\\2", text))


def unneutralise(text: str) -> str:
    """The text of a cell :func:`neutralise` wrote (its exact inverse)."""
    return _NEUTRALISED.sub("\\1\\2", text)


def from_csv(text: str) -> list[dict[str, str | None]]:
    """CSV with a header row as dicts; empty cells as None, neutralised cells restored."""
    rows = csv.DictReader(io.StringIO(text, newline=""))
    return [
        {k: (unneutralise(v) if v else None) for k, v in row.items() if isinstance(k, str)}
        for row in rows
    ]


def to_csv(items: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """Items as CSV with a header row; spreadsheet formulas neutralised."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(fields)
    for item in items:
        row: list[str | int | float] = []
        for name in fields:
            value = item.get(name)
            if value is None:
                row.append("")
            elif isinstance(value, bool):
                row.append("true" if value else "false")
            elif isinstance(value, int | float):
                row.append(value)
            else:
                row.append(neutralise(_unicode(str(value))))
        writer.writerow(row)
    return out.getvalue()


def _read_element(element: ET.Element, depth: int) -> Any:
    if depth > MAX_XML_DEPTH:
        raise ValidationError.at("xml", f"nested too deeply (more than {MAX_XML_DEPTH} levels)")
    name = element.tag
    children = list(element)
    if name in _LISTS:
        out: list[Any] = []
        for child in children:
            out.append(_read_element(child, depth + 1) if len(child) else (child.text or None))
        return out
    if children or name in _OBJECTS:
        item: Item = {}
        for child in children:
            item[child.tag] = _read_element(child, depth + 1)
        return item
    return element.text if element.text not in (None, "") else None


def from_xml(data: bytes | str, kind: str) -> list[Item] | Item:
    """
    Parse a document of ``kind`` (see :func:`to_xml`) from untrusted XML: DTDs,
    entities and external references are refused.

    Raises:
        ValidationError: not well-formed XML, forbidden constructs, another root, or
            elements nested more than :data:`MAX_XML_DEPTH` deep.
    """
    root_name, item_name = ROOTS[kind]
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ValidationError.at("xml", f"refused: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise ValidationError.at("xml", f"not well-formed XML: {exc}") from None
    if root.tag != root_name:
        raise ValidationError.at("xml", f"expected a <{root_name}> document, got <{root.tag}>")
    if item_name is None:
        return {child.tag: _read_element(child, 2) for child in root}
    items: list[Item] = []
    for i, child in enumerate(root):
        if child.tag != item_name:
            raise ValidationError.at(f"xml[{i}]", f"expected <{item_name}>, got <{child.tag}>")
        items.append({sub.tag: _read_element(sub, 3) for sub in child})
    return items


# JSON written by hand (and the spec's own examples) has service codes such as 001
# unquoted, which JSON does not allow; they are taken as the text they are.
_BARE_CODE: Final = re.compile(
    r'("(?:service_code|service_request_id|update_id)"\s*:\s*)(-?\d[\d.eE+-]*)'
)


def from_json(data: bytes | str) -> Any:
    """
    Parse JSON with every number kept as the text it was written with where it names
    something (service codes and ids: ``001`` stays ``"001"``), numbers elsewhere as
    numbers.

    Raises:
        ValidationError: not JSON, or a text in it holding a lone surrogate (named by
            its path, ``json[0].description``).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ValidationError.at("json", "not UTF-8 text") from None
    text = _BARE_CODE.sub(lambda m: f'{m.group(1)}"{m.group(2)}"', text)
    try:
        found = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError.at("json", f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ValidationError.at("json", "nested too deeply") from None
    where = _surrogate_at(found, "json")
    if where is not None:
        raise ValidationError.at(where, "holds a lone surrogate (\\ud800-\\udfff), not text")
    return found


def _surrogate_at(value: Any, path: str) -> str | None:
    """The path of a text (or a name) in parsed JSON holding a lone surrogate, if any."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            if has_surrogate(current):
                return where
        elif isinstance(current, dict):
            for key, member in current.items():
                named = f"{where}.{_unicode(key)}"
                if has_surrogate(key):
                    return named
                stack.append((member, named))
        elif isinstance(current, list):
            stack.extend((member, f"{where}[{i}]") for i, member in enumerate(current))
    return None
