"""
Open311 documents to and from bytes in each format: what the command line and scripts
use to write exports and read imports.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from civiccrm.errors import ValidationError
from civiccrm.open311._bulk import BULK_FIELDS, from_bulk_rows, to_bulk_rows
from civiccrm.open311._formats import (
    SERVICE_FIELDS,
    UPDATE_FIELDS,
    Item,
    from_csv,
    from_json,
    from_xml,
    to_csv,
    to_json,
    to_xml,
)

__all__ = ["FORMATS", "Format", "read_requests", "read_updates", "write_document"]

Format = Literal["xml", "json", "csv"]
FORMATS: Final = ("xml", "json", "csv")


def write_document(kind: str, items: Sequence[Item] | Item, fmt: str) -> bytes:
    """
    A document as bytes: ``kind`` is ``services``, ``service_definition``,
    ``requests``, ``updates``, ``errors`` or ``discovery``; ``fmt`` is ``xml``, ``json``
    or ``csv`` (the bulk CSV for requests; a row per item for services and updates).
    """
    if fmt == "xml":
        return to_xml(kind, items)
    if fmt == "json":
        return to_json(items)
    if fmt == "csv":
        if isinstance(items, Mapping):
            raise ValidationError.at("format", f"a {kind} document has no CSV form")
        if kind == "requests":
            return to_csv(to_bulk_rows(items), BULK_FIELDS).encode("utf-8")
        fields = {"services": SERVICE_FIELDS, "updates": UPDATE_FIELDS}.get(kind)
        if fields is None:
            raise ValidationError.at("format", f"a {kind} document has no CSV form")
        return to_csv(items, fields).encode("utf-8")
    raise ValidationError.at("format", f"no format {fmt!r} (choose from: {', '.join(FORMATS)})")


def _listed(data: Any, what: str) -> list[Item]:
    if isinstance(data, Mapping):
        # Some servers wrap the list: {"service_requests": [...]}.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not isinstance(data, list):
        raise ValidationError.at("json", f"expected a list of {what}, got {type(data).__name__}")
    return data


def read_requests(data: bytes | str, fmt: str) -> list[Item]:
    """Service request items from an XML or JSON requests document, or a bulk CSV."""
    if fmt == "xml":
        found = from_xml(data, "requests")
        assert isinstance(found, list)
        return found
    if fmt == "json":
        return _listed(from_json(data), "requests")
    if fmt == "csv":
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return from_bulk_rows(from_csv(text))
    raise ValidationError.at("format", f"no format {fmt!r} (choose from: {', '.join(FORMATS)})")


def read_updates(data: bytes | str, fmt: str) -> list[Item]:
    """Request update items from an XML or JSON servicerequestupdates document, or CSV."""
    if fmt == "xml":
        found = from_xml(data, "updates")
        assert isinstance(found, list)
        return found
    if fmt == "json":
        return _listed(from_json(data), "updates")
    if fmt == "csv":
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return [dict(row) for row in from_csv(text)]
    raise ValidationError.at("format", f"no format {fmt!r} (choose from: {', '.join(FORMATS)})")
