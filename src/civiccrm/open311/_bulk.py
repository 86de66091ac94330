"""
The GeoReport bulk CSV: service requests as one CSV row each.

The columns are the bulk data specification's core ones, plus the GeoReport v2 request
fields it leaves out, so that a row carries everything a request document does.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from civiccrm.open311._formats import REQUEST_FIELDS, Item

__all__ = ["BULK_FIELDS", "from_bulk_rows", "to_bulk_rows"]

#: The columns of a bulk CSV file, in order.
BULK_FIELDS: Final = (
    "service_request_id",
    "requested_datetime",
    "updated_datetime",
    "closed_date",
    "status_description",
    "status_notes",
    "source",
    "service_name",
    "service_subtype",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
    "expected_datetime",
)


def to_bulk_rows(items: Iterable[Mapping[str, Any]]) -> list[Item]:
    """Request items (with ``extended_attributes`` for the source) as bulk rows."""
    rows: list[Item] = []
    for item in items:
        extended = item.get("extended_attributes") or {}
        closed = item.get("status") == "closed"
        rows.append(
            {
                "service_request_id": item.get("service_request_id"),
                "requested_datetime": item.get("requested_datetime"),
                "updated_datetime": item.get("updated_datetime"),
                "closed_date": item.get("updated_datetime") if closed else None,
                "status_description": item.get("status"),
                "status_notes": item.get("status_notes"),
                "source": extended.get("channel") if isinstance(extended, Mapping) else None,
                "service_name": item.get("service_name"),
                "service_subtype": None,
                "service_code": item.get("service_code"),
                "description": item.get("description"),
                "agency_responsible": item.get("agency_responsible"),
                "service_notice": item.get("service_notice"),
                "address": item.get("address"),
                "address_id": item.get("address_id"),
                "zipcode": item.get("zipcode"),
                "lat": item.get("lat"),
                "long": item.get("long"),
                "media_url": item.get("media_url"),
                "expected_datetime": item.get("expected_datetime"),
            }
        )
    return rows


def from_bulk_rows(rows: Iterable[Mapping[str, Any]]) -> list[Item]:
    """Bulk rows as request items, to import."""
    items: list[Item] = []
    for row in rows:
        # Every request field but status, which the bulk format describes in words.
        item: Item = {name: row.get(name) for name in REQUEST_FIELDS if name != "status"}
        item["status"] = row.get("status_description") or "open"
        if row.get("source"):
            item["extended_attributes"] = {"channel": row.get("source")}
        items.append(item)
    return items
