"""
Open311 GeoReport v2: documents, import and a framework-agnostic handler.

- :class:`Open311`: the documents of a CRM session (service list and definitions from
  the profile's case types, service requests from cases, FixMyStreet's request updates)
  and imports of requests and updates into cases;
- :func:`to_xml`, :func:`to_json`, :func:`write_document`, :func:`read_requests`,
  :func:`read_updates`: the documents as XML, JSON and the bulk CSV, and back;
- :class:`Open311Handler`: the GeoReport v2 endpoints for any web framework, and
  :func:`wsgi_app` to serve them with WSGI.

See ``docs/open311.md``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from civiccrm.open311._bulk import BULK_FIELDS
from civiccrm.open311._files import FORMATS, read_requests, read_updates, write_document
from civiccrm.open311._formats import (
    DISCOVERY_FIELDS,
    ERROR_FIELDS,
    REQUEST_FIELDS,
    SERVICE_ATTRIBUTE_FIELDS,
    SERVICE_DEFINITION_FIELDS,
    SERVICE_FIELDS,
    UPDATE_FIELDS,
    from_json,
    from_xml,
    to_json,
    to_xml,
)
from civiccrm.open311._handler import SPECIFICATION, Open311Handler, Response, wsgi_app
from civiccrm.open311._service import ImportResult, Open311

__all__ = [
    "BULK_FIELDS",
    "DISCOVERY_FIELDS",
    "ERROR_FIELDS",
    "FORMATS",
    "REQUEST_FIELDS",
    "SERVICE_ATTRIBUTE_FIELDS",
    "SERVICE_DEFINITION_FIELDS",
    "SERVICE_FIELDS",
    "SPECIFICATION",
    "UPDATE_FIELDS",
    "ImportResult",
    "Open311",
    "Open311Handler",
    "Response",
    "from_json",
    "from_xml",
    "read_requests",
    "read_updates",
    "to_json",
    "to_xml",
    "wsgi_app",
    "write_document",
]
